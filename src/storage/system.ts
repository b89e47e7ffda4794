/**
 * The host's system pool (`zones` unless ZONIX_SYSTEM_POOL says otherwise): the pool that commands
 * use when none is named. Light on purpose: every CLI loads it at start.
 * @module
 */
import { ZonixError } from '../common/errors.ts';
import { systemPoolName } from '../platform/paths.ts';
import { importedPoolNames, openPool } from './pools.ts';
import type { Pool } from './pool.ts';

/** The named pool, else the system pool if imported, else the first imported pool. */
export function systemPool(name?: string): Pool {
  const names = importedPoolNames();
  const sys = systemPoolName();
  const pick = name ?? (names.includes(sys) ? sys : names[0]);
  if (pick === undefined)
    throw new ZonixError('ENOPOOL', 'no pool is imported (run `zonix boot` or `zpool import`)');
  return openPool(pick);
}
