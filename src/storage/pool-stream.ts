/**
 * zfs send and receive for a pool: the stream header says what was sent; the payload is the driver's;
 * a receive lands as a snapshot first, and only a verified stream becomes a dataset.
 * @module
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { cannot, ZfsError } from './errors.ts';
import { newGuid, snapshotPath, sortedSnapshots, type DatasetMeta, type SnapshotMeta } from './meta.ts';
import { datasetNameProblem, parentName, parseName } from './names.ts';
import type { Pool } from './pool.ts';
import { frameStream, parseStream, type StreamHeader } from './stream.ts';
import { descendantsOf, entityOf } from './tree.ts';

export async function sendSnapshot(
  pool: Pool,
  snapName: string,
  out: Writable,
  opts: { from?: string } = {},
): Promise<void> {
  const problem = datasetNameProblem(snapName, { snapshot: 'require' });
  if (problem) throw cannot('EINVAL', 'open', snapName, problem);
  const meta = pool.meta();
  const e = entityOf(meta, snapName);
  let base: { name: string; s: SnapshotMeta } | undefined;
  if (opts.from !== undefined) {
    const from = opts.from.startsWith('@') ? `${e.dataset}${opts.from}` : opts.from;
    const fp = parseName(from);
    if (fp.snapshot === undefined || fp.dataset !== e.dataset)
      throw new ZfsError(
        'EINVAL',
        `incremental source (${opts.from}) must be an earlier snapshot of ${e.dataset}`,
      );
    const fe = entityOf(meta, from);
    if (fe.snap!.createtxg >= e.snap!.createtxg)
      throw new ZfsError('EINVAL', `incremental source (${from}) is not earlier than it (${snapName})`);
    base = { name: fp.snapshot, s: fe.snap! };
  }
  const header: StreamHeader = {
    format: pool.driver.info.name,
    type: e.ds.type,
    dataset: e.dataset,
    snapshot: parseName(snapName).snapshot!,
    snapshotGuid: e.snap!.guid,
    snapshotCreation: e.snap!.creation,
    ...(base ? { from: { snapshot: base.name, guid: base.s.guid } } : {}),
    props: { ...e.ds.props },
    snapshotProps: { ...e.snap!.user },
    creation: e.ds.creation,
  };
  const framed = frameStream(out, header);
  await pool.driver.send(
    pool.abs(snapshotPath(e.ds, e.snap!)),
    base ? pool.abs(snapshotPath(e.ds, base.s)) : undefined,
    framed,
  );
  await new Promise<void>((resolve, reject) =>
    framed.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
}

/** Receive a stream into `target` (`pool/ds` or `pool/ds@snap`). */
export async function receiveStream(
  pool: Pool,
  target: string,
  input: Readable,
  opts: { force?: boolean } = {},
): Promise<string> {
  const problem = datasetNameProblem(target, { snapshot: 'allow' });
  if (problem) throw cannot('EINVAL', 'receive', target, problem);
  const stream = await parseStream(input);
  const h = stream.header;
  if (h.format !== pool.driver.info.name)
    throw new ZfsError(
      'EBADSTREAM',
      `cannot receive: stream is from a ${h.format} pool, this pool uses ${pool.driver.info.name}`,
    );
  const tp = parseName(target);
  const dsName = tp.dataset;
  const snapName = tp.snapshot ?? h.snapshot;
  const full = h.from === undefined;
  const what = full ? 'new filesystem stream' : 'incremental stream';
  return pool.tx({ action: 'receive', name: target }, async (meta, t) => {
    const existing = meta.datasets[dsName];
    if (full && existing && (!opts.force || descendantsOf(meta, dsName).length))
      throw new ZfsError(
        'EEXIST',
        `cannot receive ${what}: destination '${dsName}' exists\nmust specify -F to overwrite it`,
      );
    if (!full) {
      if (!existing)
        throw new ZfsError('ENOENT', `cannot receive ${what}: destination '${dsName}' does not exist`);
      const latest = sortedSnapshots(existing).at(-1);
      if (!latest || latest[1].guid !== h.from!.guid)
        throw new ZfsError(
          'EINVAL',
          `cannot receive ${what}: most recent snapshot of ${dsName} does not\nmatch incremental source`,
        );
      if (existing.snapshots[snapName])
        throw new ZfsError('EEXIST', `cannot receive ${what}: destination ${dsName}@${snapName} exists`);
    } else {
      const parent = parentName(dsName);
      if (parent === undefined || !meta.datasets[parent])
        throw new ZfsError('ENOENT', `cannot receive ${what}: destination '${dsName}' does not exist`);
      if (meta.datasets[parent].type !== 'filesystem')
        throw new ZfsError('EINVAL', `cannot receive ${what}: parent '${parent}' is not a filesystem`);
    }
    meta.txg += 1;
    const snapMeta: SnapshotMeta = {
      guid: h.snapshotGuid,
      creation: h.snapshotCreation,
      createtxg: meta.txg,
      user: { ...h.snapshotProps },
    };
    const props = { ...h.props };
    delete props.mountpoint;
    const ds: DatasetMeta = full
      ? (() => {
          const guid = newGuid();
          const path = h.type === 'volume' ? join('volumes', guid) : pool.childPath(meta, dsName);
          return {
            ...pool.newDataset(meta, { guid, type: h.type, path, props: {} }),
            creation: h.creation,
          };
        })()
      : existing!;
    const snapRel = snapshotPath(ds, snapMeta);
    if (existsSync(pool.abs(snapRel)))
      throw new ZfsError(
        'EEXIST',
        `cannot receive ${what}: snapshot ${snapMeta.guid} is already in this pool`,
      );
    t.cleanup(full ? [ds.path, snapRel] : [snapRel]);
    await mkdir(pool.abs(dirname(snapRel)), { recursive: true });
    const latest = full ? undefined : sortedSnapshots(ds).at(-1)![1];
    try {
      const [got] = await Promise.all([
        pool.driver.receive(
          stream.payload,
          pool.abs(dirname(snapRel)),
          basename(snapRel),
          latest ? pool.abs(snapshotPath(ds, latest)) : undefined,
        ),
        stream.verified,
      ]);
      if (got !== pool.abs(snapRel)) throw new Error(`the stream made ${got}, not ${pool.abs(snapRel)}`);
    } catch (err) {
      // Read the rest so that the trailer tells whether the stream itself was damaged.
      stream.payload.resume();
      await stream.verified.catch((v: unknown) => {
        throw v instanceof ZfsError
          ? new ZfsError(
              'EBADSTREAM',
              `cannot receive ${what}: ${v.message.replace(/^cannot receive: /, '')}`,
              err,
            )
          : v;
      });
      const why = err instanceof Error ? err.message : String(err);
      throw new ZfsError('EBADSTREAM', `cannot receive ${what}: ${why}`, err);
    }
    if (full) {
      if (existing) await pool.destroyLocked(meta, t, dsName);
      await pool.preparePlace(ds.path, dsName, 'receive');
      if (h.type === 'volume') await mkdir(pool.abs('volumes'), { recursive: true });
      await pool.driver.snapshotBody(pool.abs(snapRel), pool.abs(ds.path), {
        readonly: false,
        exclude: [],
      });
      ds.snapshots[snapName] = snapMeta;
      meta.datasets[dsName] = ds;
    } else {
      ds.snapshots[snapName] = snapMeta;
      await pool.unmountDataset(meta, dsName, 'receive');
      await pool.replaceBody(meta, t, dsName, snapRel);
    }
    await pool.applyProps(meta, dsName, props);
    for (const k of ['compression', 'readonly']) await pool.enforce(meta, dsName, k);
    t.commit();
    await pool.mountDataset(meta, dsName);
    return `${dsName}@${snapName}`;
  });
}
