/**
 * What changed between two directory trees (for incremental streams of the dir driver): entries new
 * or different in type, size, mode, owner or mtime, and entries gone.
 * @module
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Stats } from 'node:fs';

export interface TreeDiff {
  /** Relative paths to send, parents before children. */
  changed: string[];
  /** Relative paths gone since the base. */
  deleted: string[];
}

function same(a: Stats, b: Stats): boolean {
  return (
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    (a.isDirectory() || (a.size === b.size && a.mtimeMs === b.mtimeMs))
  );
}

export async function diffTrees(base: string, next: string): Promise<TreeDiff> {
  const changed: string[] = [];
  const deleted: string[] = [];
  const walk = async (rel: string) => {
    const a = await lstat(join(base, rel)).catch(() => undefined);
    const b = await lstat(join(next, rel));
    if (a && (a.mode & 0o170000) !== (b.mode & 0o170000)) deleted.push(rel);
    if (!a || !same(a, b) || rel === '.') changed.push(rel);
    if (!b.isDirectory()) return;
    const nextNames = await readdir(join(next, rel));
    const baseNames = a?.isDirectory() ? await readdir(join(base, rel)) : [];
    const present = new Set(nextNames);
    for (const n of baseNames) if (!present.has(n)) deleted.push(join(rel, n));
    for (const n of nextNames) await walk(join(rel, n));
  };
  await walk('.');
  return { changed, deleted };
}
