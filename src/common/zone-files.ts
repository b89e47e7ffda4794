/**
 * Files the host writes into a zone's root, safely (a zone's own links cannot redirect them).
 * @module
 */
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';

/**
 * Replace `<root>/etc/<name>` without following a link the zone may have put anywhere on the way
 * (each directory is opened with O_NOFOLLOW and the file renamed into place through the open
 * directory), so a zone cannot make the host write outside it.
 */
export function writeZoneEtcFile(root: string, name: string, text: string): void {
  const openDir = (path: string) =>
    openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  const rootFd = openDir(root);
  let etcFd: number;
  try {
    etcFd = openDir(`/proc/self/fd/${rootFd}/etc`);
  } finally {
    closeSync(rootFd);
  }
  const dir = `/proc/self/fd/${etcFd}`;
  const tmp = `${dir}/.${name}.zonix-${process.pid}`;
  try {
    const fd = openSync(
      tmp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o644,
    );
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, `${dir}/${name}`);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      /* never made, or already renamed */
    }
    throw err;
  } finally {
    closeSync(etcFd);
  }
}

/**
 * `<root>/etc/<name>` as the zone has it (at most `max` bytes), read without following a link on the
 * way and only when it is a plain file; undefined otherwise.
 */
export function readZoneEtcFile(root: string, name: string, max = 4096): string | undefined {
  const dirFlags = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
  let rootFd: number | undefined;
  let etcFd: number | undefined;
  let fd: number | undefined;
  try {
    rootFd = openSync(root, dirFlags);
    etcFd = openSync(`/proc/self/fd/${rootFd}/etc`, dirFlags);
    fd = openSync(
      `/proc/self/fd/${etcFd}/${name}`,
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
    );
    if (!fstatSync(fd).isFile()) return undefined;
    const buf = Buffer.alloc(max);
    const n = readSync(fd, buf, 0, max, 0);
    return buf.subarray(0, n).toString('utf8');
  } catch {
    return undefined;
  } finally {
    for (const f of [fd, etcFd, rootFd]) if (f !== undefined) closeSync(f);
  }
}
