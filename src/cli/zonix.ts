/**
 * `zonix`: the host itself. `zonix boot` is what the machine runs at start: import the pools the cache
 * lists, create the default `zones` pool on a sparse file when there is none, start the VMs whose
 * autoboot is set, and print sysinfo. `zonix account|package|network` manage the cloud's accounts,
 * packages and networks (see cloud-admin.ts).
 * @module
 */
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { UsageError } from '../common/index.ts';
import { poolFileDir, systemPoolName } from '../platform/index.ts';
import { defaultHost } from '../host/index.ts';
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
import { accountCommand, CLOUD_USAGE, networkCommand, packageCommand } from './cloud-admin.ts';

const USAGE = `Usage: zonix <command>

Commands:
  boot [-s SIZE] [-f FILE] [-q]   import the pools, create the 'zones' pool if there is none
                                  (on a sparse FILE, default ${join(poolFileDir(), 'zones.img')}),
                                  start the VMs with autoboot set, then print sysinfo
                                  (-q: print nothing)
${CLOUD_USAGE}`;

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
  if (cmd === 'account') return accountCommand(args, io, USAGE);
  if (cmd === 'package') return packageCommand(args, io, USAGE);
  if (cmd === 'network') return networkCommand(args, io, USAGE);
  if (cmd !== 'boot') throw new UsageError(cmd === undefined ? '' : `unknown command '${cmd}'`, USAGE);
  const p = getopt(args, 's:f:q', USAGE);
  if (p.rest.length) throw new UsageError(`unexpected argument '${p.rest[0]!}'`, USAGE);
  const imported = await importCachedPools();
  for (const name of imported) io.stderr.write(`imported pool ${name}\n`);
  const sys = systemPoolName();
  if (!isImported(sys)) {
    if ((await findImportable()).some((c) => c.name === sys)) {
      await importPool(sys);
      io.stderr.write(`imported pool ${sys}\n`);
    } else {
      const file = last(p, 'f') ?? join(poolFileDir(), `${sys}.img`);
      const size = last(p, 's');
      await createPool(sys, file, { mountpoint: `/${sys}`, ...(size !== undefined ? { size } : {}) });
      io.stderr.write(`created pool ${sys} on ${file}\n`);
    }
  }
  // Nic tags' bridges and host networks come back before the zones that use them, which then start.
  await defaultHost().startUp((line) => io.stderr.write(`${line}\n`));
  if (p.opts.some(([f]) => f === 'q')) return 0;
  return sysinfo([], {
    listPools,
    out: (s) => void io.stdout.write(s),
    err: (s) => void io.stderr.write(s),
  });
}
