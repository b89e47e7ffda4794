/**
 * `zonix-metadata`: the host's metadata process (see src/metadata/daemon.ts). The VM lifecycle starts
 * it when the first zone boots; it runs in the foreground, logs to stderr, and stops on SIGTERM or
 * `{"op":"stop"}` on its control socket.
 * @module
 */
import { UsageError } from '../common/index.ts';
import { defaultHost } from '../host/index.ts';
import { runMetadataDaemon } from '../metadata/index.ts';
import { hostUuid } from '../platform/index.ts';
import { importedPoolNames } from '../storage/index.ts';
import { VmError } from '../vm/index.ts';

const USAGE = `Usage: zonix-metadata

Serves the metadata protocol (mdata-get, mdata-put, ...) to every zone of this host. Started by the
VM lifecycle when a zone boots; there is nothing to configure.
`;

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === '-h' || argv[0] === '--help') {
    process.stderr.write(USAGE);
    return 0;
  }
  if (argv.length) throw new UsageError(`unexpected argument '${argv[0]!}'`, USAGE);
  const host = defaultHost();
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} zonix-metadata: ${line}\n`);
  await runMetadataDaemon(
    {
      serverUuid: await hostUuid(),
      update: async (uuid, payload) => {
        // The VM's pool: the system pool's VMs first (most are there), then the others'.
        const pools = [undefined, ...importedPoolNames().filter((n) => n !== host.pool().name)];
        for (const [i, pool] of pools.entries()) {
          try {
            await host.update(uuid, payload, { pool });
            return;
          } catch (err) {
            if (!(err instanceof VmError && err.code === 'ENOENT') || i === pools.length - 1) throw err;
          }
        }
      },
    },
    {
      // Asked afresh each time: a VM runs, or a command (a start) is at work on it.
      isLive: (uuid) => host.core().liveness()(uuid),
      pidOf: (uuid) => host.core().states.stateSync(uuid)?.pid,
      log,
    },
  );
  return 0;
}
