/**
 * Small JSON documents kept inside a pool (image manifests, source lists, later VM indexes): one file
 * per key under the pool's private `meta/docs/<namespace>/`, replaced atomically. They travel with the
 * pool (export, import, another host), which is the point: the pool is a node's only durable state.
 * @module
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../common/index.ts';
import { fsyncDirSync, writeFileAtomicSync } from '../common/index.ts';
import { run } from '../platform/index.ts';

const KEY = /^[A-Za-z0-9][A-Za-z0-9_.:@-]*$/;

export class DocStore {
  constructor(readonly dir: string) {}

  private path(key: string): string {
    if (!KEY.test(key) || key.length > 200) throw new Error(`invalid document key '${key}'`);
    return join(this.dir, `${key}.json`);
  }

  /** The document, parsed; the caller says what shape it has. */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  get<T>(key: string): T | undefined {
    try {
      return JSON.parse(readFileSync(this.path(key), 'utf8')) as T;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  put(key: string, value: unknown): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileAtomicSync(this.path(key), JSON.stringify(value, null, 2) + '\n');
  }

  /**
   * Put many documents with one sync of the pool's filesystem rather than one per document: each is
   * still replaced atomically (written aside, made durable, renamed); a crash midway leaves some
   * new and the others as they were, never a torn one.
   */
  async putMany(entries: readonly [string, unknown][]): Promise<void> {
    if (entries.length <= 1) {
      for (const [k, v] of entries) this.put(k, v);
      return;
    }
    mkdirSync(this.dir, { recursive: true });
    const staged: [string, string][] = [];
    try {
      for (const [key, value] of entries) {
        const path = this.path(key);
        const tmp = join(this.dir, `.${key}.json.${process.pid}.${staged.length}.tmp`);
        writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
        staged.push([tmp, path]);
      }
      await run('sync', ['-f', this.dir], { timeoutMs: 120_000 });
      for (const [tmp, path] of staged.splice(0)) renameSync(tmp, path);
      fsyncDirSync(this.dir);
    } finally {
      for (const [tmp] of staged) rmSync(tmp, { force: true });
    }
  }

  delete(key: string): void {
    rmSync(this.path(key), { force: true });
  }

  keys(): string[] {
    try {
      return readdirSync(this.dir)
        .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
        .map((f) => f.slice(0, -5))
        .sort();
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
  }
}
