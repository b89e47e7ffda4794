/**
 * The btrfs driver: a pool is a btrfs filesystem (on a block device, or a sparse file through a loop
 * device), datasets are subvolumes, snapshots read-only snapshots, quotas qgroup limits on exclusive
 * space, send/receive btrfs's own streams.
 * @module
 */
import { closeSync, openSync, readSync, statfsSync } from 'node:fs';
import { mkdir, open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { readFile } from 'node:fs/promises';
import { findTool, run, spawnStream } from '../../../platform/index.ts';
import type { PoolSource, SpaceUsage, StorageDriver, StorageDriverInfo } from '../../driver.ts';
import { resizeVolumeFile, VOLUME_FILE } from '../../driver.ts';
import { btrfs, parseDeviceStats, parseQgroupShow, parseSubvolumeList, parseSuperblock } from './cli.ts';

/** ZFS compression names → btrfs's. */
export function btrfsCompression(zfs: string): string {
  if (zfs === 'off') return 'none';
  if (zfs === 'on' || zfs.startsWith('zstd')) return 'zstd';
  if (zfs.startsWith('gzip')) return 'zlib';
  if (zfs === 'lz4' || zfs === 'lzjb' || zfs === 'zle') return 'lzo';
  return 'zstd';
}

const SUBVOL_ROOT_INO = 256;

export class BtrfsDriver implements StorageDriver {
  readonly info: StorageDriverInfo = {
    name: 'btrfs',
    instantSnapshots: true,
    quotas: true,
    compression: true,
    readonly: true,
    blockBacked: true,
  };

  async probe(): Promise<boolean> {
    if (!findTool('btrfs') || !findTool('mkfs.btrfs')) return false;
    try {
      const fs = await readFile('/proc/filesystems', 'utf8');
      if (/\tbtrfs$/m.test(fs)) return true;
      await run('modprobe', ['btrfs'], { timeoutMs: 10_000 });
      return /\tbtrfs$/m.test(await readFile('/proc/filesystems', 'utf8'));
    } catch {
      return false;
    }
  }

  async format(source: PoolSource, label: string): Promise<void> {
    await run('mkfs.btrfs', ['-q', '-f', '-L', label, source.path], { timeoutMs: 120_000 });
  }

  async attach(source: PoolSource, top: string): Promise<string[]> {
    await mkdir(top, { recursive: true });
    const opts = ['compress=zstd', 'noatime'];
    if (source.kind === 'file') opts.push('loop');
    await run('mount', ['-t', 'btrfs', '-o', opts.join(','), source.path, top], { timeoutMs: 60_000 });
    return this.devicesOf(top);
  }

  private async devicesOf(top: string): Promise<string[]> {
    const { stdout } = await btrfs(['filesystem', 'show', '--raw', top]);
    const devs: string[] = [];
    for (const m of stdout.matchAll(/ path (\S+)$/gm)) devs.push(m[1]!);
    return devs;
  }

  async detach(_source: PoolSource, top: string): Promise<void> {
    // The loop device is set up with autoclear by mount -o loop, so it goes with the unmount.
    await run('umount', [top], { timeoutMs: 60_000 });
  }

  async initPool(top: string): Promise<void> {
    await btrfs(['quota', 'enable', top]);
  }

  async readLabel(source: PoolSource): Promise<{ label: string; id: string } | undefined> {
    let fd: number | undefined;
    try {
      fd = openSync(source.path, 'r');
      const buf = Buffer.alloc(0x12b + 256);
      readSync(fd, buf, 0, buf.length, 64 * 1024);
      return parseSuperblock(buf);
    } catch {
      return undefined;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  async createBody(path: string): Promise<void> {
    await btrfs(['subvolume', 'create', path]);
  }

  async snapshotBody(src: string, dst: string, opts: { readonly: boolean }): Promise<void> {
    // Nested subvolumes (child datasets) appear in a btrfs snapshot as empty directories already.
    await btrfs(['subvolume', 'snapshot', ...(opts.readonly ? ['-r'] : []), src, dst]);
  }

  async destroyBody(path: string): Promise<void> {
    // Nested subvolumes (child datasets left in a tmp body) must go first.
    for (const e of await readdir(path, { withFileTypes: true })) {
      const p = join(path, e.name);
      if (e.isDirectory() && (await this.isBody(p))) await this.destroyBody(p);
    }
    await btrfs(['subvolume', 'delete', path]);
  }

  async isBody(path: string): Promise<boolean> {
    try {
      const st = await stat(path);
      return st.isDirectory() && st.ino === SUBVOL_ROOT_INO;
    } catch {
      return false;
    }
  }

  async setReadonly(path: string, readonly: boolean): Promise<void> {
    await btrfs(['property', 'set', '-ts', path, 'ro', String(readonly)]);
  }

  async setQuota(path: string, bytes: number | null): Promise<void> {
    await btrfs(['qgroup', 'limit', '-e', bytes === null ? 'none' : String(bytes), path]);
  }

  async setCompression(path: string, algorithm: string): Promise<void> {
    await btrfs(['property', 'set', path, 'compression', btrfsCompression(algorithm)]);
  }

  async space(top: string, paths: string[]): Promise<Map<string, SpaceUsage>> {
    await btrfs(['filesystem', 'sync', top]);
    const [list, qg] = await Promise.all([
      btrfs(['subvolume', 'list', top]),
      btrfs(['qgroup', 'show', '--raw', '-re', top]),
    ]);
    const ids = parseSubvolumeList(list.stdout);
    const groups = parseQgroupShow(qg.stdout);
    const out = new Map<string, SpaceUsage>();
    for (const p of paths) {
      const id = ids.get(p);
      const g = id === undefined ? undefined : groups.get(id);
      out.set(p, { referenced: g?.rfer ?? 0, exclusive: g?.excl ?? 0 });
    }
    return out;
  }

  async send(snap: string, base: string | undefined, out: Writable): Promise<void> {
    const argv = ['send', '-q', ...(base ? ['-p', base] : []), snap];
    const p = spawnStream('btrfs', argv, { stdout: 'pipe' });
    p.child.stdout!.pipe(out, { end: false });
    await Promise.all([
      p.done,
      new Promise<void>((resolve, reject) => {
        p.child.stdout!.on('end', resolve).on('error', reject);
      }),
    ]);
  }

  async receive(input: Readable, dir: string, name: string): Promise<string> {
    // btrfs names the new subvolume after the one sent, which carries the snapshot's GUID as `name`.
    const before = new Set(await readdir(dir));
    const p = spawnStream('btrfs', ['receive', '-q', dir], { stdin: input, stdout: 'ignore' });
    try {
      await p.done;
    } catch (err) {
      for (const n of await readdir(dir))
        if (!before.has(n)) await this.destroyBody(join(dir, n)).catch(() => undefined);
      throw err;
    }
    const made = (await readdir(dir)).filter((n) => !before.has(n));
    if (made.length !== 1 || made[0] !== name) {
      for (const n of made) await this.destroyBody(join(dir, n)).catch(() => undefined);
      throw new Error(`the stream made ${made.join(', ') || 'nothing'}, expected ${name}`);
    }
    return join(dir, name);
  }

  async createVolume(path: string, size: number): Promise<void> {
    await this.createBody(path);
    // No CoW for VM disks: set on the empty file before any data is written.
    const file = join(path, VOLUME_FILE);
    const fh = await open(file, 'w', 0o600);
    await fh.close();
    await run('chattr', ['+C', file]);
    await this.resizeVolume(path, size);
  }

  async resizeVolume(path: string, size: number): Promise<void> {
    await resizeVolumeFile(path, size);
  }

  async capacity(top: string): Promise<{ size: number; free: number; alloc: number }> {
    const { stdout } = await btrfs(['filesystem', 'usage', '-b', top]);
    const num = (label: string) => {
      const m = new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'm').exec(stdout);
      return m ? Number(m[1]) : undefined;
    };
    const size = num('Device size');
    const used = num('Used');
    const free = num('Free \\(estimated\\)');
    if (size !== undefined && used !== undefined && free !== undefined) return { size, free, alloc: used };
    const s = statfsSync(top);
    return { size: s.blocks * s.bsize, free: s.bavail * s.bsize, alloc: (s.blocks - s.bfree) * s.bsize };
  }

  async deviceErrors(top: string) {
    const { stdout } = await btrfs(['device', 'stats', top]);
    return parseDeviceStats(stdout);
  }
}
