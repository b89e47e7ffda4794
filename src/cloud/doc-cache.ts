/**
 * The documents of one namespace (accounts, packages, networks), read once and again only when their
 * folder changed: every write replaces or removes a file there (DocStore writes aside and renames),
 * which changes the folder's mtime, whichever process wrote it (zonixd, or `zonix account add`).
 * @module
 */
import { statSync } from 'node:fs';
import type { DocStore } from '../storage/index.ts';

export class DocCache<T> {
  private cached: { dir: string; stamp: string; all: T[] } | undefined;

  constructor(private readonly docs: () => DocStore) {}

  /** What says whether the folder changed: its path and mtime (`-` when it does not exist). */
  stamp(): string {
    const d = this.docs();
    let m = '-';
    try {
      m = String(statSync(d.dir).mtimeMs);
    } catch {
      /* no document yet */
    }
    return `${d.dir}@${m}`;
  }

  /** Every document, parsed (callers must not change them). */
  all(): T[] {
    const stamp = this.stamp();
    const d = this.docs();
    if (this.cached?.stamp === stamp) return this.cached.all;
    const all = d
      .keys()
      .map((k) => d.get<T>(k))
      .filter((x): x is T => x !== undefined);
    this.cached = { dir: d.dir, stamp, all };
    return all;
  }
}
