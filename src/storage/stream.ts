/**
 * The send stream: a magic line, a JSON header (what was sent: dataset, snapshot, GUIDs, properties),
 * then the driver's payload cut into length-prefixed chunks, closed by a zero-length chunk and the
 * SHA-256 of the payload. A truncated or corrupted stream is caught before anything is committed.
 * @module
 */
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { ZfsError } from './errors.ts';

export const STREAM_MAGIC = Buffer.from('ZONIX-ZFS-STREAM-1\n');

export interface StreamHeader {
  /** The driver whose payload follows (a receiver must use the same kind). */
  format: string;
  type: 'filesystem' | 'volume';
  /** The dataset and snapshot that were sent (`zones/x`, `b`). */
  dataset: string;
  snapshot: string;
  snapshotGuid: string;
  snapshotCreation: number;
  /** For incremental streams: the snapshot the receiver must already have. */
  from?: { snapshot: string; guid: string };
  /** The dataset's locally set properties, and the snapshot's user properties. */
  props: Record<string, string>;
  snapshotProps: Record<string, string>;
  creation: number;
}

const badStream = (why: string) => new ZfsError('EBADSTREAM', `cannot receive: ${why}`);

/** A Writable that frames what is written into `out` and closes with the checksum trailer. */
export function frameStream(out: Writable, header: StreamHeader): Writable {
  const hash = createHash('sha256');
  const head = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(head.length);
  out.write(Buffer.concat([STREAM_MAGIC, len, head]));
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, cb) {
      // A zero-length chunk is the end marker: never frame an empty write.
      if (chunk.length === 0) {
        cb();
        return;
      }
      hash.update(chunk);
      const l = Buffer.alloc(4);
      l.writeUInt32BE(chunk.length);
      out.write(l);
      if (out.write(chunk)) cb();
      else out.once('drain', () => cb());
    },
    final(cb) {
      out.write(Buffer.concat([Buffer.alloc(4), hash.digest()]));
      cb();
    },
  });
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

  const hash = createHash('sha256');
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
                if (!(await need(32))) return fail('incomplete stream');
                const ok = buf.subarray(0, 32).equals(hash.digest());
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
            hash.update(piece);
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
