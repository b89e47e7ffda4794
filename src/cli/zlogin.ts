/**
 * `zlogin UUID [COMMAND...]`: run a command, or a login shell, inside a running zone; with a terminal
 * when stdin is one. The command's exit status is zlogin's.
 * @module
 */
import { UsageError } from '../common/index.ts';
import { runInteractive } from '../platform/index.ts';
import { defaultHost } from '../host/index.ts';
import { VmError } from '../vm/index.ts';
import { getopt, has } from './getopt.ts';

const USAGE = 'usage: zlogin [-QCE] [-e cmdchar] [-l user] zonename [command [arg ...]]\n';

export async function main(argv: string[]): Promise<number> {
  const p = getopt(argv, 'l:QEe:SC', USAGE);
  if (has(p, 'C'))
    return (await import('./vmadm/console.ts')).zloginConsole(p, USAGE, {
      stdin: process.stdin,
      stdout: process.stdout,
      stderr: process.stderr,
    });
  const [uuid, ...command] = p.rest;
  if (uuid === undefined) throw new UsageError('', USAGE);
  const host = defaultHost();
  const vm = await host.get(uuid).catch(() => {
    throw new VmError('ENOENT', `zlogin: ${uuid}: No such zone configured`);
  });
  if (vm.state !== 'running')
    throw new VmError(
      'ENOTRUNNING',
      `zlogin: login allowed only to running zones (${uuid} is '${String(vm.zone_state)}').`,
    );
  const tty = process.stdin.isTTY && process.stdout.isTTY;
  const login = host.loginArgv(uuid, command, { tty, env: ['TERM=' + (process.env.TERM ?? 'xterm')] });
  return runInteractive(login.path, login.argv);
}
