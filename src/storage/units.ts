/**
 * Sizes as ZFS reads and prints them.
 * @module
 */

const SUFFIX = ['', 'K', 'M', 'G', 'T', 'P', 'E'];

/** Parse `1G`, `1.5T`, `512m`, `100KiB`, `4096`; undefined when it is not a size. */
export function parseSize(text: string): number | undefined {
  // A number, then an optional unit letter, then an optional `B` or `iB` after a K..E unit (as
  // zfs_nicestrtonum: `1K`, `1KB`, `1KiB`, `1B`; never `1BB` or `1BiB`).
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(?:([kmgtpe])(i?b)?|(b))?\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = (m[2] ?? '').toUpperCase();
  const idx = SUFFIX.indexOf(unit);
  const n = Number(m[1]) * 1024 ** idx;
  if (!Number.isFinite(n)) return undefined;
  // ZFS drops the fraction of a byte.
  return Math.floor(n);
}

/** illumos zfs_nicenum: `0`, `512`, `1K`, `1.50G`, `12.3G`, `123G`. */
export function niceNum(n: number): string {
  if (n < 1024) return String(Math.max(0, Math.round(n)));
  let index = 0;
  let v = n;
  while (v >= 1024 && index < SUFFIX.length - 1) {
    v /= 1024;
    index++;
  }
  const u = SUFFIX[index]!;
  const div = 1024 ** index;
  if (Number.isInteger(n / div)) return `${n / div}${u}`;
  let out = '';
  for (let digits = 2; digits >= 0; digits--) {
    out = `${(n / div).toFixed(digits)}${u}`;
    if (out.length <= 5) break;
  }
  return out;
}
