/**
 * The dir driver, for hosts without btrfs: a pool is a directory, datasets are directories, snapshots
 * and clones are copies (reflinks where the filesystem has them), streams are tar. No quotas, no
 * compression, no read-only enforcement: `info` says so and the pool refuses those properties.
 * @module
 */
import { lstat, mkdir, open, readdir, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { run, spawnStream } from '../../../platform/index.ts';
import type { PoolSource, SpaceUsage, StorageDriver, StorageDriverInfo } from '../../driver.ts';
import { notSupported, resizeVolumeFile, VOLUME_FILE } from '../../driver.ts';
import { diffTrees } from './diff.ts';

export class DirDriver implements StorageDriver {
  readonly info: StorageDriverInfo = {
    name: 'dir',
    instantSnapshots: false,
    quotas: false,
    compression: false,
    readonly: false,
    blockBacked: false,
  };

  async probe(): Promise<boolean> {
    return true;
  }

  async format(source: PoolSource): Promise<void> {
    await mkdir(source.path, { recursive: true });
  }

  async attach(): Promise<string[]> {
    return [];
  }

  async detach(): Promise<void> {
    /* nothing is mounted for a directory pool */
  }

  async initPool(): Promise<void> {
    /* nothing to enable */
  }

  async readLabel(): Promise<undefined> {
    return undefined;
  }

  async createBody(path: string): Promise<void> {
    await mkdir(path, { mode: 0o755 });
  }

  async snapshotBody(
    src: string,
    dst: string,
    opts: { readonly: boolean; exclude: string[] },
  ): Promise<void> {
    const st = await lstat(src);
    await mkdir(dst, { mode: st.mode & 0o7777 });
    const skip = new Set(opts.exclude);
    const entries = (await readdir(src)).filter((n) => !skip.has(n));
    if (entries.length)
      await run('cp', ['-a', '--reflink=auto', '-t', dst, ...entries.map((n) => join(src, n))], {
        timeoutMs: 3_600_000,
      });
    for (const n of opts.exclude) await mkdir(join(dst, n), { recursive: true });
    await run('chown', ['--reference', src, dst]);
    await run('touch', ['-r', src, dst]);
  }

  async destroyBody(path: string): Promise<void> {
    await rm(path, { recursive: true, force: true });
  }

  async isBody(path: string): Promise<boolean> {
    try {
      return (await lstat(path)).isDirectory();
    } catch {
      return false;
    }
  }

  setReadonly(): Promise<void> {
    notSupported('dir', 'readonly');
  }

  setQuota(): Promise<void> {
    notSupported('dir', 'quota');
  }

  setCompression(): Promise<void> {
    notSupported('dir', 'compression');
  }

  async space(top: string, paths: string[]): Promise<Map<string, SpaceUsage>> {
    const total = new Map<string, number>();
    for (const p of paths) {
      try {
        const { stdout } = await run('du', ['-s', '--block-size=1', join(top, p)], { timeoutMs: 600_000 });
        total.set(p, Number(stdout.split('\t')[0]) || 0);
      } catch {
        total.set(p, 0);
      }
    }
    // Child datasets live inside their parent's folder: count them once, in the child.
    const out = new Map<string, SpaceUsage>();
    for (const p of paths) {
      const inner = paths.filter((q) => q.startsWith(`${p}/`));
      const outermost = inner.filter((q) => !inner.some((r) => q.startsWith(`${r}/`)));
      const n = Math.max(0, total.get(p)! - outermost.reduce((a, q) => a + total.get(q)!, 0));
      out.set(p, { referenced: n, exclusive: n });
    }
    return out;
  }

  async send(snap: string, base: string | undefined, out: Writable): Promise<void> {
    // Payload: 4-byte length + JSON {deleted}, then a tar of what is new or changed.
    const diff = base ? await diffTrees(base, snap) : { changed: ['.'], deleted: [] };
    const head = Buffer.from(JSON.stringify({ deleted: diff.deleted }));
    const len = Buffer.alloc(4);
    len.writeUInt32BE(head.length);
    out.write(Buffer.concat([len, head]));
    const recursion = base ? ['--no-recursion'] : [];
    const list = Readable.from([Buffer.from(diff.changed.map((p) => `${p}\0`).join(''))]);
    const p = spawnStream(
      'tar',
      [
        '-C',
        snap,
        '-c',
        '-f',
        '-',
        '--numeric-owner',
        '--xattrs',
        '--acls',
        ...recursion,
        '--null',
        '-T',
        '-',
      ],
      { stdin: list, stdout: 'pipe' },
    );
    p.child.stdout!.pipe(out, { end: false });
    await Promise.all([p.done, new Promise<void>((resolve) => p.child.stdout!.on('end', resolve))]);
  }

  async receive(input: Readable, dir: string, name: string, base: string | undefined): Promise<string> {
    const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    let buf = Buffer.alloc(0);
    while (buf.length < 4) {
      const r = await it.next();
      if (r.done) throw new Error('incomplete stream');
      buf = Buffer.concat([buf, r.value]);
    }
    const hlen = buf.readUInt32BE(0);
    while (buf.length < 4 + hlen) {
      const r = await it.next();
      if (r.done) throw new Error('incomplete stream');
      buf = Buffer.concat([buf, r.value]);
    }
    const head = JSON.parse(buf.subarray(4, 4 + hlen).toString('utf8')) as { deleted: string[] };
    const rest = buf.subarray(4 + hlen);
    const target = join(dir, name);
    if (base) await this.snapshotBody(base, target, { readonly: false, exclude: [] });
    else await mkdir(target);
    for (const d of head.deleted) await rm(join(target, d), { recursive: true, force: true });
    async function* tail() {
      if (rest.length) yield rest;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    }
    const p = spawnStream(
      'tar',
      ['-C', target, '-x', '-f', '-', '--numeric-owner', '--xattrs', '--acls', '-p'],
      {
        stdin: Readable.from(tail()),
        stdout: 'ignore',
      },
    );
    await p.done;
    return target;
  }

  async createVolume(path: string, size: number): Promise<void> {
    await this.createBody(path);
    const fh = await open(join(path, VOLUME_FILE), 'w', 0o600);
    await fh.close();
    await this.resizeVolume(path, size);
  }

  async resizeVolume(path: string, size: number): Promise<void> {
    await resizeVolumeFile(path, size);
  }

  async capacity(top: string): Promise<{ size: number; free: number; alloc: number }> {
    const s = await statfs(top);
    return { size: s.blocks * s.bsize, free: s.bavail * s.bsize, alloc: (s.blocks - s.bfree) * s.bsize };
  }

  async deviceErrors(): Promise<Map<string, { read: number; write: number; cksum: number }>> {
    return new Map();
  }
}
