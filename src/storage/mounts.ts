/**
 * Mount table reads and the bind mounts that put datasets at their mountpoints.
 * @module
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { run } from '../platform/index.ts';

export interface MountEntry {
  source: string;
  target: string;
  fstype: string;
  root: string;
}

/** /proc/self/mountinfo → entries (octal escapes decoded). */
export function parseMountinfo(text: string): MountEntry[] {
  const dec = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const f = pre.split(' ');
    const g = post.split(' ');
    out.push({ root: dec(f[3] ?? ''), target: dec(f[4] ?? ''), fstype: g[0] ?? '', source: dec(g[1] ?? '') });
  }
  return out;
}

export function mountTable(): MountEntry[] {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
}

export function isMountPoint(path: string, table = mountTable()): boolean {
  return table.some((m) => m.target === path);
}

export async function bindMount(src: string, dst: string, opts: { readonly?: boolean } = {}): Promise<void> {
  await mkdir(dst, { recursive: true });
  await run('mount', ['--bind', src, dst], { timeoutMs: 30_000 });
  if (opts.readonly) await run('mount', ['-o', 'remount,bind,ro', dst], { timeoutMs: 30_000 });
}

export async function unmount(path: string): Promise<void> {
  await run('umount', [path], { timeoutMs: 60_000 });
}
