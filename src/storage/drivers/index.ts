/**
 * The storage driver registry. Drivers are chosen by probing the host once: btrfs wherever it works,
 * else plain directories. ZONIX_STORAGE_DRIVER forces one.
 * @module
 */
import { ZonixError } from '../../common/index.ts';
import type { StorageDriver } from '../driver.ts';
import { BtrfsDriver } from './btrfs/index.ts';
import { DirDriver } from './dir/index.ts';

export const storageDrivers: Record<string, () => StorageDriver> = {
  btrfs: () => new BtrfsDriver(),
  dir: () => new DirDriver(),
};

export function createDriver(name: string): StorageDriver {
  const make = storageDrivers[name];
  if (!make)
    throw new ZonixError(
      'EINVAL',
      `unknown storage driver '${name}' (known: ${Object.keys(storageDrivers).join(', ')})`,
    );
  return make();
}

let chosen: Promise<StorageDriver> | undefined;

/** The best driver this host can use (probed once per process). */
export function chooseDriver(): Promise<StorageDriver> {
  chosen ??= (async () => {
    const forced = process.env.ZONIX_STORAGE_DRIVER;
    if (forced) return createDriver(forced);
    for (const name of ['btrfs', 'dir']) {
      const d = createDriver(name);
      if (await d.probe()) return d;
    }
    return createDriver('dir');
  })();
  return chosen;
}
