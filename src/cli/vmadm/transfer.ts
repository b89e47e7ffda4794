/**
 * `vmadm send` (the VM as a stream on stdout) and `vmadm receive`/`recv` (from `-f FILE` or stdin,
 * into the system pool: `zones`, or the pool ZONIX_SYSTEM_POOL names).
 * @module
 */
import { createReadStream, existsSync, fstatSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { UsageError, ZonixError } from '../../common/index.ts';
import { VmError } from '../../vm/index.ts';
import { getopt, last } from '../getopt.ts';
import { host, say, USAGE, uuidArg, type Io } from './common.ts';

const isTty = (s: unknown) => Boolean((s as { isTTY?: boolean }).isTTY);

/** Run send, receive or recv. */
export async function transfer(cmd: string, rest: string[], io: Io): Promise<number> {
  switch (cmd) {
    case 'send': {
      const uuid = uuidArg(rest, cmd);
      if (isTty(io.stdout)) throw new VmError('EINVAL', 'Cannot send VM to a TTY.', { httpStatus: 400 });
      await host().send(uuid, io.stdout);
      say(io, `Successfully sent VM ${uuid}`);
      return 0;
    }
    case 'receive':
    case 'recv': {
      const file = last(getopt(rest, 'f:', USAGE), 'f');
      let input: Readable;
      let opened: Readable | undefined;
      if (file !== undefined && file !== '-') {
        if (!existsSync(file)) throw new ZonixError('ENOENT', `File: ${file} does not exist.`);
        input = opened = createReadStream(file, { highWaterMark: 1 << 20 });
      } else {
        if (isTty(io.stdin)) throw new UsageError('Will not receive from stdin when stdin is a tty.', USAGE);
        // A file on stdin is read in large blocks; pipes and sockets through process.stdin.
        input =
          io.stdin === process.stdin && fstatSync(0).isFile()
            ? (opened = createReadStream('', { fd: 0, highWaterMark: 1 << 20, autoClose: false }))
            : io.stdin;
      }
      try {
        const uuid = await host().receive(input);
        say(io, `Successfully received VM ${uuid}`);
      } finally {
        opened?.destroy();
      }
      return 0;
    }
    default:
      throw new Error(`not a send or receive command: ${cmd}`);
  }
}
