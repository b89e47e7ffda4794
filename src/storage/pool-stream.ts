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
import {
  findSnapshotByGuid,
  newGuid,
  snapshotPath,
  sortedSnapshots,
  type DatasetMeta,
  type PoolMeta,
  type SnapshotMeta,
} from './meta.ts';
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
  let base: { name: string; ds: DatasetMeta; s: SnapshotMeta; clone: boolean } | undefined;
  if (opts.from !== undefined) {
    const from = opts.from.startsWith('@') ? `${e.dataset}${opts.from}` : opts.from;
    const fp = parseName(from);
    // As in ZFS, the source may also be a snapshot the dataset was cloned from (a clone stream).
    const fe = fp.snapshot === undefined ? undefined : entityOf(meta, from);
    const clone =
      fe !== undefined && fp.dataset !== e.dataset && originChain(meta, e.ds).includes(fe.snap!.guid);
    if (fe === undefined || (fp.dataset !== e.dataset && !clone))
      throw new ZfsError(
        'EINVAL',
        `incremental source (${opts.from}) must be an earlier snapshot of ${e.dataset}`,
      );
    if (fe.snap!.createtxg >= e.snap!.createtxg)
      throw new ZfsError('EINVAL', `incremental source (${from}) is not earlier than it (${snapName})`);
    base = { name: fp.snapshot!, ds: fe.ds, s: fe.snap!, clone };
  }
  const header: StreamHeader = {
    format: pool.driver.info.name,
    type: e.ds.type,
    dataset: e.dataset,
    snapshot: parseName(snapName).snapshot!,
    snapshotGuid: e.snap!.guid,
    snapshotCreation: e.snap!.creation,
    ...(base
      ? { from: { snapshot: base.name, guid: base.s.guid, ...(base.clone ? { clone: true } : {}) } }
      : {}),
    props: { ...e.ds.props },
    snapshotProps: { ...e.snap!.user },
    creation: e.ds.creation,
  };
  const framed = frameStream(out, header);
  await pool.driver.send(
    pool.abs(snapshotPath(e.ds, e.snap!)),
    base ? pool.abs(snapshotPath(base.ds, base.s)) : undefined,
    framed,
  );
  await new Promise<void>((resolve, reject) =>
    framed.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
}

/** GUIDs of the snapshots `ds` descends from: its origin, that dataset's origin, and so on. */
function originChain(meta: PoolMeta, ds: DatasetMeta): string[] {
  const out: string[] = [];
  for (let guid = ds.origin; guid !== undefined && !out.includes(guid);) {
    out.push(guid);
    guid = findSnapshotByGuid(meta, guid)?.ds.origin;
  }
  return out;
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
    // A clone stream (sent from the snapshot its dataset was cloned from) makes a new clone of the
    // local snapshot with the same GUID, as ZFS does.
    const cloneOf = !full && !existing && h.from!.clone ? findSnapshotByGuid(meta, h.from!.guid) : undefined;
    if (!full && !existing && h.from!.clone && !cloneOf)
      throw new ZfsError('ENOENT', `cannot receive ${what}: local origin for clone ${dsName} does not exist`);
    if (!full && !cloneOf) {
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
    const fresh = full || cloneOf !== undefined;
    const ds: DatasetMeta = fresh
      ? (() => {
          const guid = newGuid();
          const path = h.type === 'volume' ? join('volumes', guid) : pool.childPath(meta, dsName);
          const origin = cloneOf?.snap.guid;
          return {
            ...pool.newDataset(meta, { guid, type: h.type, path, props: {}, ...(origin ? { origin } : {}) }),
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
    t.cleanup(fresh ? [ds.path, snapRel] : [snapRel]);
    await mkdir(pool.abs(dirname(snapRel)), { recursive: true });
    const latest = full
      ? undefined
      : cloneOf
        ? snapshotPath(cloneOf.ds, cloneOf.snap)
        : snapshotPath(ds, sortedSnapshots(ds).at(-1)![1]);
    try {
      const [got] = await Promise.all([
        pool.driver.receive(
          stream.payload,
          pool.abs(dirname(snapRel)),
          basename(snapRel),
          latest ? pool.abs(latest) : undefined,
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
    if (fresh) {
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
