/**
 * `zonixd`: the resident host core. It holds one Host for its whole life and runs the CLIs' commands
 * for zonix-client over a Unix socket (see server.ts), so `vmadm create`, `stop` and `delete` cost
 * their work rather than a Node start each. It runs in the foreground (a service manager keeps it) and
 * stops on SIGTERM or SIGINT once the commands it runs are done. Later issues add the HTTP API and the
 * web console to this process.
 * @module
 */
import { rmSync, writeFileSync } from 'node:fs';
import { PassThrough, type Writable } from 'node:stream';
import { UsageError } from '../common/index.ts';
import { defaultHost } from '../host/index.ts';
import { getopt, last } from './getopt.ts';
import { buildStamp, CliServer, cliSocketPath } from './server.ts';
import { main as vmadm } from './vmadm.ts';

const USAGE = `Usage: zonixd [-s SOCKET]

Runs the resident host core in the foreground: the vmadm command (through zonix-client) runs its
commands here. -s: the socket to listen on (default ${cliSocketPath()}).
`;

export interface Io {
  stderr: Writable;
}

export async function main(argv: string[], io: Io = { stderr: process.stderr }): Promise<number> {
  if (argv[0] === '-h' || argv[0] === '--help') {
    io.stderr.write(USAGE);
    return 0;
  }
  const p = getopt(argv, 's:', USAGE);
  if (p.rest.length) throw new UsageError(`unexpected argument '${p.rest[0]!}'`, USAGE);
  const path = last(p, 's') ?? cliSocketPath();
  const log = (line: string) => io.stderr.write(`${new Date().toISOString()} zonixd: ${line}\n`);
  const server = new CliServer({ tools: { vmadm }, build: buildStamp(import.meta.dirname), log });
  await server.listen(path);
  // Its PID beside the socket, for scripts that stop or restart it (setup.sh).
  const pidFile = `${path}.pid`;
  writeFileSync(pidFile, `${process.pid}\n`);
  log(`listening on ${path}`);
  // The commands' code and the pools' records are loaded before the first client comes.
  const quiet = { write: () => true } as unknown as Writable;
  await vmadm(['list', '-p', '-o', 'uuid'], {
    stdout: quiet,
    stderr: quiet,
    stdin: new PassThrough() as unknown as NodeJS.ReadStream,
    writeAll: () => undefined,
  }).catch(() => undefined);
  // Supervision: host networks' DHCP servers are started again if they die.
  const every = Number(process.env.ZONIX_SUPERVISE_MS) || 10_000;
  const net = defaultHost().net;
  let busy: Promise<void> | undefined;
  const tick = setInterval(() => {
    if (busy) return;
    busy = net
      .supervise()
      .then((names) => names.forEach((n) => log(`network ${n}: dnsmasq was gone, started again`)))
      .catch((err: unknown) => {
        // No pool yet (before `zonix boot`), or a network that cannot start: say so, try again later.
        if (!/no pool is imported/.test(String(err))) log(`supervising networks: ${String(err)}`);
      })
      .finally(() => (busy = undefined));
  }, every);
  tick.unref();
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log(`${sig}: stopping once the commands running are done`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  clearInterval(tick);
  await busy;
  await server.close();
  rmSync(pidFile, { force: true });
  log('stopped');
  return 0;
}
