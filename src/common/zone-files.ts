/**
 * Files the host writes into a zone's root, safely (a zone's own links cannot redirect them).
 * @module
 */
import { closeSync, constants, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';

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
