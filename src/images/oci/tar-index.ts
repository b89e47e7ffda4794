/**
 * Reads the headers of a tar stream (ustar, GNU long names, PAX) and lists its members: their exact
 * names, types and link targets, with no quoting to undo. File data is skipped, not kept.
 * @module
 */
import { Writable } from 'node:stream';
import { OciError } from './errors.ts';

export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo' | 'other';

export interface TarEntry {
  /** The member name as stored (`./etc/passwd`, `usr/bin/`). */
  path: string;
  type: TarEntryType;
  /** For hard and symbolic links. */
  linkTarget?: string;
}

const BLOCK = 512;

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  S: 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

/** Types whose size field does not count data blocks (as Go's archive/tar reads them). */
const HEADER_ONLY = new Set(['1', '2', '3', '4', '5', '6']);

function cstring(b: Buffer, start: number, len: number): string {
  const end = b.indexOf(0, start);
  return b.toString('utf8', start, end >= start && end < start + len ? end : start + len);
}

/** A numeric field: octal text, or GNU base-256 when the high bit of the first byte is set. */
export function parseNumeric(b: Buffer, start: number, len: number): number {
  const first = b[start] ?? 0;
  if (first & 0x80) {
    let v = first & 0x7f;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + (b[i] ?? 0);
    return v;
  }
  const text = b
    .toString('latin1', start, start + len)
    .replace(/[\0 ]+/g, ' ')
    .trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return NaN;
  return parseInt(text, 8);
}

function checksumOk(h: Buffer): boolean {
  const want = parseNumeric(h, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return want === unsigned || want === signed;
}

/** PAX extended header records: `<len> <key>=<value>\n`. */
export function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < data.length) {
    const space = data.indexOf(0x20, off);
    if (space < 0) break;
    const len = parseInt(data.toString('latin1', off, space), 10);
    if (!(len > 0) || off + len > data.length) break;
    const record = data.subarray(space + 1, off + len - 1); // drop the trailing newline
    const eq = record.indexOf(0x3d);
    if (eq > 0) out[record.toString('utf8', 0, eq)] = record.toString('utf8', eq + 1);
    off += len;
  }
  return out;
}

type Collecting = { kind: string; remaining: number; chunks: Buffer[]; size: number };

/** A Writable that takes an uncompressed tar stream; read `entries` once it has finished. */
export class TarIndexer extends Writable {
  readonly entries: TarEntry[] = [];
  private header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private skip = 0;
  private offset = 0;
  private collecting: Collecting | undefined;
  private longName: string | undefined;
  private longLink: string | undefined;
  private pax: Record<string, string> = {};
  private sparseExtensions = false;
  private pendingData = 0;
  private ended = false;

  constructor(private readonly what: string) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    try {
      this.consume(chunk);
      cb();
    } catch (err) {
      cb(err instanceof Error ? err : new Error(String(err)));
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.skip > 0 || this.collecting || this.headerFill > 0 || this.sparseExtensions)
      cb(this.bad(`truncated tar stream (ends inside a member at byte ${this.offset})`));
    else cb();
  }

  private bad(why: string): OciError {
    return new OciError('InvalidImage', `${this.what}: ${why}`);
  }

  private consume(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.ended) {
      const avail = chunk.length - off;
      if (this.collecting) {
        const c = this.collecting;
        const n = Math.min(c.remaining, avail);
        c.chunks.push(chunk.subarray(off, off + n));
        c.remaining -= n;
        off += n;
        this.offset += n;
        if (c.remaining === 0) {
          this.collecting = undefined;
          this.skip = (BLOCK - (c.size % BLOCK)) % BLOCK;
          this.finishCollect(c.kind, Buffer.concat(c.chunks));
        }
        continue;
      }
      if (this.skip > 0) {
        const n = Math.min(this.skip, avail);
        this.skip -= n;
        off += n;
        this.offset += n;
        continue;
      }
      const n = Math.min(BLOCK - this.headerFill, avail);
      chunk.copy(this.header, this.headerFill, off, off + n);
      this.headerFill += n;
      off += n;
      this.offset += n;
      if (this.headerFill === BLOCK) {
        this.headerFill = 0;
        this.onHeader(this.header);
      }
    }
  }

  private finishCollect(kind: string, data: Buffer): void {
    if (kind === 'L') this.longName = cstring(data, 0, data.length);
    else if (kind === 'K') this.longLink = cstring(data, 0, data.length);
    else if (kind === 'x') Object.assign(this.pax, parsePax(data));
    // 'g' (global PAX) carries no per-member names we need.
  }

  private onHeader(h: Buffer): void {
    if (this.sparseExtensions) {
      // Old GNU sparse: extension blocks until one has isextended (byte 504) clear, then the data.
      if (h[504] === 0) {
        this.sparseExtensions = false;
        this.skip = this.pendingData;
      }
      return;
    }
    if (h.every((b) => b === 0)) {
      this.ended = true;
      return;
    }
    if (!checksumOk(h))
      throw this.bad(`not a tar archive (bad header checksum at byte ${this.offset - BLOCK})`);
    const typeflag = String.fromCharCode(h[156] ?? 0);
    let size = parseNumeric(h, 124, 12);
    if (!Number.isSafeInteger(size) || size < 0)
      throw this.bad(`bad member size at byte ${this.offset - BLOCK}`);
    if (typeflag === 'L' || typeflag === 'K' || typeflag === 'x' || typeflag === 'g') {
      if (size > 1 << 20) throw this.bad(`oversized ${typeflag} header (${size} bytes)`);
      if (size === 0) return;
      this.collecting = { kind: typeflag, remaining: size, chunks: [], size };
      return;
    }
    const magic = h.toString('latin1', 257, 263);
    let name = cstring(h, 0, 100);
    const prefix = magic === 'ustar\0' ? cstring(h, 345, 155) : '';
    if (prefix) name = `${prefix}/${name}`;
    const path = this.pax['GNU.sparse.name'] ?? this.pax.path ?? this.longName ?? name;
    const linkTarget = this.pax.linkpath ?? this.longLink ?? cstring(h, 157, 100);
    if (this.pax.size !== undefined) size = Number(this.pax.size);
    this.pax = {};
    this.longName = undefined;
    this.longLink = undefined;
    if (!['V', 'M', 'N'].includes(typeflag)) {
      const type = TYPES[typeflag] ?? 'other';
      const entry: TarEntry = { path, type };
      if (type === 'hardlink' || type === 'symlink') entry.linkTarget = linkTarget;
      this.entries.push(entry);
    }
    const data = HEADER_ONLY.has(typeflag) ? 0 : Math.ceil(size / BLOCK) * BLOCK;
    if (typeflag === 'S' && h[482] === 1) {
      this.sparseExtensions = true;
      this.pendingData = data;
    } else {
      this.skip = data;
    }
  }
}
