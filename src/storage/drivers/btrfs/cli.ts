/**
 * Thin typed wrappers around btrfs-progs, and pure parsers of its output.
 * @module
 */
import { run } from '../../../platform/index.ts';

const T = { timeoutMs: 120_000 };

export const btrfs = (argv: string[], opts = T) => run('btrfs', argv, opts);

/** `btrfs subvolume list <top>`: "ID 257 gen 9 top level 256 path root/a" → path → id. */
export function parseSubvolumeList(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^ID (\d+) gen \d+ (?:cgen \d+ )?top level \d+ (?:otime .*? )?path (.*)$/.exec(line.trim());
    if (m) out.set(m[2]!.replace(/^<FS_TREE>\//, ''), Number(m[1]));
  }
  return out;
}

/** `btrfs qgroup show --raw -re <top>` → qgroup level-0 id → {rfer, excl}. */
export function parseQgroupShow(text: string): Map<number, { rfer: number; excl: number }> {
  const out = new Map<number, { rfer: number; excl: number }>();
  for (const line of text.split('\n')) {
    const m = /^0\/(\d+)\s+(\d+)\s+(\d+)/.exec(line.trim());
    if (m) out.set(Number(m[1]), { rfer: Number(m[2]), excl: Number(m[3]) });
  }
  return out;
}

/** `btrfs device stats <top>` → device → counters. */
export function parseDeviceStats(text: string): Map<string, { read: number; write: number; cksum: number }> {
  const out = new Map<string, { read: number; write: number; cksum: number }>();
  for (const line of text.split('\n')) {
    const m = /^\[(.+)\]\.(\w+)\s+(\d+)$/.exec(line.trim());
    if (!m) continue;
    const dev = m[1]!;
    const cur = out.get(dev) ?? { read: 0, write: 0, cksum: 0 };
    const n = Number(m[3]);
    if (m[2] === 'read_io_errs') cur.read += n;
    else if (m[2] === 'write_io_errs' || m[2] === 'flush_io_errs') cur.write += n;
    else if (m[2] === 'corruption_errs' || m[2] === 'generation_errs') cur.cksum += n;
    out.set(dev, cur);
  }
  return out;
}

/** Label and fsid of a btrfs filesystem, read straight from its primary superblock (64 KiB in). */
export function parseSuperblock(sb: Buffer): { label: string; id: string } | undefined {
  // struct btrfs_super_block: fsid (16 bytes) at 0x20, magic at 0x40, label (256 bytes) at 0x12b.
  if (sb.length < 0x12b + 256) return undefined;
  if (sb.toString('latin1', 0x40, 0x48) !== '_BHRfS_M') return undefined;
  const raw = sb.subarray(0x12b, 0x12b + 256);
  const end = raw.indexOf(0);
  const label = raw.toString('utf8', 0, end < 0 ? 256 : end);
  if (!label) return undefined;
  return { label, id: sb.readBigUInt64BE(0x20).toString() };
}
