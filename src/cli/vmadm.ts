/**
 * `vmadm`: SmartOS's VM tool over the VM core. Success messages on stderr, data on stdout; exit 0, 1
 * for errors, 2 for usage; starting a running VM or stopping a stopped one exits 0. Each group of
 * subcommands lives in `vmadm/`.
 * @module
 */
import { UsageError } from '../common/index.ts';
import { processIo, type Io } from './vmadm/io.ts';
import { USAGE } from './vmadm/usage.ts';

export type { Io } from './vmadm/io.ts';

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const [cmd, ...rest] = argv.filter((a) => a !== '-d' && a !== '-v');
  if (cmd === undefined) throw new UsageError('', USAGE);
  if (cmd === '-h' || cmd === '-?' || cmd === 'help') {
    io.stdout.write(USAGE);
    return 0;
  }
  switch (cmd) {
    // Each group is loaded when used, so that the CLI starts fast.
    case 'get':
    case 'json':
      return (await import('./vmadm/get.ts')).get(cmd, rest, io);
    case 'list':
      return (await import('./vmadm/list.ts')).list(rest, io);
    case 'lookup':
      return (await import('./vmadm/list.ts')).lookup(rest, io);
    case 'update':
      return (await import('./vmadm/update.ts')).update(rest, io);
    case 'create-snapshot':
    case 'rollback-snapshot':
    case 'delete-snapshot':
      return (await import('./vmadm/snapshots.ts')).snapshots(cmd, rest, io);
    case 'send':
    case 'receive':
    case 'recv':
      return (await import('./vmadm/transfer.ts')).transfer(cmd, rest, io);
    case 'console':
      return (await import('./vmadm/console.ts')).vmadmConsole(rest, io);
    case 'events':
      return (await import('./vmadm/events.ts')).events(rest, io);
    // One line per command group; each group module owns its commands.
    default: {
      const code = await (await import('./vmadm/lifecycle.ts')).lifecycle(cmd, rest, io);
      if (code !== undefined) return code;
      throw new UsageError(`Invalid command: "${cmd}".`, USAGE);
    }
  }
}
