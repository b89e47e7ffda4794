/**
 * `vmadm console <uuid>` and `zlogin -C`: attach to a running zone's console. `vmadm console` is
 * SmartOS's `zlogin -C -e '\035'` and leaves at Ctrl-] (typed anywhere); `zlogin -C` leaves at `~.`
 * at the start of a line (`-e c` picks another character, `-E` none). The zone keeps running.
 * @module
 */
import { UsageError } from '../../common/index.ts';
import {
  CTRL_RIGHT_BRACKET,
  hasTerminal,
  parseEscapeChar,
  VmError,
  type ConsoleStreams,
  type EscapeSpec,
  type VmRecord,
} from '../../vm/index.ts';
import { has, last, type Parsed } from '../getopt.ts';
import { host, uuidArg, type Io } from './common.ts';

/** Attach, with zlogin's "Connected" and "closed" lines (unless quiet); exit 0 when the user leaves. */
async function session(
  vm: VmRecord,
  opts: { io: Io; escape: EscapeSpec; quiet: boolean; zonename: string },
): Promise<number> {
  const { io, zonename } = opts;
  const uuid = vm.uuid;
  if (!hasTerminal(uuid))
    io.stderr.write(
      `Warning: zone ${zonename} was started without a console terminal; what is typed is lost\n`,
    );
  const streams: ConsoleStreams = { input: io.stdin, output: io.stdout };
  await host().console(vm, {
    ...streams,
    escape: opts.escape,
    onConnected: () => {
      if (!opts.quiet) io.stdout.write(`[Connected to zone '${zonename}' console]\n`);
    },
  });
  if (!opts.quiet) io.stdout.write(`\n[Connection to zone '${zonename}' console closed]\n`);
  return 0;
}

export async function vmadmConsole(args: string[], io: Io): Promise<number> {
  const uuid = uuidArg(args, 'console');
  const vm = await host().get(uuid);
  if (vm.state !== 'running')
    throw new VmError(
      'ENOTRUNNING',
      `cannot connect to console when state is "${String(vm.state)}" must be "running".`,
    );
  return session(vm, {
    io,
    escape: { mode: 'immediate', char: CTRL_RIGHT_BRACKET },
    quiet: false,
    zonename: typeof vm.zonename === 'string' ? vm.zonename : uuid,
  });
}

/** `zlogin -C [-Q] [-E | -e c] zonename`, with zlogin's options already parsed. */
export async function zloginConsole(p: Parsed, usage: string, io: Io): Promise<number> {
  const [uuid, ...command] = p.rest;
  if (has(p, 'l')) throw new UsageError('zlogin: -l may not be specified for console login', usage);
  if (has(p, 'S')) throw new UsageError('zlogin: -S may not be specified for console login', usage);
  if (uuid === undefined) throw new UsageError('', usage);
  if (command.length) throw new UsageError('zlogin: Commands may not be specified for console login.', usage);
  const e = last(p, 'e');
  const char = e === undefined ? 0x7e : parseEscapeChar(e);
  if (char === undefined) throw new UsageError(`zlogin: Bad escape character: ${e}`, usage);
  const vm = await host()
    .get(uuid)
    .catch(() => {
      throw new VmError('ENOENT', `zlogin: ${uuid}: No such zone configured`);
    });
  if (vm.state !== 'running')
    throw new VmError(
      'ENOTRUNNING',
      `zlogin: login allowed only to running zones (${uuid} is '${String(vm.zone_state)}').`,
    );
  return session(vm, {
    io,
    // -E: no escape character (-1 matches no byte); leave by ending the input or stopping the zone.
    escape: { mode: 'line', char: has(p, 'E') ? -1 : char },
    quiet: has(p, 'Q'),
    zonename: typeof vm.zonename === 'string' ? vm.zonename : uuid,
  });
}
