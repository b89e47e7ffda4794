/**
 * Layer compression, told by magic bytes (media types lie), and decompression through the host's own
 * tools: gzip, zstd, xz, bzip2.
 * @module
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { spawnStream } from '../../platform/index.ts';

export type Compression = 'none' | 'gzip' | 'zstd' | 'xz' | 'bzip2';

const MAGIC: [Compression, number[]][] = [
  ['gzip', [0x1f, 0x8b]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['bzip2', [0x42, 0x5a, 0x68]],
];

export function compressionOf(head: Uint8Array): Compression {
  for (const [kind, magic] of MAGIC) if (magic.every((b, i) => head[i] === b)) return kind;
  return 'none';
}

export async function detectCompression(file: string): Promise<Compression> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(6);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return compressionOf(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/** GNU tar's flag for reading this compression from a file. */
export const TAR_FLAG: Record<Compression, string | undefined> = {
  none: undefined,
  gzip: '--gzip',
  zstd: '--zstd',
  xz: '--xz',
  bzip2: '--bzip2',
};

export interface Decompressed {
  stream: Readable;
  /** Settles when the decompressor has exited (rejects with HostCommandError on failure). */
  done: Promise<void>;
  /** Stop early (on an error downstream). */
  stop: () => void;
}

/** The uncompressed bytes of `file`. */
export function openDecompressed(file: string, compression: Compression): Decompressed {
  if (compression === 'none') {
    const stream = createReadStream(file);
    return { stream, done: Promise.resolve(), stop: () => stream.destroy() };
  }
  const proc = spawnStream(compression, ['-d', '-c', '--', file], { stdout: 'pipe' });
  const stream = proc.child.stdout;
  if (!stream) throw new Error('decompressor has no stdout');
  return { stream, done: proc.done, stop: () => proc.child.kill('SIGKILL') };
}
