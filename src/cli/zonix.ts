/**
 * `zonix`: the host itself. `zonix boot` is what the machine runs at start: import the pools the cache
 * lists, create the default `zones` pool on a sparse file when there is none, and print sysinfo.
 * Later issues grow it into the running service.
 * @module
 */
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { UsageError } from '../common/errors.ts';
import { poolFileDir } from '../platform/paths.ts';
import {
  createPool,
  findImportable,
  importCachedPools,
  importPool,
  isImported,
  listPools,
} from '../storage/index.ts';
import { getopt, last } from './getopt.ts';
import { main as sysinfo } from './sysinfo.ts';

const USAGE = `Usage: zonix <command>

Commands:
  boot [-s SIZE] [-f FILE] [-q]   import the pools, create the 'zones' pool if there is none
                                  (on a sparse FILE, default ${join(poolFileDir(), 'zones.img')}),
                                  then print sysinfo (-q: print nothing)
`;

export interface Io {
  stdout: Writable;
  stderr: Writable;
}

export async function main(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr }) {
  const [cmd, ...args] = argv;
  if (cmd === '-h' || cmd === '--help' || cmd === 'help') {
    io.stdout.write(USAGE);
    return 0;
  }
  if (cmd !== 'boot') throw new UsageError(cmd === undefined ? '' : `unknown command '${cmd}'`, USAGE);
  const p = getopt(args, 's:f:q', USAGE);
  if (p.rest.length) throw new UsageError(`unexpected argument '${p.rest[0]!}'`, USAGE);
  const imported = await importCachedPools();
  for (const name of imported) io.stderr.write(`imported pool ${name}\n`);
  if (!isImported('zones')) {
    if ((await findImportable()).some((c) => c.name === 'zones')) {
      await importPool('zones');
      io.stderr.write('imported pool zones\n');
    } else {
      const file = last(p, 'f') ?? join(poolFileDir(), 'zones.img');
      const size = last(p, 's');
      await createPool('zones', file, { mountpoint: '/zones', ...(size !== undefined ? { size } : {}) });
      io.stderr.write(`created pool zones on ${file}\n`);
    }
  }
  if (p.opts.some(([f]) => f === 'q')) return 0;
  return sysinfo([], {
    listPools,
    out: (s) => void io.stdout.write(s),
    err: (s) => void io.stderr.write(s),
  });
}
