/**
 * The stdio a vmadm command works with: the process's own (each stream made only when used), or a
 * test's.
 * @module
 */
import type { Writable } from 'node:stream';
import { stdoutWriter } from '../run.ts';

export interface Io {
  stdout: Writable;
  stderr: Writable;
  stdin: NodeJS.ReadStream;
  /** Write a command's whole output to stdout, faster than through the stream (see processIo). */
  writeAll?: (text: string) => void;
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
