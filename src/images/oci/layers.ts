/**
 * Applying image layers to a rootfs, in order. For each layer: read it once to check its diff_id (the
 * sha256 of the uncompressed tar) and list its members; apply its whiteouts to what lower layers left;
 * refuse members that would land outside the rootfs; then extract it with GNU tar (numeric owners,
 * modes, xattrs, device nodes, hard links), leaving the `.wh.*` markers out.
 * @module
 */
import { createReadStream } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { HostCommandError, run } from '../../platform/index.ts';
import { DigestStream } from './digest.ts';
import { OciError } from './errors.ts';
import { detectCompression, openDecompressed, TAR_FLAG, type Compression } from './decompress.ts';
import { TarIndexer, type TarEntry } from './tar-index.ts';
import { applyWhiteouts, checkSymlinkEscapes, WHITEOUT_PREFIX } from './whiteouts.ts';

export interface LayerFile {
  /** The layer blob on disk, compressed or not. */
  file: string;
  /** The sha256 of the uncompressed tar (the config's rootfs.diff_ids entry). */
  diffId: string;
  /** The sha256 of the file as stored; checked when given (omit when the download already checked it). */
  digest?: string;
  /** Names the layer in errors: `layer 2/3 sha256:... of docker.io/library/alpine:3.20`. */
  what: string;
}

export interface ApplyOptions {
  /** Limit for extracting one layer (default 1 hour). */
  timeoutMs?: number;
}

export interface AppliedLayer {
  compression: Compression;
  members: number;
  whiteouts: number;
}

async function hashFile(file: string, expected: string, what: string): Promise<void> {
  await pipeline(createReadStream(file), new DigestStream({ expected, what }), async (source) => {
    for await (const _ of source);
  });
}

/** Read the layer once: check its diff_id and list its members. */
async function indexLayer(layer: LayerFile, compression: Compression): Promise<TarEntry[]> {
  const input = openDecompressed(layer.file, compression);
  const indexer = new TarIndexer(layer.what);
  const verify = new DigestStream({ expected: layer.diffId, what: `${layer.what} (diff_id)` });
  const [piped, tool] = await Promise.allSettled([
    pipeline(input.stream, verify, indexer).catch((err: unknown) => {
      input.stop();
      throw err;
    }),
    input.done,
  ]);
  // A decompressor that exited on its own with an error explains whatever the pipeline saw.
  if (tool.status === 'rejected') {
    const err: unknown = tool.reason;
    if (!(err instanceof HostCommandError) || err.status !== null || piped.status === 'fulfilled')
      throw new OciError('InvalidImage', `${layer.what}: cannot decompress ${compression} data`, {
        cause: err,
      });
  }
  if (piped.status === 'rejected') {
    const err: unknown = piped.reason;
    if (err instanceof OciError) throw err;
    throw new OciError('InvalidImage', `${layer.what}: cannot read layer`, { cause: err });
  }
  return indexer.entries;
}

async function extract(
  layer: LayerFile,
  root: string,
  compression: Compression,
  opts: ApplyOptions,
): Promise<void> {
  const flag = TAR_FLAG[compression];
  const argv = [
    '-x',
    '-f',
    layer.file,
    '-C',
    root,
    '--numeric-owner',
    '--same-owner',
    '-p',
    '--xattrs',
    '--xattrs-include=*',
    `--exclude=${WHITEOUT_PREFIX}*`,
    ...(flag ? [flag] : []),
  ];
  try {
    await run('tar', argv, { timeoutMs: opts.timeoutMs ?? 3_600_000 });
  } catch (err) {
    throw new OciError(
      'InvalidImage',
      `${layer.what}: extraction failed: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
}

/**
 * Apply one layer on top of `targetDir`. Nothing in `targetDir` changes until the layer's digests have
 * been checked and its members vetted.
 */
export async function applyLayer(
  layer: LayerFile,
  targetDir: string,
  opts: ApplyOptions = {},
): Promise<AppliedLayer> {
  const root = await realpath(targetDir);
  if (layer.digest !== undefined) await hashFile(layer.file, layer.digest, layer.what);
  const compression = await detectCompression(layer.file);
  const entries = await indexLayer(layer, compression);
  const whiteouts = await applyWhiteouts(root, entries, layer.what);
  await checkSymlinkEscapes(root, entries, layer.what);
  await extract(layer, root, compression, opts);
  return { compression, members: entries.length, whiteouts };
}
