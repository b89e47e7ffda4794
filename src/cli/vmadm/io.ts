/**
 * The stdio a vmadm command works with: the process's own (each stream made only when used), a
 * test's, or a client's relayed by zonixd (see ../server.ts).
 * @module
 */
import type { Writable } from 'node:stream';
import type { Operation } from '../../common/index.ts';
import { stdoutWriter } from '../run.ts';

export interface Io {
  stdout: Writable;
  stderr: Writable;
  stdin: NodeJS.ReadStream;
  /** Write a command's whole output to stdout, faster than through the stream (see processIo). */
  writeAll?: (text: string) => void;
  /** All of stdin (default: read from descriptor 0). */
  readInput?: () => Promise<string>;
  /** The folder relative file names are in (default: the process's). */
  cwd?: string;
  /** The operation the command's work runs as: cancelled when its caller goes away. */
  op?: Operation;
  /**
   * Commands that run until interrupted (`events`) end when this aborts (run by zonixd: the client
   * went away, or zonixd is stopping); without it, on SIGINT or SIGTERM.
   */
  until?: AbortSignal;
}

/** The process's own stdio, each stream made only when a command uses it. */
export function processIo(): Io {
  const writeAll = stdoutWriter();
  return {
    get stdout() {
      return process.stdout;
    },
    get stderr() {
      return process.stderr;
    },
    get stdin() {
      return process.stdin;
    },
    writeAll,
  };
}

/** A command's whole output, on stdout. */
export function writeOut(io: Io, text: string): void {
  if (io.writeAll) io.writeAll(text);
  else io.stdout.write(text);
}
