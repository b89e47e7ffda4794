/**
 * `vmadm get`: the VM as JSON, read from the pool's files without loading the VM core (see vm/view.ts).
 * @module
 */
import { readRecord, systemPoolPick } from '../../storage/index.ts';
import { getVm } from '../../vm/index.ts';
import { ZoneStates } from '../../zones/index.ts';
import { writeOut, type Io } from './io.ts';
import { uuidArg } from './usage.ts';

export async function get(cmd: string, rest: string[], io: Io): Promise<number> {
  const uuid = uuidArg(rest, cmd);
  const pool = readRecord(systemPoolPick());
  // A pool named but not imported: the core says so as every command does.
  const vm = pool
    ? getVm(pool, new ZoneStates(), uuid)
    : await (await import('./common.ts')).host().get(uuid);
  writeOut(io, JSON.stringify(vm, null, 2) + '\n');
  return 0;
}
