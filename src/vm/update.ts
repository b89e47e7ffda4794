/**
 * `vmadm update`: a SmartOS update payload, normalised by the schema (`prepareUpdate`), merged into
 * the VM's manifest (`applyUpdate`, pure), written atomically, and what SmartOS changes at once applied
 * to the running zone: memory, swap, CPU cap and shares and the process cap through the runtime
 * (cgroups), locked memory as RLIMIT_MEMLOCK of the zone's processes, the quota on the VM's dataset,
 * and resolv.conf when `maintain_resolvers` is set. Everything else (tmpfs, filesystems, hostname,
 * NICs) is stored and takes effect at the next start, which reads the manifest. A payload that fails
 * validation changes nothing; a live change that fails is undone with the manifest and the quota.
 * @module
 */
import { existsSync } from 'node:fs';
import { isIPv4 } from './schema/ip.ts';
import { Reverter } from '../common/index.ts';
import { run } from '../platform/index.ts';
import {
  cgroupLimits,
  hardLimit,
  runtimeRoot,
  type CgroupField,
  type CgroupLimits,
  type ZoneRuntime,
} from '../zones/index.ts';
import type { VmCore } from './core.ts';
import { changeDiskVolumes } from './disks.ts';
import { vmNotFound } from './errors.ts';
import { payloadError } from './schema/errors.ts';
import { vrrpMac } from './schema/nics.ts';
import { prepareUpdate } from './schema/normalize.ts';
import { PROPERTIES } from './schema/properties.ts';
import type { Payload, PropertySpec } from './schema/types.ts';
import { isPlainObject, objectsOf } from './schema/values.ts';
import { lockVm, type VmRecord } from './store.ts';
import { liveState, writeZoneEtcFile, zoneResourcesOf } from './zone.ts';

const MiB = 1024 * 1024;

/**
 * Integer properties SmartOS keeps as zone attributes, which an update to 0 removes (proptable's
 * `keep_zero` rule), and `cpu_cap`, whose 0 removes the cap. Resource controls and dataset properties
 * (max_lwps, quota, zfs_*_limit, ...) keep a 0.
 */
const ZERO_UNSETS = new Set([
  'cpu_cap',
  'vnc_port',
  'spice_port',
  'virtio_txburst',
  'virtio_txtimer',
  'flexible_disk_size',
  'zlog_max_size',
]);

/** How SmartOS orders entries when it loads a VM (vmload-xml `indexSort`): field and index pattern. */
const ENTRY_ORDER: Readonly<Record<string, readonly [string, RegExp]>> = {
  nics: ['interface', /^net(\d+)$/],
  disks: ['path', /^.*[-/]disk(\d+)$/],
};

export interface LiveChanges {
  /** Properties of update mode `live` whose value changed: the new value, null when unset. */
  readonly changed: Readonly<Record<string, unknown>>;
  /** Resolvers to write into the running zone's /etc/resolv.conf (`maintain_resolvers`). */
  readonly resolvers?: readonly string[];
}

export interface MergeResult {
  readonly vm: VmRecord;
  readonly live: LiveChanges;
}

type Entry = Record<string, unknown>;

const stopped = (vm: Readonly<Payload>): boolean =>
  vm.state === 'stopped' || (vm.state === 'provisioning' && vm.zone_state === 'installed');

/** `old` with `remove` keys dropped, then `set` entries added (own data properties only). */
function mergeMap(old: unknown, set: unknown, remove: unknown): Entry {
  const drop = new Set((Array.isArray(remove) ? remove : []).map(String));
  return Object.fromEntries([
    ...Object.entries(isPlainObject(old) ? old : {}).filter(([k]) => !drop.has(k)),
    ...Object.entries(isPlainObject(set) ? set : {}),
  ]);
}

/** Entries are identified by `key`, compared exactly as SmartOS (and the schema's NIC checks) do. */
const sameKey = (a: unknown, b: unknown): boolean => a !== undefined && a === b;

const withoutNulls = (e: Entry): Entry =>
  Object.fromEntries(Object.entries(e).filter(([, v]) => v !== null && v !== undefined));

/** `remove_<p>` (unknown keys skipped), `update_<p>` (merged into the entry), `add_<p>` (appended). */
function mergeEntries(old: unknown, key: string, p: Readonly<Payload>, name: string): Entry[] {
  const removed = Array.isArray(p[`remove_${name}`]) ? (p[`remove_${name}`] as unknown[]) : [];
  const list = objectsOf(old)
    .filter((e) => !removed.some((r) => sameKey(e[key], r)))
    .map((e) => ({ ...e }));
  for (const u of objectsOf(p[`update_${name}`])) {
    const i = list.findIndex((e) => sameKey(e[key], u[key]));
    if (i === -1) continue;
    const merged = withoutNulls({ ...list[i], ...u });
    // Not stored: it only allows the change (bhyve disk shrink).
    delete merged.dangerous_allow_shrink;
    // The VRRP id is part of the MAC.
    if (key === 'mac' && Object.hasOwn(u, 'vrrp_vrid')) merged.mac = vrrpMac(u.vrrp_vrid);
    list[i] = merged;
  }
  for (const a of objectsOf(p[`add_${name}`])) {
    const i = list.findIndex((e) => sameKey(e[key], a[key]));
    if (i === -1) list.push(withoutNulls({ ...a }));
    else list[i] = withoutNulls({ ...a });
  }
  const order = ENTRY_ORDER[name];
  if (order) {
    const [field, re] = order;
    const index = (e: Entry) => Number(typeof e[field] === 'string' ? (re.exec(e[field])?.[1] ?? 0) : 0);
    list.sort((a, b) => index(a) - index(b));
  }
  return list;
}

/** 10/8, 172.16/12 and 192.168/16 (SmartOS `isPrivateIP`); anything else, `dhcp` included, is not. */
export function isPrivateIPv4(ip: string): boolean {
  if (!isIPv4(ip)) return false;
  const [a, b] = ip.split('.').map(Number) as [number, number];
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}

/**
 * The primary flag after an update (SmartOS `buildNicZonecfg`): a NIC added or updated with
 * `primary: true` takes it from the others; removing the primary without naming a new one passes it to
 * the first remaining NIC with a public address, else the first with a private one, else to none.
 */
function fixPrimary(nics: Entry[], old: readonly Entry[], p: Readonly<Payload>): void {
  let primary: unknown;
  for (const n of [...objectsOf(p.add_nics), ...objectsOf(p.update_nics)])
    if (n.primary === true) primary = n.mac;
  const removed = Array.isArray(p.remove_nics) ? (p.remove_nics as unknown[]) : [];
  const lostPrimary = old.some((n) => n.primary === true && removed.some((r) => sameKey(n.mac, r)));
  if (primary === undefined && lostPrimary) {
    let pub: unknown;
    let priv: unknown;
    for (const n of old) {
      if (removed.some((r) => sameKey(n.mac, r)) || !Array.isArray(n.ips)) continue;
      for (const cidr of n.ips as unknown[]) {
        const ip = String(cidr).split('/')[0]!;
        if (priv === undefined && isPrivateIPv4(ip)) {
          priv = n.mac;
          break;
        }
        if (pub === undefined && !isPrivateIPv4(ip)) {
          pub = n.mac;
          break;
        }
      }
    }
    primary = pub ?? priv;
  }
  if (primary === undefined) return;
  for (const n of nics) {
    if (sameKey(n.mac, primary)) n.primary = true;
    else delete n.primary;
  }
}

/** A plain property: replaced, or removed where SmartOS unsets it. */
function setPlain(vm: Payload, name: string, spec: PropertySpec, value: unknown, brand: string): void {
  if (spec.keep !== undefined && !(spec.keep as readonly string[]).includes(brand)) return;
  const v = spec.storeAsString && Array.isArray(value) ? value.map(String).join(',') : value;
  const unset =
    v === undefined ||
    v === null ||
    v === '' ||
    (v === 0 && ZERO_UNSETS.has(name)) ||
    // Flags SmartOS only stores when they differ from what it assumes (do_not_inventory, docker, ...).
    (typeof v === 'boolean' && spec.default === undefined && v === spec.implied) ||
    (Array.isArray(v) && v.length === 0 && spec.default === undefined);
  if (unset) delete vm[name];
  else vm[name] = v;
}

const json = (v: unknown): string => JSON.stringify(v) ?? 'undefined';

/**
 * Merge a normalised update payload (from `prepareUpdate`) into a VM record. Plain properties replace
 * (null, '' or an unset integer remove; `cpu_cap: 0` removes the cap); `set_`/`remove_` maps
 * (tags, customer_metadata, internal_metadata, routes); `add_`/`update_`/`remove_` arrays by their key
 * (nics by mac, disks by path, filesystems by target; unknown keys are skipped). Disks change only
 * while the VM is stopped (when `vm.state` is given). `last_modified` is set when anything changed.
 */
export function applyUpdate(
  vm: Readonly<VmRecord>,
  payload: Readonly<Payload>,
  opts: { now?: string } = {},
): MergeResult {
  if (
    vm.state !== undefined &&
    !stopped(vm) &&
    (Object.hasOwn(payload, 'add_disks') || Object.hasOwn(payload, 'remove_disks'))
  )
    throw payloadError('DisksNeedStopped', vm.state, vm.zone_state);
  const brand = String(vm.brand);
  const out: VmRecord = { ...vm };
  for (const [name, spec] of Object.entries(PROPERTIES)) {
    if (spec.updateMode === 'via-set-remove') {
      if (Object.hasOwn(payload, `set_${name}`) || Object.hasOwn(payload, `remove_${name}`))
        out[name] = mergeMap(vm[name], payload[`set_${name}`], payload[`remove_${name}`]);
    } else if (spec.updateMode === 'via-add-update-remove' && spec.sub) {
      if (!['add', 'update', 'remove'].some((a) => Object.hasOwn(payload, `${a}_${name}`))) continue;
      const list = mergeEntries(vm[name], spec.sub.key, payload, name);
      if (name === 'nics') fixPrimary(list, objectsOf(vm.nics), payload);
      if (list.length === 0 && spec.default === undefined) delete out[name];
      else out[name] = list;
    } else if (Object.hasOwn(payload, name) && spec.updateMode !== 'no') {
      setPlain(out, name, spec, payload[name], brand);
    }
  }
  const changed: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(PROPERTIES)) {
    if (spec.updateMode === 'live' && json(vm[name]) !== json(out[name])) changed[name] = out[name] ?? null;
  }
  const resolversChanged =
    Object.hasOwn(payload, 'resolvers') || Object.hasOwn(payload, 'maintain_resolvers');
  const live: LiveChanges =
    out.maintain_resolvers === true && resolversChanged
      ? { changed, resolvers: (Array.isArray(out.resolvers) ? out.resolvers : []).map(String) }
      : { changed };
  if (json(vm) !== json(out)) out.last_modified = opts.now ?? new Date().toISOString();
  return { vm: out, live };
}

export type ZoneResourceUpdate = CgroupLimits;

const positive = (v: unknown): number | undefined => (typeof v === 'number' && v > 0 ? v : undefined);

/** Which cgroup settings a changed property touches. */
const CGROUP_FIELD_OF: Record<string, CgroupField> = {
  max_physical_memory: 'memory',
  max_swap: 'memory',
  cpu_cap: 'cpuCap',
  cpu_shares: 'cpuShares',
  max_lwps: 'pids',
};

/**
 * The cgroup limits of `vm` for the changed properties `keys`, as the runtime's update takes them:
 * the same rules as the zone's spec at start (zones/resources.ts).
 */
export function zoneResources(vm: Readonly<Payload>, keys: readonly string[]): ZoneResourceUpdate {
  const fields = [...new Set(keys.map((k) => CGROUP_FIELD_OF[k]).filter((f) => f !== undefined))];
  return fields.length ? cgroupLimits(zoneResourcesOf(vm), fields) : {};
}

/**
 * max_locked_memory is RLIMIT_MEMLOCK in a zone (see zones/spec.ts): set it on every process the zone
 * has now, so that what they start inherits it. Capped at our own hard limit, as at start; a process
 * that ended meanwhile is skipped.
 */
async function applyMemlock(runtime: ZoneRuntime, uuid: string, mib: unknown): Promise<void> {
  const hard = hardLimit('Max locked memory');
  const wanted = positive(mib);
  const bytes = wanted === undefined ? hard : Math.min(wanted * MiB, hard ?? Number.MAX_SAFE_INTEGER);
  const limit = bytes === undefined ? 'unlimited' : String(bytes);
  const { stdout } = await run(
    runtime.info.path,
    ['--root', runtimeRoot(runtime.info.name), 'ps', '--format', 'json', uuid],
    { timeoutMs: 30_000 },
  );
  const pids = (JSON.parse(stdout || '[]') as unknown[] | null) ?? [];
  for (const pid of pids) {
    await run('prlimit', ['--pid', String(pid), `--memlock=${limit}:${limit}`], { timeoutMs: 10_000 }).catch(
      () => undefined,
    );
  }
}

/** lofs sources must exist (SmartOS's `missing requested filesystem`), or the next start would fail. */
function checkFilesystemSources(p: Readonly<Payload>): void {
  for (const fs of [...objectsOf(p.add_filesystems), ...objectsOf(p.update_filesystems)]) {
    if (typeof fs.source === 'string' && !existsSync(fs.source))
      throw payloadError('MissingFilesystem', fs.source);
  }
}

/** The live-only keys the manifest never holds (what `vmadm get` adds). */
const LIVE_KEYS = ['state', 'zone_state', 'pid'];

/**
 * `vmadm update <uuid>`: under the VM's lock, validate `input` against the VM as it is now, merge it,
 * apply the quota, write the manifest, then change the running zone. Returns what SmartOS would only
 * log (dropped properties, live changes that could not be made and wait for the next start).
 */
export async function updateVm(core: VmCore, uuid: string, input: unknown): Promise<{ warnings: string[] }> {
  const lock = await lockVm(uuid, 'update');
  try {
    const record = core.store.readReady(uuid);
    if (!record) throw vmNotFound(uuid);
    const now = await liveState(core.runtimeOf(uuid), uuid);
    const current: VmRecord = { ...record, state: now.state, zone_state: now.zone_state };
    const { payload, warnings } = prepareUpdate(input, current);
    checkFilesystemSources(payload);
    const { vm: merged, live } = applyUpdate(current, payload);
    const next: VmRecord = { ...merged };
    for (const k of LIVE_KEYS) delete next[k];
    await core.hooks.check(next, { old: record, peers: () => core.peers() });

    const undo = new Reverter((err) => warnings.push(`Could not undo a change: ${String(err)}`));
    try {
      if (Object.hasOwn(live.changed, 'quota')) {
        const ds = core.store.dataset(uuid);
        const quotaOf = (v: unknown) => (positive(v) === undefined ? 'none' : `${String(v)}G`);
        await core.pool.set(ds, { quota: quotaOf(next.quota) });
        undo.add(() => core.pool.set(ds, { quota: quotaOf(record.quota) }));
      }
      let removedVolumes: string[] = [];
      if (['add_disks', 'update_disks', 'remove_disks'].some((k) => Object.hasOwn(payload, k))) {
        const changed = await changeDiskVolumes(
          core.pool,
          core.store.dataset(uuid),
          objectsOf(record.disks),
          objectsOf(next.disks),
          objectsOf(payload.update_disks),
          undo,
          core.images,
        );
        if (changed.disks.length) next.disks = changed.disks;
        removedVolumes = changed.removed;
      }
      await core.store.write(next);
      undo.add(() => core.store.write(record));
      // What the manifest no longer names goes last (nothing to undo after it).
      for (const ds of removedVolumes)
        await core.pool.destroy(ds, { recursive: true }).catch((err: unknown) => {
          warnings.push(`Could not destroy removed disk ${ds}: ${(err as Error).message}`);
        });
      if (now.state === 'running') {
        // zfs_io_priority and the System V IPC caps are stored only: this host has no block I/O
        // weight (blkio without bfq.weight), and IPC namespaces have no per-zone caps to set.
        const keys = Object.keys(live.changed);
        const resources = zoneResources(next, keys);
        if (Object.keys(resources).length > 0) {
          await core.runtimeOf(uuid).update(uuid, resources);
          undo.add(() => core.runtimeOf(uuid).update(uuid, zoneResources(record, keys)));
        }
        if (Object.hasOwn(live.changed, 'max_locked_memory'))
          await applyMemlock(core.runtimeOf(uuid), uuid, next.max_locked_memory);
        // Networking applies what changes at once (anti-spoofing, caps); undone with the manifest.
        const hookCtx = { zonepath: core.store.zonepath(uuid) };
        await core.hooks.update(next, { ...hookCtx, old: record });
        undo.add(() => core.hooks.update(record, { ...hookCtx, old: next }));
        if (live.resolvers !== undefined) {
          // As SmartOS's in-zone mdata refresh: a failure here is fixed by the next start.
          try {
            const text = live.resolvers.map((r) => `nameserver ${r}\n`).join('');
            writeZoneEtcFile(`${core.store.zonepath(uuid)}/root`, 'resolv.conf', text);
          } catch (err) {
            warnings.push(`Could not write /etc/resolv.conf in VM ${uuid}: ${(err as Error).message}`);
          }
        }
      }
      undo.success();
    } finally {
      await undo.fail();
    }
    return { warnings };
  } finally {
    lock.release();
  }
}
