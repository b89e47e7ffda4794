/**
 * The send stream: a magic line, a JSON header (what was sent: dataset, snapshot, GUIDs, properties),
 * then the driver's payload cut into length-prefixed frames, closed by a zero-length frame, the
 * CRC-32 of the payload and its length. A truncated or corrupted stream is caught before anything is committed.
 * @module
 */
import { createRequire } from 'node:module';

// zlib is loaded when a stream is made, not by every tool that opens a pool.
let zlib: typeof import('node:zlib') | undefined;
const crc32 = (data: Uint8Array, value: number): number =>
  (zlib ??= createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib')).crc32(data, value);
import { Readable, Writable } from 'node:stream';
import { ZfsError } from './errors.ts';

export const STREAM_MAGIC = Buffer.from('ZONIX-ZFS-STREAM-1\n');
/** Payload bytes per frame (a frame may be larger when one write is). */
const FRAME = 1 << 20;

export interface StreamHeader {
  /** The driver whose payload follows (a receiver must use the same kind). */
  format: string;
  type: 'filesystem' | 'volume';
  /** The dataset and snapshot that were sent (`zones/x`, `b`). */
  dataset: string;
  snapshot: string;
  snapshotGuid: string;
  snapshotCreation: number;
  /**
   * For incremental streams: the snapshot the receiver must already have. `clone`: it is the snapshot
   * the sent dataset was cloned from (a receive into a new dataset makes a clone of it).
   */
  from?: { snapshot: string; guid: string; clone?: boolean };
  /** The dataset's locally set properties, and the snapshot's user properties. */
  props: Record<string, string>;
  snapshotProps: Record<string, string>;
  creation: number;
}

const badStream = (why: string) => new ZfsError('EBADSTREAM', `cannot receive: ${why}`);

/** A Writable that frames what is written into `out` and closes with the checksum trailer. */
export function frameStream(out: Writable, header: StreamHeader): Writable {
  let crc = 0;
  let total = 0;
  const head = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(head.length);
  out.write(Buffer.concat([STREAM_MAGIC, len, head]));
  // Gather what arrives into frames of about FRAME bytes: one write per frame, not per pipe read.
  let pending: Buffer[] = [];
  let size = 0;
  const flush = (cb: (err?: Error | null) => void) => {
    if (size === 0) {
      cb();
      return;
    }
    const frame = Buffer.allocUnsafe(4 + size);
    frame.writeUInt32BE(size, 0);
    let off = 4;
    for (const p of pending) {
      crc = crc32(p, crc);
      p.copy(frame, off);
      off += p.length;
    }
    total += size;
    pending = [];
    size = 0;
    if (out.write(frame)) cb();
    else out.once('drain', () => cb());
  };
  return new Writable({
    highWaterMark: FRAME,
    writev(chunks, cb) {
      for (const { chunk } of chunks as { chunk: Buffer }[]) {
        // A zero-length frame is the end marker: empty writes add nothing.
        if (chunk.length === 0) continue;
        pending.push(chunk);
        size += chunk.length;
      }
      if (size >= FRAME) flush(cb);
      else cb();
    },
    final(cb) {
      flush((err) => {
        if (err) return cb(err);
        out.write(trailer(crc, total));
        cb();
      });
    },
  });
}

/** After the zero-length frame: CRC-32 of the payload, then its length (8 bytes, big-endian). */
const TRAILER = 12;

function trailer(crc: number, total: number): Buffer {
  const t = Buffer.alloc(4 + TRAILER);
  t.writeUInt32BE(crc >>> 0, 4);
  t.writeBigUInt64BE(BigInt(total), 8);
  return t;
}

export interface ParsedStream {
  header: StreamHeader;
  /** The payload as it arrives; ends at the trailer (or early, on a truncated stream). */
  payload: Readable;
  /** Resolves once the trailer matched; rejects on truncation or a checksum mismatch. */
  verified: Promise<void>;
}

/** Read a stream's header, then hand the payload out as it arrives. */
export async function parseStream(input: Readable): Promise<ParsedStream> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let buf: Buffer = Buffer.alloc(0);
  let ended = false;
  const need = async (n: number): Promise<boolean> => {
    while (buf.length < n && !ended) {
      const r = await it.next();
      if (r.done) ended = true;
      else buf = buf.length === 0 ? r.value : Buffer.concat([buf, r.value]);
    }
    return buf.length >= n;
  };
  if (!(await need(STREAM_MAGIC.length + 4)) || !buf.subarray(0, STREAM_MAGIC.length).equals(STREAM_MAGIC))
    throw badStream('invalid stream (bad magic number)');
  const hlen = buf.readUInt32BE(STREAM_MAGIC.length);
  if (hlen > 16 << 20) throw badStream('invalid stream (bad header length)');
  const start = STREAM_MAGIC.length + 4;
  if (!(await need(start + hlen))) throw badStream('invalid stream (truncated header)');
  let header: StreamHeader;
  try {
    header = JSON.parse(buf.subarray(start, start + hlen).toString('utf8')) as StreamHeader;
  } catch {
    throw badStream('invalid stream (bad header)');
  }
  buf = buf.subarray(start + hlen);

  let crc = 0;
  let total = 0;
  let resolveV!: () => void;
  let rejectV!: (e: Error) => void;
  const verified = new Promise<void>((res, rej) => {
    resolveV = res;
    rejectV = rej;
  });
  verified.catch(() => undefined);
  let remaining = 0; // bytes left in the current chunk
  let done = false;
  let pumping = false; // one pump at a time: Readable may call read() again while one awaits input
  const payload = new Readable({
    highWaterMark: 1 << 20,
    read() {
      if (pumping) return;
      pumping = true;
      void (async () => {
        try {
          for (;;) {
            if (done) return;
            if (remaining === 0) {
              if (!(await need(4))) return fail('incomplete stream');
              remaining = buf.readUInt32BE(0);
              buf = buf.subarray(4);
              if (remaining === 0) {
                if (!(await need(TRAILER))) return fail('incomplete stream');
                const ok = buf.readUInt32BE(0) === crc >>> 0 && buf.readBigUInt64BE(4) === BigInt(total);
                done = true;
                payload.push(null);
                if (ok) resolveV();
                else rejectV(badStream('checksum mismatch'));
                return;
              }
            }
            if (buf.length === 0 && !(await need(1))) return fail('incomplete stream');
            const take = Math.min(remaining, buf.length);
            const piece = buf.subarray(0, take);
            buf = buf.subarray(take);
            remaining -= take;
            crc = crc32(piece, crc);
            total += piece.length;
            if (!payload.push(piece)) return;
          }
        } catch (err) {
          fail(err instanceof Error ? err.message : String(err));
        } finally {
          pumping = false;
        }
      })();
    },
  });
  function fail(why: string) {
    done = true;
    rejectV(badStream(why));
    payload.push(null);
  }
  return { header, payload, verified };
}
