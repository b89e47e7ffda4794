/**
 * Content digests: `sha256:<hex>` of a buffer, and a pass-through stream that hashes what flows through
 * it and fails at the end when the digest (or the expected size) is not what was asked for.
 * @module
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { OciError } from './errors.ts';

const SHA256 = /^sha256:[a-f0-9]{64}$/;

export function isSha256Digest(s: string): boolean {
  return SHA256.test(s);
}

export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Throws InvalidImage unless `digest` is a sha256 digest we can verify. */
export function requireSha256(digest: string, what: string): void {
  if (!isSha256Digest(digest))
    throw new OciError('InvalidImage', `${what}: unsupported or malformed digest "${digest}" (only sha256)`);
}

export function mismatch(what: string, expected: string, got: string): OciError {
  return new OciError('DigestMismatch', `${what}: digest mismatch: expected ${expected}, got ${got}`);
}

/** Throws DigestMismatch unless `data` hashes to `expected`. */
export function verifyBuffer(data: Uint8Array, expected: string, what: string): void {
  const got = sha256Digest(data);
  if (got !== expected) throw mismatch(what, expected, got);
}

export interface DigestStreamOptions {
  /** The digest the bytes must hash to; omit to only compute it (read `digest` after the end). */
  expected?: string;
  /** The byte count the content must have, when known. */
  size?: number;
  /** Names the content in errors: `blob sha256:... of 127.0.0.1:5000/a/b:1`. */
  what: string;
  /** Called with the running byte count. */
  onBytes?: (bytes: number) => void;
}

/** A pass-through Transform that verifies a sha256 digest (and size) when the input ends. */
export class DigestStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;
  /** `sha256:<hex>`, set when the stream has ended. */
  digest: string | undefined;

  constructor(private readonly opts: DigestStreamOptions) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.opts.onBytes?.(this.bytes);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.digest = `sha256:${this.hash.digest('hex')}`;
    const { expected, size, what } = this.opts;
    if (expected !== undefined && this.digest !== expected) cb(mismatch(what, expected, this.digest));
    else if (size !== undefined && size !== this.bytes)
      cb(new OciError('DigestMismatch', `${what}: size mismatch: expected ${size} bytes, got ${this.bytes}`));
    else cb();
  }
}
