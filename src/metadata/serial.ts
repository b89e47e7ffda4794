/**
 * The serial-like transport: every zone also sees the metadata protocol on /dev/ttyS1, the second
 * serial port SmartOS's KVM guests use, so that clients that only know that port (Joyent's Linux
 * mdata-client, cloud-init's SmartOS datasource) work unchanged. It is a pty of the zone's own devpts:
 * the server holds the master (and one slave descriptor, so the line never hangs up between
 * clients) and /dev/ttyS1 is a link to the slave. A server that starts again makes a new pty and
 * moves the link.
 * @module
 */
import { closeSync, constants, openSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ReadStream } from 'node:tty';
import { platformRoot, run } from '../platform/index.ts';

export const SERIAL_PATH = '/dev/ttyS1';

export interface Serial {
  /** The master side, as a duplex stream (what the guest writes comes out; what is written goes in). */
  stream: ReadStream;
  close(): void;
}

/** Give the zone whose init is `pid` its /dev/ttyS1; the master side is returned. */
export async function openSerial(pid: number): Promise<Serial> {
  const root = `/proc/${pid}/root`;
  const master = openSync(join(root, 'dev/ptmx'), constants.O_RDWR | constants.O_NOCTTY);
  let hold: number | undefined;
  try {
    // Unlock the pty, learn its number, and make its line raw: ioctls, done by a small helper that
    // gets the master as its stdin (the settings belong to the pty, not to the descriptor).
    const helper = join(platformRoot(), 'dist', 'zonix-pty');
    const { stdout } = await run(helper, [], { stdinFd: master, timeoutMs: 5000 });
    const n = Number(stdout.trim());
    if (!Number.isInteger(n)) throw new Error(`zonix-pty said ${JSON.stringify(stdout)}`);
    hold = openSync(join(root, `dev/pts/${n}`), constants.O_RDWR | constants.O_NOCTTY);
    const link = join(root, SERIAL_PATH);
    const tmp = `${link}.zonix`;
    rmSync(tmp, { force: true });
    symlinkSync(`pts/${n}`, tmp);
    renameSync(tmp, link);
  } catch (err) {
    closeSync(master);
    if (hold !== undefined) closeSync(hold);
    throw err;
  }
  const stream = new ReadStream(master);
  const held = hold;
  return {
    stream,
    close: () => {
      stream.destroy();
      try {
        closeSync(held);
      } catch {
        /* closed */
      }
    },
  };
}
