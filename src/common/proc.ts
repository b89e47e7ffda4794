/**
 * Small reads of files the kernel makes up (/proc) or that Zonix keeps short. `readFileSync` reads a
 * file whose size it cannot know (all of /proc) through a fresh 64 KiB buffer, ~100 µs a call here;
 * one open, read and close into a shared buffer is ~20 µs, which matters to `vmadm list` asking for
 * a hundred running zones.
 * @module
 */
import { closeSync, openSync, readSync } from 'node:fs';

let shared: Buffer | undefined;

/** The first `max` bytes of a file (at most 64 KiB), as text. Throws as openSync does. */
export function readHeadSync(path: string, max = 4096, encoding: BufferEncoding = 'utf8'): string {
  const buf = max <= 4096 ? (shared ??= Buffer.allocUnsafe(4096)) : Buffer.allocUnsafe(max);
  const fd = openSync(path, 'r');
  try {
    return buf.toString(encoding, 0, readSync(fd, buf, 0, max, 0));
  } finally {
    closeSync(fd);
  }
}

/** A process's state letter and start time (field 22 of its stat), or undefined when it is gone. */
export function procStat(pid: number): { state: string; start: string } | undefined {
  let stat: string;
  try {
    stat = readHeadSync(`/proc/${pid}/stat`, 1024, 'latin1');
  } catch {
    return undefined;
  }
  // Fields are counted after the parenthesised command name, which may hold spaces: the state is the
  // first, the start time the twentieth.
  let at = stat.lastIndexOf(')') + 2;
  const state = stat.charAt(at);
  for (let field = 0; field < 19 && at > 0; field++) at = stat.indexOf(' ', at) + 1;
  const end = stat.indexOf(' ', at);
  return { state, start: at > 0 ? stat.slice(at, end < 0 ? undefined : end) : '' };
}

/** Does process `pid` run (a zombie, dead but not yet reaped, does not)? */
export function processAlive(pid: number): boolean {
  const s = procStat(pid);
  return s !== undefined && s.state !== 'Z' && s.state !== 'X';
}
