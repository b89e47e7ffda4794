/**
 * A VM of an OS brand as a running zone: its manifest turned into a zone spec (resource controls in
 * MiB become bytes, `filesystems` become bind mounts, `resolvers` and `hostname` are written into the
 * zone), and its live state read from the runtime and the monitor's exit record.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../platform/index.ts';
import { nativeDir } from '../platform/index.ts';
import {
  buildOciSpec,
  zoneCgroupPath,
  type ZoneRuntime,
  type ZoneMount,
  type ZoneResources,
  type ZoneSpec,
} from '../zones/index.ts';
import { readZoneEtcFile, writeFileAtomicSync, writeZoneEtcFile } from '../common/index.ts';
import { liveStateSync, type LiveState } from './live.ts';
import type { VmRecord } from './store.ts';

const MiB = 1024 * 1024;

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const mib = (v: unknown): number | undefined => {
  const n = num(v);
  return n === undefined ? undefined : n * MiB;
};

/** The zone a VM runs as. */
export function zoneSpecFor(vm: VmRecord, zonepath: string): ZoneSpec {
  const filesystems = Array.isArray(vm.filesystems) ? (vm.filesystems as Record<string, unknown>[]) : [];
  const mounts: ZoneMount[] = filesystems
    .filter((f) => typeof f.source === 'string' && typeof f.target === 'string')
    .map((f) => ({
      source: f.source as string,
      target: f.target as string,
      readonly: Array.isArray(f.options) && (f.options as unknown[]).includes('ro'),
    }));
  const native = nativeDir();
  return {
    id: vm.uuid,
    rootfs: join(zonepath, 'root'),
    hostname: zoneHostname(vm, zonepath).name,
    cgroupsPath: zoneCgroupPath(vm.uuid),
    // init's stdio is a terminal kept by the monitor: the zone console (vmadm console, zlogin -C).
    terminal: true,
    resources: zoneResourcesOf(vm),
    native: existsSync(native) ? [{ source: native, target: '/native', readonly: true }] : [],
    tmpfsBytes: mib(vm.tmpfs) ?? 0,
    mounts,
  };
}

/** A VM's resource properties (MiB, percent, counts) as its zone's limits (bytes). */
export function zoneResourcesOf(vm: Readonly<Record<string, unknown>>): ZoneResources {
  const memoryBytes = mib(vm.max_physical_memory);
  const swapBytes = mib(vm.max_swap);
  const cpuCap = num(vm.cpu_cap);
  const cpuShares = num(vm.cpu_shares);
  const pids = num(vm.max_lwps);
  const lockedBytes = mib(vm.max_locked_memory);
  return {
    ...(memoryBytes !== undefined ? { memoryBytes } : {}),
    ...(swapBytes !== undefined ? { swapBytes } : {}),
    ...(cpuCap !== undefined ? { cpuCap } : {}),
    ...(cpuShares !== undefined ? { cpuShares } : {}),
    ...(pids !== undefined ? { pids } : {}),
    ...(lockedBytes !== undefined ? { lockedBytes } : {}),
  };
}

/** In a VM's config folder: the hostname the host last wrote into its zone's /etc/hostname. */
const HOSTNAME_WRITTEN = 'hostname';
const HOSTNAME_RE = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?$/;

/**
 * The zone's hostname at boot, as SmartOS has it: the VM's `hostname` (else its UUID) is written into
 * the zone when it is new or changed (create, `vmadm update hostname=`); since then, the name the
 * zone keeps in its own /etc/hostname (what cloud-init or an admin in the zone set) is its name.
 */
export function zoneHostname(vm: VmRecord, zonepath: string): { name: string; fromVm: boolean } {
  const wanted = typeof vm.hostname === 'string' && vm.hostname ? vm.hostname : vm.uuid;
  let last: string | undefined;
  try {
    last = readFileSync(join(zonepath, 'config', HOSTNAME_WRITTEN), 'utf8').trim();
  } catch {
    last = undefined;
  }
  if (last === wanted) {
    const own = readZoneEtcFile(join(zonepath, 'root'), 'hostname', 256)?.split('\n')[0]?.trim();
    if (own && HOSTNAME_RE.test(own)) return { name: own, fromVm: false };
  }
  return { name: wanted, fromVm: true };
}

/**
 * Files the host keeps in the zone: /etc/hostname, /etc/hosts and (from `resolvers`) resolv.conf,
 * written so that links the zone made cannot send them anywhere else.
 */
export async function writeZoneFiles(vm: VmRecord, zonepath: string): Promise<void> {
  const root = join(zonepath, 'root');
  await mkdir(join(root, 'etc'), { recursive: true });
  const { name: hostname, fromVm } = zoneHostname(vm, zonepath);
  if (fromVm) {
    writeZoneEtcFile(root, 'hostname', `${hostname}\n`);
    // A first boot runs while its manifest is being written: the folder may not be there yet.
    await mkdir(join(zonepath, 'config'), { recursive: true });
    writeFileAtomicSync(join(zonepath, 'config', HOSTNAME_WRITTEN), `${hostname}\n`);
  }
  writeZoneEtcFile(root, 'hosts', `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost\n`);
  const resolvers = Array.isArray(vm.resolvers) ? (vm.resolvers as string[]) : [];
  if (resolvers.length || vm.maintain_resolvers === true)
    writeZoneEtcFile(root, 'resolv.conf', resolvers.map((r) => `nameserver ${r}\n`).join(''));
}

export { writeZoneEtcFile } from '../common/index.ts';

export type { LiveState } from './live.ts';
export { liveStateSync } from './live.ts';

/** What the runtime says about the VM's zone now. */
export async function liveState(runtime: ZoneRuntime, uuid: string, zones?: Set<string>): Promise<LiveState> {
  return Promise.resolve(liveStateSync(runtime, uuid, zones));
}

/**
 * Boot the VM's zone: its host-kept files, `prepare` (what must exist before the zone is made), the
 * container from the VM's zone spec, `attach` (what needs its namespaces, before its init runs), then
 * init started. Resolves to init's PID.
 */
export async function startZone(
  runtime: ZoneRuntime,
  vm: VmRecord,
  zonepath: string,
  steps: { spec?: ZoneSpec; prepare?: () => Promise<void>; attach?: (pid: number) => Promise<void> } = {},
): Promise<number> {
  // A stopped zone's leftovers (its exited container) go before it starts again.
  if (runtime.stateSync(vm.uuid)) await runtime.delete(vm.uuid, { force: true });
  await writeZoneFiles(vm, zonepath);
  await steps.prepare?.();
  await runtime.create(vm.uuid, buildOciSpec(steps.spec ?? zoneSpecFor(vm, zonepath)));
  const pid = runtime.stateSync(vm.uuid)?.pid ?? 0;
  // The zone's namespaces exist; its init waits to run until the hooks have done their part.
  await steps.attach?.(pid);
  await runtime.start(vm.uuid);
  return pid;
}

/**
 * Stop: ask init to halt (`halt` is the brand's halt signal or command), wait up to `timeoutMs`, then
 * kill everything. `force` kills at once.
 */
export async function stopZone(
  runtime: ZoneRuntime,
  uuid: string,
  opts: { force?: boolean; timeoutMs?: number; haltSignal?: string; haltCommand?: readonly string[] } = {},
): Promise<void> {
  const gone = () => {
    const now = runtime.stateSync(uuid);
    return !now || now.status === 'stopped';
  };
  if (gone()) return;
  if (!opts.force) {
    const bySignal = !(await runHalt(runtime, uuid, opts.haltCommand));
    const signal = signalName(opts.haltSignal ?? 'TERM');
    if (bySignal) runtime.signalInit(uuid, signal);
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    // A zone's init ignores signals it has no handler for yet (it is PID 1 of its namespace): one
    // that has just started may miss the first, so the signal goes again every second.
    for (let i = 1; Date.now() < deadline; i++) {
      if (gone()) return;
      await sleep(20);
      if (bySignal && i % 50 === 0) runtime.signalInit(uuid, signal);
    }
  }
  // Killing init, PID 1 of the zone's PID namespace, takes every process of the zone with it.
  runtime.signalInit(uuid, 'SIGKILL');
  for (let i = 0; i < 1000 && !gone(); i++) await sleep(i < 50 ? 2 : 20);
  // Whatever escaped (a process that joined the cgroup from outside) goes through the runtime.
  if (!gone()) await runtime.kill(uuid, 'KILL', true).catch(() => undefined);
}

/**
 * Start the brand's halt (or reboot) command in the zone, detached, when the zone has it; false when it
 * has not, or it could not be started.
 */
export async function runHalt(
  runtime: ZoneRuntime,
  uuid: string,
  command: readonly string[] | undefined,
): Promise<boolean> {
  const st = runtime.stateSync(uuid);
  if (!command?.length || st?.status !== 'running') return false;
  if (!existsSync(join('/proc', String(st.pid), 'root', command[0]!))) return false;
  try {
    await run(runtime.info.path, runtime.execArgv(uuid, [...command], { detach: true }), {
      timeoutMs: 30_000,
    });
    return true;
  } catch {
    return false;
  }
}

/** `TERM`, `SIGTERM` or `15` as Node's signal name or number. */
export function signalName(signal: string): NodeJS.Signals {
  if (/^\d+$/.test(signal)) {
    const entry = Object.entries(osConstants.signals).find(([, n]) => n === Number(signal));
    if (!entry) throw new RangeError(`unknown signal ${signal}`);
    return entry[0] as NodeJS.Signals;
  }
  return `SIG${signal.toUpperCase().replace(/^SIG/, '')}` as NodeJS.Signals;
}
