/**
 * What happens to the rootfs before a layer's files land: OCI whiteouts delete what lower layers put
 * there (`.wh.<name>` removes `<name>`, `.wh..wh..opq` empties its directory), and a check that no member
 * would be written through a symlink leading out of the rootfs (tar follows symlinks on the host, where
 * an image's `/etc -> /host/etc` would otherwise reach the real /etc).
 * @module
 */
import { lstat, readdir, realpath, rm, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { isErrno } from '../../common/index.ts';
import { OciError } from './errors.ts';
import type { TarEntry } from './tar-index.ts';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

/** A member name as path components: `./a//b/` is `['a', 'b']`; `..` anywhere is refused. */
export function entryParts(name: string, what: string): string[] {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..'))
    throw new OciError('InvalidImage', `${what}: member "${name}" escapes the rootfs ("..")`);
  return parts;
}

export type Whiteout = { kind: 'opaque'; dir: string[] } | { kind: 'remove'; dir: string[]; name: string };

/** The whiteout a member stands for, if it is one. */
export function whiteoutOf(parts: readonly string[], what: string): Whiteout | undefined {
  const base = parts[parts.length - 1];
  if (base === undefined || !base.startsWith(WHITEOUT_PREFIX)) return undefined;
  const dir = parts.slice(0, -1);
  if (base === OPAQUE_MARKER) return { kind: 'opaque', dir };
  const name = base.slice(WHITEOUT_PREFIX.length);
  if (name === '' || name === '.' || name === '..')
    throw new OciError('InvalidImage', `${what}: bad whiteout "${parts.join('/')}"`);
  return { kind: 'remove', dir, name };
}

function inside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** The directories this layer has members for (tar makes each a real directory, replacing a symlink). */
function dirMembers(entries: readonly TarEntry[], what: string): Set<string> {
  const dirs = new Set<string>();
  for (const e of entries) if (e.type === 'dir') dirs.add(entryParts(e.path, what).join('/'));
  return dirs;
}

/**
 * Where a lower layer's directory `parts` really is, following symlinks as the kernel would (and
 * refusing any that lead out of the rootfs); undefined when there is no such directory, or when this
 * layer has a directory member that will replace a symlink or file on the way with a new, empty one.
 */
async function lowerDir(
  root: string,
  parts: readonly string[],
  layerDirs: ReadonlySet<string>,
  what: string,
): Promise<string | undefined> {
  let cur = root;
  for (let k = 0; k < parts.length; k++) {
    const next = join(cur, parts[k] ?? '');
    let st;
    try {
      st = await lstat(next);
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
      throw err;
    }
    if (st.isDirectory()) {
      cur = next;
      continue;
    }
    if (!st.isSymbolicLink() || layerDirs.has(parts.slice(0, k + 1).join('/'))) return undefined;
    let real: string;
    try {
      real = await realpath(next);
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR') || isErrno(err, 'ELOOP')) return undefined;
      throw err;
    }
    if (!inside(root, real))
      throw new OciError(
        'InvalidImage',
        `${what}: whiteout under "${parts.slice(0, k + 1).join('/')}" would reach outside the rootfs (${real})`,
      );
    if (!(await stat(real)).isDirectory()) return undefined;
    cur = real;
  }
  return cur;
}

/**
 * Apply this layer's whiteouts to what lower layers left in `root` (a realpath), before any of the
 * layer's own files land. Returns how many there were.
 */
export async function applyWhiteouts(
  root: string,
  entries: readonly TarEntry[],
  what: string,
): Promise<number> {
  const layerDirs = dirMembers(entries, what);
  let n = 0;
  for (const e of entries) {
    const w = whiteoutOf(entryParts(e.path, what), what);
    if (!w) continue;
    n++;
    const dir = await lowerDir(root, w.dir, layerDirs, what);
    if (dir === undefined) continue;
    if (w.kind === 'remove') {
      await rm(join(dir, w.name), { recursive: true, force: true });
      continue;
    }
    for (const child of await readdir(dir)) await rm(join(dir, child), { recursive: true, force: true });
  }
  return n;
}

/**
 * Refuse a layer if tar would write a member (or take a hard link's source) through a symlink already in
 * the rootfs that leads outside it. A directory member earlier in the same layer replaces a symlink (or
 * file) in its place with a new, empty directory, so nothing under it can escape.
 */
export async function checkSymlinkEscapes(
  root: string,
  entries: readonly TarEntry[],
  what: string,
): Promise<void> {
  const layerDirs = new Set<string>();
  const checked = new Set<string>();
  const checkParents = async (parts: readonly string[], member: string) => {
    for (let k = 1; k < parts.length; k++) {
      const prefix = parts.slice(0, k).join('/');
      if (checked.has(prefix)) continue;
      let st;
      try {
        st = await lstat(join(root, prefix));
      } catch (err) {
        if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return; // nothing deeper exists either
        throw err;
      }
      if (st.isDirectory()) {
        checked.add(prefix);
        continue;
      }
      if (layerDirs.has(prefix) || !st.isSymbolicLink()) return; // replaced by a new dir, or tar fails
      let real: string;
      try {
        real = await realpath(join(root, prefix));
      } catch {
        real = 'a dangling link';
      }
      if (!inside(root, real))
        throw new OciError(
          'InvalidImage',
          `${what}: member "${member}" would be written through symlink "${prefix}", which leads outside the rootfs (${real})`,
        );
      checked.add(prefix);
    }
  };
  for (const e of entries) {
    const parts = entryParts(e.path, what);
    if (whiteoutOf(parts, what)) continue;
    await checkParents(parts, e.path);
    if (e.type === 'hardlink' && e.linkTarget !== undefined)
      await checkParents(entryParts(e.linkTarget, what), e.path);
    if (e.type === 'dir') layerDirs.add(parts.join('/'));
  }
}
