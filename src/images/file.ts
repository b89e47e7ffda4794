/**
 * Image files in transit: checked against the manifest's sha1 and size while they stream, then
 * decompressed, then told apart (a dataset stream from `zfs send`, or a root-filesystem tarball).
 * @module
 */
import { createHash } from 'node:crypto';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { spawnStream } from '../platform/index.ts';
import { STREAM_MAGIC } from '../storage/index.ts';
import { ImgadmError } from './errors.ts';
import type { Compression } from './manifest.ts';

/** Counts and hashes what passes; fails at the end when size or sha1 differ from what is expected. */
export function verifying(expect: { sha1?: string; size?: number }, label: string): Transform {
  const hash = createHash('sha1');
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      size += chunk.length;
      if (expect.size !== undefined && size > expect.size) {
        cb(
          new ImgadmError(
            'DownloadError',
            `${label}: more data than the manifest's size (${expect.size} bytes)`,
          ),
        );
        return;
      }
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      const sha1 = hash.digest('hex');
      if (expect.size !== undefined && size !== expect.size)
        cb(
          new ImgadmError(
            'DownloadError',
            `${label}: size mismatch: got ${size} bytes, expected ${expect.size} (truncated?)`,
          ),
        );
      else if (expect.sha1 !== undefined && sha1 !== expect.sha1)
        cb(new ImgadmError('DownloadError', `${label}: sha1 mismatch: got ${sha1}, expected ${expect.sha1}`));
      else cb();
    },
  });
}

const MAGIC: [Compression, number[]][] = [
  ['gzip', [0x1f, 0x8b]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
];

export function sniffCompression(head: Buffer): Compression {
  for (const [c, bytes] of MAGIC) if (bytes.every((b, i) => head[i] === b)) return c;
  return 'none';
}

/** Decompress with zlib (gzip) or the host's bzip2/xz/zstd; `none` passes through. */
export function decompress(input: Readable, compression: Compression): Readable {
  if (compression === 'none') return input;
  if (compression === 'gzip') {
    const g = createGunzip({ chunkSize: 1 << 20 });
    input.on('error', (e) => g.destroy(e));
    return input.pipe(g);
  }
  const tool = { bzip2: 'bzip2', xz: 'xz', zstd: 'zstd' }[compression];
  const p = spawnStream(tool, ['-dc'], { stdin: input, stdout: 'pipe' });
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  p.child.stdout!.pipe(out, { end: false });
  let ended = false;
  p.child.stdout!.on('end', () => (ended = true));
  p.done.then(
    () => (ended ? out.end() : p.child.stdout!.once('end', () => out.end())),
    (err: unknown) =>
      out.destroy(
        new ImgadmError('InvalidImageFile', `cannot decompress ${compression} data: ${String(err)}`),
      ),
  );
  input.on('error', (e) => out.destroy(e));
  return out;
}

/** Decompress whatever compression the data's first bytes show. */
export async function autoDecompress(input: Readable): Promise<Readable> {
  const head = await readHead(input, 8);
  return decompress(rejoin(head, input), sniffCompression(head));
}

/** The stream again, with bytes already read put back in front. */
function rejoin(head: Buffer, rest: Readable): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  out.write(head);
  rest.pipe(out);
  rest.on('error', (e) => out.destroy(e));
  // Its reader may start only after an await (the install makes its dataset first): an error before
  // then (a failed checksum of a small file) must not go unheard and end the process. The reader
  // learns of it from the stream (`finished()`, `errored`).
  out.on('error', () => undefined);
  return out;
}

export type PayloadKind = 'dataset-stream' | 'tar' | 'qcow2' | 'raw';

const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);

/**
 * Read the first bytes to tell a dataset stream from a tarball (or, for a disk image, from a qcow2
 * file or a raw disk); the stream comes back whole.
 */
export async function sniffPayload(
  input: Readable,
  opts: { disk?: boolean } = {},
): Promise<{ kind: PayloadKind; stream: Readable }> {
  const head = await readHead(input, 512);
  const out = rejoin(head, input);
  if (head.subarray(0, STREAM_MAGIC.length).equals(STREAM_MAGIC))
    return { kind: 'dataset-stream', stream: out };
  if (opts.disk) {
    if (head.subarray(0, 4).equals(QCOW2_MAGIC)) return { kind: 'qcow2', stream: out };
    if (head.length === 0) throw new ImgadmError('InvalidImageFile', 'disk image file is empty');
    return { kind: 'raw', stream: out };
  }
  if (head.length >= 262 && head.toString('latin1', 257, 262) === 'ustar')
    return { kind: 'tar', stream: out };
  throw new ImgadmError(
    'InvalidImageFile',
    'image file is neither a dataset stream (zfs send) nor a tar archive',
  );
}

async function readHead(input: Readable, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  return new Promise((resolve, reject) => {
    const onData = (c: Buffer) => {
      parts.push(c);
      got += c.length;
      if (got >= n) done();
    };
    const done = () => {
      input.off('data', onData);
      input.off('end', done);
      input.off('error', reject);
      input.pause();
      resolve(Buffer.concat(parts));
    };
    input.on('data', onData);
    input.once('end', done);
    input.once('error', reject);
  });
}
