/**
 * Small JSON documents kept inside a pool (image manifests, source lists, later VM indexes): one file
 * per key under the pool's private `meta/docs/<namespace>/`, replaced atomically. They travel with the
 * pool (export, import, another host), which is the point: the pool is a node's only durable state.
 * @module
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../common/index.ts';
import { writeFileAtomicSync } from '../common/index.ts';

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
