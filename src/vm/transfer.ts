/**
 * `vmadm send` and `vmadm receive`: a VM and its datasets as one stream, to move it to another pool
 * or host. As on SmartOS, send stops the VM (it stays stopped), and the stream carries the VM's JSON
 * first, then its datasets with every snapshot (like `zfs send -R` of `@sending`); receive re-creates
 * the VM, stopped, with the same UUID. The streams are full, so the image the VM was cloned from need
 * not be installed where it is received.
 *
 * The bundle (Zonix's own framing; SmartOS's 512-byte chunk headers are internal to it):
 *
 *     bundle  = MAGIC chunk* end
 *     MAGIC   = "ZONIX-VMBUNDLE-1\n"
 *     chunk   = u32 header length, header (UTF-8 JSON), frame*, u32 0, u32 CRC-32 of the frames' bytes
 *     frame   = u32 length (> 0), that many bytes
 *     end     = u32 header length, {"type":"end","datasets":N} (no frames)
 *
 * All integers are big-endian. The chunk headers, in order:
 *
 * - `{"type":"json"}`: the VM as `vmadm get` showed it before it was stopped.
 * - `{"type":"dataset","dataset":REL,"snapshot":S,"from":P?}`: a pool send stream (see
 *   storage/stream.ts) of the snapshot S of the VM's dataset (REL `""`) or of its child REL; full for
 *   a dataset's oldest snapshot, incremental from P for each later one. Parents come before children;
 *   each dataset's last snapshot is `sending`, taken by send (and dropped again on both sides).
 *
 * A receive refuses a bundle that ends early, or whose CRC, counts or order are wrong. Until it is
 * complete, the received VM's dataset is marked `creating` (the stream headers are rewritten to say
 * so), and the VM's lock is held: a failed receive removes what it made, and one that was killed is
 * removed by the next command that looks (VmStore.reconcile). Nothing half-received is ever listed.
 * @module
 */
import { crc32 } from 'node:zlib';
import { Readable, Writable } from 'node:stream';
import { descendantsOf, importedPoolNames, openPool, ZfsError } from '../storage/index.ts';
import { sortedSnapshots } from '../storage/index.ts';
import { STREAM_MAGIC } from '../storage/index.ts';
import type { VmCore } from './core.ts';
import { VmError, vmNotFound } from './errors.ts';
import { ZONEROOT_FIELDS } from './snapshots.ts';
import { lockVm, VM_PROP, VM_UUID, VmStore, type VmRecord } from './store.ts';

export const BUNDLE_MAGIC = Buffer.from('ZONIX-VMBUNDLE-1\n');
/** The snapshot send takes of the VM's datasets as they are once it is stopped (SmartOS's name). */
export const SENDING = 'sending';

/** A child dataset's name below the VM's dataset, and a snapshot's name. */
const REL = /^[A-Za-z0-9_.:-]+(\/[A-Za-z0-9_.:-]+)*$/;
const SNAP = /^[A-Za-z0-9_.:%-]+$/;
/** Chunk headers and the JSON chunk are small; a bigger length means a damaged stream. */
const MAX_HEADER = 1 << 20;
const MAX_JSON = 64 << 20;

export type ChunkHeader =
  | { type: 'json' }
  | { type: 'dataset'; dataset: string; snapshot: string; from?: string }
  | { type: 'end'; datasets: number };

/** A bundle that is not one, or not whole; `why` is said without the prefix. */
class BundleError extends VmError {
  constructor(readonly why: string) {
    super('EBADSTREAM', `unable to receive VM: ${why}`, { httpStatus: 400 });
  }
}

const badBundle = (why: string) => new BundleError(why);

/** What a dataset chunk's stream fails with when the bundle under it does: the reason alone. */
class StreamCut extends Error {}

// ---- send ------------------------------------------------------------------------------------------

/** Writes to `out` with its back-pressure; an error of `out` is kept and thrown by the next write. */
class Sink {
  private err: Error | undefined;
  private readonly onError = (e: Error) => {
    this.err ??= e;
  };
  constructor(private readonly out: Writable) {
    out.on('error', this.onError);
  }

  get failed(): Error | undefined {
    return this.err;
  }

  private check(): void {
    const err = this.err;
    if (err) throw err;
  }

  async write(buf: Buffer): Promise<void> {
    this.check();
    if (!this.out.write(buf)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.out.off('drain', done).off('close', done).off('error', done);
          resolve();
        };
        this.out.on('drain', done).on('close', done).on('error', done);
      });
    }
    this.check();
  }

  detach(): void {
    this.out.off('error', this.onError);
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

async function writeHeader(sink: Sink, h: ChunkHeader): Promise<void> {
  const json = Buffer.from(JSON.stringify(h));
  await sink.write(Buffer.concat([u32(json.length), json]));
}

/**
 * A chunk's body: what is written to it goes out in frames, and ending it writes the end frame and the
 * CRC. It never fails its writer (a pool send would wait forever for a drain): once the output has
 * failed, the rest is dropped and the sink's error is thrown by the caller.
 */
function chunkBody(sink: Sink): Writable {
  let crc = 0;
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, cb) {
      if (chunk.length === 0 || sink.failed) {
        cb();
        return;
      }
      crc = crc32(chunk, crc);
      sink.write(u32(chunk.length)).then(
        () =>
          sink.write(chunk).then(
            () => cb(),
            () => cb(),
          ),
        () => cb(),
      );
    },
    final(cb) {
      sink.write(Buffer.concat([u32(0), u32(crc)])).then(
        () => cb(),
        () => cb(),
      );
    },
  });
}

async function writeChunk(sink: Sink, h: ChunkHeader, fill: (body: Writable) => Promise<void>) {
  await writeHeader(sink, h);
  const body = chunkBody(sink);
  await fill(body);
  await new Promise<void>((resolve) => body.end(resolve));
  const failed = sink.failed;
  if (failed) throw failed;
}

/**
 * Send the VM to `out`: stop it if it runs (it stays stopped, as on SmartOS), then its JSON and its
 * datasets with all their snapshots.
 */
export async function sendVm(core: VmCore, uuid: string, out: Writable): Promise<void> {
  const lock = await lockVm(uuid, 'send');
  const ds = core.store.dataset(uuid);
  const sink = new Sink(out);
  let snapped = false;
  try {
    const stored = core.store.readReady(uuid);
    if (!stored) throw vmNotFound(uuid);
    // As SmartOS does, the JSON is the VM as it was before the stop.
    const vmobj = await core.get(uuid);
    if (vmobj.state === 'running') await core.haltLocked(stored, {}, { autoboot: false });
    // A `@sending` left by a send that died goes first.
    if (core.pool.meta().datasets[ds]?.snapshots[SENDING])
      await core.pool.destroy(`${ds}@${SENDING}`, { recursive: true });
    await core.pool.snapshot([`${ds}@${SENDING}`], { recursive: true });
    snapped = true;

    await sink.write(BUNDLE_MAGIC);
    await writeChunk(
      sink,
      { type: 'json' },
      (body) =>
        new Promise<void>((resolve) => body.write(JSON.stringify(vmobj, null, 2) + '\n', () => resolve())),
    );
    const meta = core.pool.meta();
    let count = 0;
    for (const d of [ds, ...descendantsOf(meta, ds)]) {
      const rel = d === ds ? '' : d.slice(ds.length + 1);
      let prev: string | undefined;
      for (const [snap] of sortedSnapshots(meta.datasets[d]!)) {
        const from = prev;
        await writeChunk(
          sink,
          { type: 'dataset', dataset: rel, snapshot: snap, ...(from ? { from } : {}) },
          (body) => core.pool.send(`${d}@${snap}`, body, from ? { from: `@${from}` } : {}),
        );
        prev = snap;
        count++;
      }
    }
    await writeHeader(sink, { type: 'end', datasets: count });
  } finally {
    sink.detach();
    try {
      if (snapped) await core.pool.destroy(`${ds}@${SENDING}`, { recursive: true }).catch(() => undefined);
    } finally {
      lock.release();
    }
  }
}

// ---- receive ---------------------------------------------------------------------------------------

/** Reads a bundle: chunk headers, and each chunk's bytes piece by piece (calls are serialised). */
export class BundleReader {
  private readonly it: AsyncIterator<Buffer>;
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private inBody = false;
  private remaining = 0;
  private crc = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(input: Readable) {
    this.it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  private async need(n: number): Promise<boolean> {
    while (this.buf.length < n && !this.ended) {
      const r = await this.it.next();
      if (r.done) this.ended = true;
      else this.buf = this.buf.length === 0 ? r.value : Buffer.concat([this.buf, r.value]);
    }
    return this.buf.length >= n;
  }

  private async take(n: number): Promise<Buffer> {
    if (!(await this.need(n))) throw badBundle('incomplete stream');
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Stop reading the input (it is destroyed). */
  async close(): Promise<void> {
    await this.it.return?.().catch(() => undefined);
  }

  async magic(): Promise<void> {
    const ok = await this.need(BUNDLE_MAGIC.length);
    if (!ok || !this.buf.subarray(0, BUNDLE_MAGIC.length).equals(BUNDLE_MAGIC))
      throw badBundle('not a VM stream (bad magic number)');
    this.buf = this.buf.subarray(BUNDLE_MAGIC.length);
  }

  /** The next chunk's header; its body must have been read to its end before. */
  async header(): Promise<ChunkHeader> {
    if (this.inBody) throw new Error('BundleReader: the previous chunk was not read to its end');
    const len = (await this.take(4)).readUInt32BE(0);
    if (len > MAX_HEADER) throw badBundle('bad chunk header length');
    let h: ChunkHeader;
    try {
      h = JSON.parse((await this.take(len)).toString('utf8')) as ChunkHeader;
    } catch (err) {
      if (err instanceof VmError) throw err;
      throw badBundle('bad chunk header');
    }
    if (h.type !== 'end') {
      this.inBody = true;
      this.remaining = 0;
      this.crc = 0;
    }
    return h;
  }

  /** The next bytes of the current chunk; undefined at its end, once its CRC matched. */
  piece(): Promise<Buffer | undefined> {
    const p = this.queue.then(() => this.nextPiece());
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async nextPiece(): Promise<Buffer | undefined> {
    if (!this.inBody) return undefined;
    if (this.remaining === 0) {
      const len = (await this.take(4)).readUInt32BE(0);
      if (len === 0) {
        const crc = (await this.take(4)).readUInt32BE(0);
        this.inBody = false;
        if (crc !== this.crc >>> 0) throw badBundle('checksum mismatch');
        return undefined;
      }
      this.remaining = len;
    }
    if (this.buf.length === 0 && !(await this.need(1))) throw badBundle('incomplete stream');
    const n = Math.min(this.remaining, this.buf.length);
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    this.remaining -= n;
    this.crc = crc32(out, this.crc);
    return out;
  }

  /** The whole body of the current chunk (a small one: the JSON). */
  async body(limit: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let size = 0;
    for (let p = await this.piece(); p !== undefined; p = await this.piece()) {
      size += p.length;
      if (size > limit) throw badBundle('chunk too large');
      parts.push(p);
    }
    return Buffer.concat(parts);
  }
}

/**
 * Rewrite the properties in a pool stream's header (magic, u32 length, JSON). A head that is not one
 * is passed on as it is, for the pool to refuse.
 */
export function editStreamHeader(head: Buffer, edit: (props: Record<string, string>) => void): Buffer {
  const m = STREAM_MAGIC.length;
  if (head.length < m + 4 || !head.subarray(0, m).equals(STREAM_MAGIC)) return head;
  const end = m + 4 + head.readUInt32BE(m);
  if (head.length < end) return head;
  let h: { props?: Record<string, string> };
  try {
    h = JSON.parse(head.subarray(m + 4, end).toString('utf8')) as typeof h;
  } catch {
    return head;
  }
  h.props = { ...(h.props ?? {}) };
  edit(h.props);
  const json = Buffer.from(JSON.stringify(h));
  return Buffer.concat([STREAM_MAGIC, u32(json.length), json, head.subarray(end)]);
}

/** How many bytes make a pool stream's header, as far as `head` tells (undefined: not one). */
function streamHeadSize(head: Buffer): number | undefined {
  const m = STREAM_MAGIC.length;
  const seen = head.subarray(0, Math.min(m, head.length));
  if (!seen.equals(STREAM_MAGIC.subarray(0, seen.length))) return undefined;
  if (head.length < m + 4) return m + 4;
  const len = head.readUInt32BE(m);
  return len > 16 << 20 ? undefined : m + 4 + len;
}

/**
 * The current dataset chunk as a Readable for Pool.receive, its stream header edited on the way;
 * `finish` reads what the pool left of the chunk (its end frame and CRC).
 */
function datasetStream(reader: BundleReader, edit: (props: Record<string, string>) => void) {
  let head: Buffer | undefined = Buffer.alloc(0);
  let closed = false;
  const next = async (): Promise<Buffer | undefined> => {
    if (closed) return undefined;
    if (head === undefined) return reader.piece();
    for (let want = streamHeadSize(head); want !== undefined && head.length < want;) {
      const p = await reader.piece();
      if (p === undefined) break;
      head = Buffer.concat([head, p]);
      want = streamHeadSize(head);
    }
    const out = editStreamHeader(head, edit);
    head = undefined;
    return out.length > 0 ? out : reader.piece();
  };
  let busy = false;
  let pump: Promise<void> = Promise.resolve();
  const stream = new Readable({
    highWaterMark: 1 << 20,
    read() {
      if (busy) return;
      busy = true;
      pump = (async () => {
        try {
          for (;;) {
            const p = await next();
            if (p === undefined) {
              stream.push(null);
              return;
            }
            if (!stream.push(p)) return;
          }
        } catch (err) {
          // The pool words its own error around this one.
          const why = err instanceof BundleError ? err.why : err instanceof Error ? err.message : String(err);
          stream.destroy(new StreamCut(why));
        } finally {
          busy = false;
        }
      })();
    },
  });
  const finish = async () => {
    closed = true;
    await pump;
    while ((await reader.piece()) !== undefined);
    stream.destroy();
  };
  return { stream, finish };
}

/** Is there a complete VM with this UUID on any imported pool (zones are named by UUID on the host)? */
function vmExists(core: VmCore, uuid: string): boolean {
  if (core.store.exists(uuid)) return true;
  for (const name of importedPoolNames()) {
    if (name === core.pool.name) continue;
    try {
      if (new VmStore(openPool(name)).phaseOf(uuid) === 'ready') return true;
    } catch {
      /* a pool that cannot be read holds nothing we could collide with */
    }
  }
  return false;
}

/** What the VM's JSON says of where and how it ran on the sender, which the receiver redoes. */
const HOST_FIELDS = [
  'state',
  'zone_state',
  'pid',
  'zoneid',
  'zonedid',
  'zonepath',
  'zfs_filesystem',
  'zpool',
  'snapshots',
  'boot_timestamp',
  'exit_status',
  'exit_timestamp',
  'transition_to',
  'transition_expire',
  'server_uuid',
  'platform_buildstamp',
  'datacenter_name',
  'headnode_id',
];

/**
 * Receive a bundle into this core's pool: the VM, stopped, with its snapshots. Returns its UUID.
 */
export async function receiveVm(core: VmCore, input: Readable): Promise<string> {
  const reader = new BundleReader(input);
  try {
    return await receiveBundle(core, reader);
  } finally {
    // Whatever follows the bundle is not ours to wait for (a pipe left open would hold the process).
    await reader.close();
  }
}

async function receiveBundle(core: VmCore, reader: BundleReader): Promise<string> {
  await reader.magic();
  if ((await reader.header()).type !== 'json') throw badBundle('the VM JSON does not come first');
  let vmobj: VmRecord;
  try {
    vmobj = JSON.parse((await reader.body(MAX_JSON)).toString('utf8')) as VmRecord;
  } catch (err) {
    if (err instanceof VmError) throw err;
    throw badBundle('invalid VM JSON');
  }
  if (
    vmobj === null ||
    typeof vmobj !== 'object' ||
    typeof vmobj.uuid !== 'string' ||
    !VM_UUID.test(vmobj.uuid)
  )
    throw badBundle('the VM JSON has no valid uuid');
  const uuid = vmobj.uuid;
  const exists = () => new VmError('EEXIST', `VM with UUID ${uuid} already exists`);
  await core.store.reconcile();
  if (vmExists(core, uuid)) throw exists();

  const lock = await lockVm(uuid, 'receive');
  const ds = core.store.dataset(uuid);
  let mine = false;
  try {
    if (vmExists(core, uuid)) throw exists();
    mine = true;
    let count = 0;
    for (;;) {
      const h = await reader.header();
      if (h.type === 'end') {
        if (h.datasets !== count) throw badBundle(`${h.datasets} datasets announced, ${count} received`);
        break;
      }
      if (h.type !== 'dataset' || (h.dataset !== '' && !REL.test(h.dataset)) || !SNAP.test(h.snapshot))
        throw badBundle('bad chunk header');
      if (count === 0 && h.dataset !== '') throw badBundle("the VM's dataset does not come first");
      const body = datasetStream(
        reader,
        // Until the receive completes, the VM is being created, whatever the sender's dataset said.
        h.dataset === ''
          ? (props) => {
              props[VM_PROP] = 'creating';
            }
          : (props) => {
              delete props[VM_PROP];
            },
      );
      await core.pool.receive(h.dataset === '' ? ds : `${ds}/${h.dataset}`, body.stream);
      await body.finish();
      count++;
    }
    if (count === 0) throw badBundle('no dataset');
    if (core.pool.meta().datasets[ds]?.snapshots[SENDING])
      await core.pool.destroy(`${ds}@${SENDING}`, { recursive: true });
    // As SmartOS does, what lives in the zone root (metadata, tags, routes) comes from the dataset.
    const inside: Record<string, unknown> = core.store.read(uuid) ?? {};
    const vm: VmRecord = { ...vmobj };
    for (const k of HOST_FIELDS) delete vm[k];
    for (const k of ZONEROOT_FIELDS) {
      if (inside[k] === undefined) delete vm[k];
      else vm[k] = inside[k];
    }
    vm.zpool = core.pool.name;
    vm.last_modified = new Date().toISOString();
    await core.store.write(vm);
    await core.store.setPhase(uuid, 'ready');
    return uuid;
  } catch (err) {
    if (mine && core.pool.meta().datasets[ds] !== undefined)
      await core.pool.destroy(ds, { recursive: true, dependents: true }).catch(() => undefined);
    if (err instanceof StreamCut) throw badBundle(err.message);
    if (err instanceof ZfsError)
      throw new VmError(err.code, `unable to receive VM: ${err.message}`, {
        httpStatus: err.httpStatus,
        cause: err,
      });
    throw err;
  } finally {
    lock.release();
  }
}
