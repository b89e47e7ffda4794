/**
 * `zonix-metadata`: the host's metadata process (see src/metadata/daemon.ts). The VM lifecycle starts
 * it when the first zone boots; it runs in the foreground, logs to stderr, and stops on SIGTERM or
 * `{"op":"stop"}` on its control socket.
 * @module
 */
import { UsageError } from '../common/index.ts';
import { defaultHost } from '../host/index.ts';
import { runMetadataDaemon } from '../metadata/index.ts';

const USAGE = `Usage: zonix-metadata

Serves the metadata protocol (mdata-get, mdata-put, ...) to every zone of this host. Started by the
VM lifecycle when a zone boots and zonixd does not run (zonixd serves it itself while it runs);
there is nothing to configure.
`;

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === '-h' || argv[0] === '--help') {
    process.stderr.write(USAGE);
    return 0;
  }
  if (argv.length) throw new UsageError(`unexpected argument '${argv[0]!}'`, USAGE);
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} zonix-metadata: ${line}\n`);
  const m = await defaultHost().metadataBackend();
  await runMetadataDaemon(m, { ...m, log });
  return 0;
}
