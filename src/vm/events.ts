/**
 * VM events, as SmartOS's vminfod streams them: `create`, `modify` (with the list of changes between
 * the VM as it was and as it is now) and `delete`. Nothing polls: the VM store touches a file per VM
 * under the run directory at every change it makes (see `changesDir`), each zone's monitor writes its
 * init's exit status to a file when init ends, and commands lock the VM they work on; these are watched
 * with inotify (`fs.watch`), and a VM that was named is looked at again (`VmCore.get`) and compared
 * with what was last seen.
 * @module
 */
import { mkdirSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { ZonixError } from '../common/index.ts';
import { runPath } from '../platform/index.ts';
import { zoneDir } from '../zones/index.ts';
import type { VmCore } from './core.ts';
import { VmError } from './errors.ts';
import { changesDir, VM_UUID, type VmRecord } from './store.ts';

/** One step of a path into a VM object: a key, or `null` for "some element of an array". */
export type ChangePath = (string | null)[];

export interface VmChange {
  /** The path in dot notation, array elements as `*` (`nics.*.ips`). */
  prettyPath: string;
  path: ChangePath;
  action: 'added' | 'removed' | 'changed';
  oldValue?: unknown;
  newValue?: unknown;
  /** For a changed member of `nics` or `disks`: the value of its identifying key (mac, path). */
  ident?: unknown;
}

export interface VmEvent {
  type: 'create' | 'modify' | 'delete';
  date: Date;
  zonename: string;
  uuid: string;
  vm?: VmRecord;
  changes?: VmChange[];
}

/** Arrays of objects whose members are matched by a key, so a member's change is not "removed + added". */
const IDENTIFIERS: Record<string, string> = { disks: 'path', nics: 'mac' };

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `['nics', null, 'ips']` → `nics.*.ips`; keys with `.`, `[` or `]` in them are bracketed. */
export function prettyPath(path: ChangePath): string {
  let s = '';
  for (const p of path) {
    const elem = p ?? '*';
    if (/[.[\]]/.test(elem)) s += `[${elem.replace(/([[\]])/g, '\\$1')}]`;
    else s += (s ? '.' : '') + elem;
  }
  return s;
}

/** The changes that turn `a` into `b` (two VM objects, or parts of them), vminfod's way. */
export function diffVm(a: unknown, b: unknown, prefix: ChangePath = []): VmChange[] {
  if (a === b) return [];
  if (Array.isArray(a) && Array.isArray(b)) return diffArrays(a, b, prefix);
  if (isObject(a) && isObject(b)) return diffObjects(a, b, prefix);
  return [{ prettyPath: prettyPath(prefix), path: prefix, action: 'changed', oldValue: a, newValue: b }];
}

function diffObjects(a: Json, b: Json, prefix: ChangePath): VmChange[] {
  const changes: VmChange[] = [];
  for (const key of Object.keys(a)) {
    const path = [...prefix, key];
    if (!Object.hasOwn(b, key)) {
      changes.push({ prettyPath: prettyPath(path), path, action: 'removed', oldValue: a[key] });
      continue;
    }
    const [x, y] = [a[key], b[key]];
    if (x === y) continue;
    const bothArrays = Array.isArray(x) && Array.isArray(y);
    if (!bothArrays && !(isObject(x) && isObject(y))) {
      changes.push({ prettyPath: prettyPath(path), path, action: 'changed', oldValue: x, newValue: y });
      continue;
    }
    changes.push(...(bothArrays ? diffArrays(x, y, path, key) : diffVm(x, y, path)));
  }
  for (const key of Object.keys(b)) {
    if (Object.hasOwn(a, key)) continue;
    const path = [...prefix, key];
    changes.push({ prettyPath: prettyPath(path), path, action: 'added', newValue: b[key] });
  }
  return changes;
}

/**
 * Arrays are compared as sets of (serialised) members: a member only in `a` was removed, one only in
 * `b` added. Top-level `nics` and `disks` pair members by their mac or path and diff the pairs.
 */
function diffArrays(a: unknown[], b: unknown[], prefix: ChangePath, key?: string): VmChange[] {
  const path: ChangePath = [...prefix, null];
  const pretty = prettyPath(path);
  const as = a.map((v) => JSON.stringify(v));
  const bs = b.map((v) => JSON.stringify(v));
  let removed = a.filter((_, i) => !bs.includes(as[i]!));
  let added = b.filter((_, j) => !as.includes(bs[j]!));
  const ident = key !== undefined && prefix.length === 1 ? IDENTIFIERS[key] : undefined;
  const modified: [Json, Json][] = [];
  if (ident) {
    removed = removed.filter((x) => {
      const i = isObject(x) ? added.findIndex((y) => isObject(y) && y[ident] === x[ident]) : -1;
      if (i < 0) return true;
      modified.push([x as Json, added[i] as Json]);
      added = added.filter((_, j) => j !== i);
      return false;
    });
  }
  return [
    ...removed.map((v): VmChange => ({ prettyPath: pretty, path, action: 'removed', oldValue: v })),
    ...modified.flatMap(([x, y]) =>
      diffObjects(x, y, path).map((c): VmChange => ({ ...c, ident: x[ident!] })),
    ),
    ...added.map((v): VmChange => ({ prettyPath: pretty, path, action: 'added', newValue: v })),
  ];
}

/** `%j` as util.format prints it: JSON, or `undefined` for no value. */
const j = (v: unknown): string => (v === undefined ? 'undefined' : JSON.stringify(v));

/**
 * `vmadm events`' lines for one event: `[<time>] <uuid's first part> <alias or -> <type>`, and for a
 * modify one line per change, `<that>: <path> <action> :: <old> -> <new>`. `full`: the whole ISO date
 * and zonename.
 */
export function formatEvent(ev: VmEvent, opts: { full?: boolean } = {}): string[] {
  const date = formatDate(ev.date, opts.full);
  const zn = opts.full ? ev.zonename : ev.zonename.split('-')[0]!;
  const a = ev.vm?.alias;
  let alias = typeof a === 'string' && a ? a : '-';
  if (alias.length > 30) alias = `${alias.slice(0, 27)}...`;
  const base = `[${date}] ${zn} ${alias} ${ev.type}`;
  if (!ev.changes) return [base];
  return ev.changes.map(
    (c) => `${base}: ${c.prettyPath} ${c.action} :: ${j(c.oldValue)} -> ${j(c.newValue)}`,
  );
}

/** The `-r` line once the stream is ready: `[<time>] ready`, with `-f` `... ready (uuid <id>)`. */
export function formatReady(date: Date, id: string, opts: { full?: boolean } = {}): string {
  return opts.full ? `[${formatDate(date, true)}] ready (uuid ${id})` : `[${formatDate(date)}] ready`;
}

function formatDate(date: Date, full = false): string {
  const iso = date.toISOString();
  return full ? iso : iso.split('T')[1]!;
}

export interface WatchOptions {
  /** Only this VM. */
  uuid?: string;
  onEvent: (ev: VmEvent) => void;
  /** Watching stopped on an error (the watcher is closed). */
  onError?: (err: Error) => void;
  /** Changes that come together (a start touches several files) are looked at once: default 10 ms. */
  settleMs?: number;
  /**
   * Called at once, before that wait, whenever something about a VM may have changed: what caches
   * the VMs knows they are stale before the event comes.
   */
  onTouch?: (uuid: string) => void;
}

/**
 * Watches a pool's VMs and reports their events. Costs nothing while nothing changes: no timer runs,
 * the process sleeps in inotify. Watches: the store's change files, the zones folder (zones made and
 * removed), the VM locks (commands under way), and each zone's exit folder (init ended on its own).
 */
export class VmWatcher {
  private readonly known = new Map<string, VmRecord>();
  private readonly watchers: FSWatcher[] = [];
  private readonly exitWatchers = new Map<string, FSWatcher>();
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private closed = false;

  constructor(
    private readonly core: VmCore,
    private readonly opts: WatchOptions,
  ) {}

  /**
   * Start watching, then take the VMs as they are (nothing changed meanwhile is missed: it is looked at
   * again). Resolves to those VMs; with `uuid`, fails when there is no such VM.
   */
  async start(): Promise<VmRecord[]> {
    // The store's change files, zones made and removed, and the VM locks whose holders' intents show
    // as transitional states (shutting_down, provisioning): each is named after its VM.
    for (const dir of [changesDir(), runPath('zones'), runPath('vm-locks')]) {
      mkdirSync(dir, { recursive: true });
      const w = watch(dir, { persistent: true }, (_ev, name) => {
        if (typeof name === 'string' && !name.startsWith('.')) this.schedule(name.replace(/\.lock$/, ''));
      });
      w.on('error', (err) => this.fail(err));
      this.watchers.push(w);
    }
    const uuids = this.opts.uuid ? [this.opts.uuid] : this.core.store.uuids();
    for (const uuid of uuids) {
      this.watchExit(uuid);
      const vm = await this.look(uuid);
      if (vm) this.known.set(uuid, vm);
      else this.unwatchExit(uuid);
    }
    if (this.opts.uuid && !this.known.has(this.opts.uuid)) {
      this.close();
      throw new VmError('ENOENT', `VM ${this.opts.uuid} not found`);
    }
    return [...this.known.values()];
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
    for (const w of this.exitWatchers.values()) w.close();
    this.exitWatchers.clear();
  }

  /** Watching cannot go on (the run folder went away): stop and say why. */
  private fail(err: unknown): void {
    if (this.closed) return;
    this.close();
    this.opts.onError?.(err instanceof Error ? err : new Error(String(err)));
  }

  private schedule(name: string): void {
    if (this.closed || !VM_UUID.test(name) || (this.opts.uuid && name !== this.opts.uuid)) return;
    this.opts.onTouch?.(name);
    this.pending.add(name);
    if (!this.timer && !this.busy) this.timer = setTimeout(() => void this.flush(), this.opts.settleMs ?? 10);
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    this.busy = true;
    while (this.pending.size && !this.closed) {
      const batch = [...this.pending];
      this.pending.clear();
      for (const uuid of batch) {
        // A VM that cannot be read now (its pool is busy or gone) is looked at again at its next change.
        await this.refresh(uuid).catch(() => undefined);
      }
    }
    this.busy = false;
  }

  /**
   * (Re)watch the zone's exit folder: the monitor writes `exit/<id>` when init ends. The folder is
   * made again at each start, so the watch is renewed whenever the VM is looked at.
   */
  private watchExit(uuid: string): void {
    this.unwatchExit(uuid);
    try {
      const w = watch(join(zoneDir(uuid), 'exit'), { persistent: true }, () => this.schedule(uuid));
      w.on('error', () => {
        w.close();
        if (this.exitWatchers.get(uuid) === w) this.exitWatchers.delete(uuid);
      });
      this.exitWatchers.set(uuid, w);
    } catch {
      /* the zone has no folder now: the zones folder's watch says when it has one */
    }
  }

  private unwatchExit(uuid: string): void {
    this.exitWatchers.get(uuid)?.close();
    this.exitWatchers.delete(uuid);
  }

  /** The VM as `vmadm get` shows it, or undefined when there is no such (complete) VM. */
  private async look(uuid: string): Promise<VmRecord | undefined> {
    try {
      return await this.core.get(uuid);
    } catch (err) {
      if (err instanceof ZonixError && err.code === 'ENOENT') return undefined;
      throw err;
    }
  }

  private async refresh(uuid: string): Promise<void> {
    this.watchExit(uuid);
    const vm = await this.look(uuid);
    const old = this.known.get(uuid);
    if (this.closed) return;
    if (vm) this.known.set(uuid, vm);
    else {
      this.known.delete(uuid);
      this.unwatchExit(uuid);
    }
    if (!old && vm) this.emit({ type: 'create', uuid, zonename: zonenameOf(vm), vm });
    else if (old && !vm) this.emit({ type: 'delete', uuid, zonename: zonenameOf(old) });
    else if (old && vm) {
      const changes = diffVm(old, vm);
      if (changes.length) this.emit({ type: 'modify', uuid, zonename: zonenameOf(vm), vm, changes });
    }
  }

  private emit(ev: Omit<VmEvent, 'date'>): void {
    const { type, uuid, zonename, vm, changes } = ev;
    this.opts.onEvent({
      type,
      date: new Date(),
      zonename,
      uuid,
      ...(vm ? { vm } : {}),
      ...(changes ? { changes } : {}),
    });
  }
}

const zonenameOf = (vm: VmRecord): string => (typeof vm.zonename === 'string' ? vm.zonename : vm.uuid);
