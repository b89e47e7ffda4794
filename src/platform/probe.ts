/**
 * What this host can really do, found by trying it: run a container with each OCI runtime, boot a
 * 512-byte guest under KVM and under TCG, add and delete an nftables table and a network namespace,
 * run a bpftrace program. Every check has a timeout and never throws: a failure is a finding with a
 * `reason`. The result is cached in `<runDir>/probe.json` next to the kernel boot id and reused until
 * the host reboots (or `refresh` is asked for).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErrno, writeFileAtomicSync } from '../common/index.ts';
import {
  findTool,
  HostCommandError,
  HostCommandTimeoutError,
  run,
  spawnStream,
  ToolNotFoundError,
} from './exec.ts';
import { runDir } from './paths.ts';

/** A capability: `usable` only if the probe really exercised it; `reason` says why not. */
export interface Finding {
  usable: boolean;
  reason?: string;
}

export interface VersionedFinding extends Finding {
  /** The tool's version, or null when the tool is absent or its version could not be read. */
  version: string | null;
}

export type CgroupMode = 'v1' | 'v2' | 'hybrid' | 'none';
export type Accelerator = 'kvm' | 'tcg' | 'none';

export interface HostProbe {
  bootId: string;
  /** uname -r */
  kernel: string;
  /** ISO time the probe ran, and how long it took. */
  probedAt: string;
  durationMs: number;
  btrfs: Finding & { progsVersion: string | null };
  loop: Finding;
  cgroup: { mode: CgroupMode; controllers: string[] };
  runtimes: { runc: VersionedFinding; crun: VersionedFinding };
  kvm: Finding & { device: boolean };
  tcg: Finding;
  accelerator: Accelerator;
  nftables: VersionedFinding;
  tc: Finding;
  /** `path` is where tracefs is mounted, or where it would be mounted when it is not. */
  tracefs: { mounted: boolean; path: string };
  bpftrace: VersionedFinding;
  overlayfs: Finding;
  netns: Finding;
}

const CACHE_VERSION = 1;
const CACHE_FILE = 'probe.json';
const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';
const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];
const QEMU = 'qemu-system-x86_64';
const TRACEFS_DEFAULT = '/sys/kernel/tracing';
const CGROUP_ROOT = '/sys/fs/cgroup';
/** Prefix of everything a probe creates (container ids, cgroups, temp dirs, qemu -name, netns). */
export const PROBE_PREFIX = 'zonix-probe-';
/** Prefix of the probe's nftables tables (nft names take no dashes). */
export const PROBE_NFT_PREFIX = 'zonix_probe_';

const TIMEOUT = {
  version: 3_000,
  quick: 3_000,
  container: 10_000,
  /** A KVM guest that says nothing in 3 s never will (kvm_pvm hosts): the cold probe stays short. */
  guest: 3_000,
  /** TCG always boots where qemu runs; only a loaded host makes it slow, so wait longer for it. */
  tcgGuest: 8_000,
  bpftrace: 8_000,
};

// ---------------------------------------------------------------------------------------------------
// Pure helpers (tested on recorded text)

/** The first dotted version number in a tool's `--version` text: `runc version 1.1.5+ds1` → `1.1.5+ds1`. */
export function parseToolVersion(text: string): string | null {
  const m = /(?:^|[\s(])v?(\d+\.\d+(?:\.\d+)*(?:[+~-][\w.+~-]*)?)/.exec(text);
  return m?.[1] ?? null;
}

/** Filesystem names from /proc/filesystems (`nodev\tproc`, `\text4`). */
export function parseFilesystems(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/).at(-1) ?? '')
    .filter(Boolean);
}

/** True when a module of that name is listed in modules.dep or modules.builtin text. */
export function moduleListed(text: string, name: string): boolean {
  const re = new RegExp(`(^|/)${name}\\.ko(\\.[a-z]+)?:?(\\s|$)`, 'm');
  return re.test(text);
}

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  source: string;
  superOptions: string[];
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parse /proc/self/mountinfo. */
export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const [fsType, source, opts] = line.slice(sep + 3).split(' ');
    if (left.length < 5 || !fsType) continue;
    out.push({
      mountPoint: unescapeMount(left[4]!),
      fsType,
      source: source ?? '',
      superOptions: (opts ?? '').split(',').filter(Boolean),
    });
  }
  return out;
}

const V1_CONTROLLERS = new Set([
  'blkio',
  'cpu',
  'cpuacct',
  'cpuset',
  'devices',
  'freezer',
  'hugetlb',
  'memory',
  'misc',
  'net_cls',
  'net_prio',
  'perf_event',
  'pids',
  'rdma',
]);

/**
 * The cgroup layout from the mount table: `v2` when only cgroup2 is mounted, `v1` when only v1
 * hierarchies are, `hybrid` when both are. Controllers are those bound to v1 hierarchies plus the ones
 * listed in `v2Controllers` (the root's cgroup.controllers).
 */
export function cgroupLayout(mounts: MountEntry[], v2Controllers: string[] = []): HostProbe['cgroup'] {
  const v1 = mounts.filter((m) => m.fsType === 'cgroup');
  const v2 = mounts.some((m) => m.fsType === 'cgroup2');
  const mode: CgroupMode = v1.length && v2 ? 'hybrid' : v1.length ? 'v1' : v2 ? 'v2' : 'none';
  const controllers = new Set(v1.flatMap((m) => m.superOptions.filter((o) => V1_CONTROLLERS.has(o))));
  for (const c of v2Controllers) controllers.add(c);
  return { mode, controllers: [...controllers].sort() };
}

/** Where tracefs is mounted (preferring /sys/kernel/tracing), if anywhere. */
export function tracefsMount(mounts: MountEntry[]): string | undefined {
  const points = mounts.filter((m) => m.fsType === 'tracefs').map((m) => m.mountPoint);
  return points.includes(TRACEFS_DEFAULT) ? TRACEFS_DEFAULT : points[0];
}

/** KVM if a guest booted under it, else TCG if one booted under that, else none. */
export function chooseAccelerator(kvm: Finding, tcg: Finding): Accelerator {
  return kvm.usable ? 'kvm' : tcg.usable ? 'tcg' : 'none';
}

/**
 * A 512-byte x86 boot sector that writes `marker` to COM1 (port 0x3f8) and then halts forever. BIOS
 * loads it at 0000:7c00 in real mode.
 */
export function buildBootSector(marker: string): Uint8Array {
  const program: number[][] = [
    [0xfa], //             cli
    [0xfc], //             cld
    [0x31, 0xc0], //       xor ax, ax
    [0x8e, 0xd8], //       mov ds, ax
    [0xbe, 0x00, 0x00], // mov si, <message address> (patched below)
    [0xba, 0xf8, 0x03], // mov dx, 0x3f8
    [0xac], //             next: lodsb
    [0x84, 0xc0], //       test al, al
    [0x74, 0x03], //       jz halt
    [0xee], //             out dx, al
    [0xeb, 0xf8], //       jmp next
    [0xf4], //             halt: hlt
    [0xeb, 0xfd], //       jmp halt
  ];
  const code = program.flat();
  const message = Buffer.from(`${marker}\r\n\0`, 'latin1');
  if (code.length + message.length > 510) throw new Error('boot sector marker too long');
  const addr = 0x7c00 + code.length;
  const si = program.slice(0, 4).flat().length + 1;
  code[si] = addr & 0xff;
  code[si + 1] = addr >> 8;
  const sector = Buffer.alloc(512);
  Buffer.from(code).copy(sector);
  message.copy(sector, code.length);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return new Uint8Array(sector);
}

/** The qemu command line that boots `image` with `accel`, with nothing attached but COM1 on stdout. */
export function guestArgv(opts: { accel: 'kvm' | 'tcg'; image: string; name: string }): string[] {
  return [
    ...['-name', opts.name, '-nodefaults', '-no-user-config', '-machine', 'pc', '-m', '16'],
    ...['-accel', opts.accel, '-display', 'none', '-serial', 'stdio', '-monitor', 'none', '-no-reboot'],
    ...['-drive', `file=${opts.image},format=raw,if=ide,snapshot=on`],
  ];
}

/** A minimal OCI runtime spec that runs `busybox true` in fresh namespaces and its own top-level cgroup. */
export function probeBundleSpec(opts: { rootfs: string; cgroupsPath: string }): Record<string, unknown> {
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['/bin/busybox', 'true'],
      env: ['PATH=/bin'],
      cwd: '/',
      noNewPrivileges: true,
      // No rlimits: the container inherits the caller's, so nothing can exceed a hard limit.
    },
    root: { path: opts.rootfs, readonly: true },
    hostname: 'zonix-probe',
    // runc reads /proc/self/fd in the container before exec, so /proc must be mounted.
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    linux: {
      // Absolute, so runc does not nest it under the caller's cgroup.
      cgroupsPath: opts.cgroupsPath,
      namespaces: ['pid', 'ipc', 'uts', 'mount', 'network'].map((type) => ({ type })),
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Running things without throwing

type Attempt = { ok: true; stdout: string } | { ok: false; reason: string };

function shorten(s: string, max = 300): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** `runc run`, `qemu-system-x86_64`: the tool and its subcommand, without the long tail of arguments. */
function commandLabel(tool: string, argv: readonly string[]): string {
  const sub = argv[0];
  return sub && !sub.startsWith('-') ? `${tool} ${sub}` : tool;
}

function reasonOf(err: unknown): string {
  if (err instanceof ToolNotFoundError) return `${err.tool} not installed`;
  if (err instanceof HostCommandTimeoutError)
    return `${commandLabel(err.tool, err.argv)} timed out after ${err.timeoutMs} ms`;
  if (err instanceof HostCommandError) {
    const how = err.signal ? `killed by ${err.signal}` : `exit ${err.exitCode}`;
    const detail = err.stderr.trim().split('\n').slice(-2).join('; ');
    return shorten(`${commandLabel(err.tool, err.argv)} failed (${how})${detail ? `: ${detail}` : ''}`);
  }
  if (err instanceof Error) return shorten(err.message);
  return shorten(String(err));
}

async function attempt(tool: string, argv: string[], timeoutMs: number): Promise<Attempt> {
  try {
    const { stdout } = await run(tool, argv, { timeoutMs });
    return { ok: true, stdout };
  } catch (err) {
    return { ok: false, reason: reasonOf(err) };
  }
}

async function toolVersion(tool: string, argv = ['--version']): Promise<string | null> {
  const res = await attempt(tool, argv, TIMEOUT.version);
  return res.ok ? parseToolVersion(res.stdout) : null;
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

/** Run a check; if it throws anyway (a bug), report that as the finding rather than failing the probe. */
async function guard<T>(check: () => Promise<T>, onError: (reason: string) => T): Promise<T> {
  try {
    return await check();
  } catch (err) {
    return onError(`probe failed: ${reasonOf(err)}`);
  }
}

const unusable = (reason: string): Finding => ({ usable: false, reason });
const unusableVersioned = (reason: string): VersionedFinding => ({ usable: false, version: null, reason });

// ---------------------------------------------------------------------------------------------------
// The individual probes

interface ProbeContext {
  id: string;
  scratch: string;
  filesystems: string[];
  mounts: MountEntry[];
}

async function probeBtrfs(ctx: ProbeContext): Promise<HostProbe['btrfs']> {
  if (!findTool('btrfs')) return { usable: false, progsVersion: null, reason: 'btrfs-progs not installed' };
  const progsVersion = await toolVersion('btrfs', ['version']);
  if (ctx.filesystems.includes('btrfs')) return { usable: true, progsVersion };
  const modules = join('/lib/modules', release());
  const listed = [
    await readText(join(modules, 'modules.dep')),
    await readText(join(modules, 'modules.builtin')),
  ];
  if (listed.some((t) => moduleListed(t, 'btrfs'))) return { usable: true, progsVersion };
  return { usable: false, progsVersion, reason: 'kernel has no btrfs support (not built in, no module)' };
}

function probeLoop(): Finding {
  if (!existsSync('/dev/loop-control')) return unusable('/dev/loop-control missing');
  if (!findTool('losetup')) return unusable('losetup not installed');
  return { usable: true };
}

async function probeCgroup(ctx: ProbeContext): Promise<HostProbe['cgroup']> {
  const v2 = ctx.mounts.find((m) => m.fsType === 'cgroup2');
  const v2Controllers = v2 ? (await readText(join(v2.mountPoint, 'cgroup.controllers'))).split(/\s+/) : [];
  return cgroupLayout(ctx.mounts, v2Controllers.filter(Boolean));
}

async function removeCgroup(name: string): Promise<void> {
  let hierarchies: string[] = [];
  try {
    hierarchies = (await readdir(CGROUP_ROOT, { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => join(CGROUP_ROOT, d.name));
  } catch {
    /* no cgroupfs */
  }
  for (const dir of [CGROUP_ROOT, ...hierarchies].map((h) => join(h, name))) {
    for (let tries = 0; tries < 5; tries++) {
      try {
        await rmdir(dir);
        break;
      } catch (err) {
        if (!isErrno(err, 'EBUSY')) break;
        await sleep(50);
      }
    }
  }
}

async function prepareRootfs(ctx: ProbeContext): Promise<string> {
  const busybox = BUSYBOX_CANDIDATES.find((p) => existsSync(p));
  if (!busybox) throw new Error('no static busybox (install busybox-static)');
  const rootfs = join(ctx.scratch, 'rootfs');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await mkdir(join(rootfs, 'proc'));
  await copyFile(busybox, join(rootfs, 'bin', 'busybox'));
  return rootfs;
}

/** Run `busybox true` in a container with `runtime` (runc or crun); always delete it and its cgroup. */
async function probeRuntime(
  runtime: 'runc' | 'crun',
  ctx: ProbeContext,
  rootfs: Promise<string>,
): Promise<VersionedFinding> {
  if (!findTool(runtime)) return unusableVersioned(`${runtime} not installed`);
  const version = await toolVersion(runtime);
  const name = `${PROBE_PREFIX}${runtime}-${ctx.id}`;
  const bundle = join(ctx.scratch, runtime);
  try {
    await mkdir(bundle);
    const spec = probeBundleSpec({ rootfs: await rootfs, cgroupsPath: `/${name}` });
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
    const res = await attempt(runtime, ['run', '--bundle', bundle, name], TIMEOUT.container);
    return res.ok ? { usable: true, version } : { usable: false, version, reason: res.reason };
  } catch (err) {
    return { usable: false, version, reason: reasonOf(err) };
  } finally {
    await attempt(runtime, ['delete', '--force', name], TIMEOUT.quick);
    await removeCgroup(name);
  }
}

function waitForText(stream: Readable | null, text: string): Promise<void> {
  return new Promise((resolve) => {
    let seen = '';
    stream?.on('data', (d: Buffer) => {
      seen = (seen + d.toString('latin1')).slice(-4096);
      if (seen.includes(text)) resolve();
    });
  });
}

/** Boot the tiny guest under `accel`; usable only if its marker reached the serial port in time. */
async function bootGuest(
  accel: 'kvm' | 'tcg',
  image: Promise<{ path: string; marker: string }>,
): Promise<Finding> {
  const limit = accel === 'tcg' ? TIMEOUT.tcgGuest : TIMEOUT.guest;
  if (process.arch !== 'x64') return unusable(`the guest probe is x86-only (host is ${process.arch})`);
  if (!findTool(QEMU)) return unusable(`${QEMU} not installed`);
  const { path, marker } = await image;
  const name = `${PROBE_PREFIX}${accel}-${marker.slice(-8)}`;
  const proc = spawnStream(QEMU, guestArgv({ accel, image: path, name }), { stdout: 'pipe' });
  const exited = proc.done.then(
    () => 'qemu exited',
    (err: unknown) => reasonOf(err),
  );
  const timer = new AbortController();
  const outcome = await Promise.race([
    waitForText(proc.child.stdout, marker).then((): Finding => ({ usable: true })),
    exited.then((reason) => unusable(reason)),
    sleep(limit, undefined, { signal: timer.signal }).then(
      () => unusable(`guest gave no sign of life within ${limit} ms`),
      () => unusable('aborted'),
    ),
  ]);
  timer.abort();
  proc.child.kill('SIGKILL');
  await exited;
  return outcome;
}

async function prepareGuestImage(ctx: ProbeContext): Promise<{ path: string; marker: string }> {
  const marker = `ZONIX-PROBE-OK-${ctx.id}`;
  const path = join(ctx.scratch, 'guest.img');
  await writeFile(path, buildBootSector(marker));
  return { path, marker };
}

async function probeKvm(image: Promise<{ path: string; marker: string }>): Promise<HostProbe['kvm']> {
  const device = existsSync('/dev/kvm');
  if (!device) return { device, usable: false, reason: '/dev/kvm missing' };
  return { device, ...(await bootGuest('kvm', image)) };
}

async function probeNftables(ctx: ProbeContext): Promise<VersionedFinding> {
  if (!findTool('nft')) return unusableVersioned('nft not installed');
  const version = await toolVersion('nft');
  const table = `${PROBE_NFT_PREFIX}${ctx.id}`;
  const added = await attempt('nft', ['add', 'table', 'bridge', table], TIMEOUT.quick);
  if (!added.ok) return { usable: false, version, reason: added.reason };
  const deleted = await attempt('nft', ['delete', 'table', 'bridge', table], TIMEOUT.quick);
  if (!deleted.ok) {
    await attempt('nft', ['delete', 'table', 'bridge', table], TIMEOUT.quick);
    return { usable: false, version, reason: deleted.reason };
  }
  return { usable: true, version };
}

async function probeTc(): Promise<Finding> {
  const res = await attempt('tc', ['qdisc', 'show', 'dev', 'lo'], TIMEOUT.quick);
  return res.ok ? { usable: true } : unusable(res.reason);
}

async function probeNetns(ctx: ProbeContext): Promise<Finding> {
  const name = `${PROBE_PREFIX}${ctx.id}`;
  const added = await attempt('ip', ['netns', 'add', name], TIMEOUT.quick);
  if (!added.ok) return unusable(added.reason);
  const deleted = await attempt('ip', ['netns', 'delete', name], TIMEOUT.quick);
  return deleted.ok ? { usable: true } : unusable(deleted.reason);
}

async function probeBpftrace(ctx: ProbeContext): Promise<VersionedFinding> {
  if (!findTool('bpftrace')) return unusableVersioned('bpftrace not installed');
  const version = await toolVersion('bpftrace');
  const marker = `zonix-bpftrace-${ctx.id}`;
  const res = await attempt(
    'bpftrace',
    ['-e', `BEGIN { printf("${marker}\\n"); exit(); }`],
    TIMEOUT.bpftrace,
  );
  if (!res.ok) return { usable: false, version, reason: res.reason };
  if (!res.stdout.includes(marker)) return { usable: false, version, reason: 'BEGIN probe printed nothing' };
  return { usable: true, version };
}

// ---------------------------------------------------------------------------------------------------
// Orchestration and cache

async function runProbes(bootId: string): Promise<HostProbe> {
  const started = Date.now();
  const [filesystemsText, mountinfoText] = await Promise.all([
    readText('/proc/filesystems'),
    readText('/proc/self/mountinfo'),
  ]);
  const ctx: ProbeContext = {
    id: randomBytes(4).toString('hex'),
    scratch: await mkdtemp(join(tmpdir(), PROBE_PREFIX)),
    filesystems: parseFilesystems(filesystemsText),
    mounts: parseMountInfo(mountinfoText),
  };
  try {
    const rootfs = prepareRootfs(ctx);
    rootfs.catch(() => undefined); // each runtime probe reports the failure
    const image = prepareGuestImage(ctx);
    image.catch(() => undefined);
    const [btrfs, cgroup, runc, crun, kvm, tcg, nftables, tc, netns, bpftrace] = await Promise.all([
      guard(
        () => probeBtrfs(ctx),
        (reason) => ({ usable: false, progsVersion: null, reason }),
      ),
      guard(
        () => probeCgroup(ctx),
        () => ({ mode: 'none' as const, controllers: [] }),
      ),
      guard(() => probeRuntime('runc', ctx, rootfs), unusableVersioned),
      guard(() => probeRuntime('crun', ctx, rootfs), unusableVersioned),
      guard(
        () => probeKvm(image),
        (reason) => ({ device: existsSync('/dev/kvm'), usable: false, reason }),
      ),
      guard(() => bootGuest('tcg', image), unusable),
      guard(() => probeNftables(ctx), unusableVersioned),
      guard(probeTc, unusable),
      guard(() => probeNetns(ctx), unusable),
      guard(() => probeBpftrace(ctx), unusableVersioned),
    ]);
    const tracefs = tracefsMount(ctx.mounts);
    return {
      bootId,
      kernel: release(),
      probedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      btrfs,
      loop: probeLoop(),
      cgroup,
      runtimes: { runc, crun },
      kvm,
      tcg,
      accelerator: chooseAccelerator(kvm, tcg),
      nftables,
      tc,
      tracefs: { mounted: tracefs !== undefined, path: tracefs ?? TRACEFS_DEFAULT },
      bpftrace,
      overlayfs: ctx.filesystems.includes('overlay')
        ? { usable: true }
        : unusable('no overlay in /proc/filesystems'),
      netns,
    };
  } finally {
    await rm(ctx.scratch, { recursive: true, force: true });
  }
}

interface CacheFile {
  cacheVersion: number;
  probe: HostProbe;
}

async function readCache(path: string, bootId: string): Promise<HostProbe | undefined> {
  try {
    const cache = JSON.parse(await readFile(path, 'utf8')) as Partial<CacheFile>;
    if (cache.cacheVersion === CACHE_VERSION && cache.probe?.bootId === bootId) return cache.probe;
  } catch {
    /* missing or unreadable: probe again */
  }
  return undefined;
}

function writeCache(path: string, probe: HostProbe): void {
  try {
    writeFileAtomicSync(
      path,
      JSON.stringify({ cacheVersion: CACHE_VERSION, probe } satisfies CacheFile) + '\n',
    );
  } catch {
    /* not fatal: the next call probes again */
  }
}

/**
 * The probe this boot already made, if any, read without probing (for choices made on every command,
 * such as the runtime of a new VM, that must not wait for a cold probe).
 */
export function cachedProbeSync(): HostProbe | undefined {
  try {
    const bootId = readFileSync(BOOT_ID_FILE, 'utf8').trim() || 'unknown';
    const cache = JSON.parse(readFileSync(join(runDir(), CACHE_FILE), 'utf8')) as Partial<CacheFile>;
    if (cache.cacheVersion === CACHE_VERSION && cache.probe?.bootId === bootId) return cache.probe;
  } catch {
    /* not probed yet this boot */
  }
  return undefined;
}

let inflight: Promise<HostProbe> | undefined;

/**
 * What the host can do. Cached per boot in `<runDir>/probe.json`; `refresh` probes again. Callers that
 * ask while a probe runs share it.
 */
export async function probeHost(opts: { refresh?: boolean } = {}): Promise<HostProbe> {
  const bootId = (await readText(BOOT_ID_FILE)).trim() || 'unknown';
  const path = join(runDir(), CACHE_FILE);
  if (!opts.refresh) {
    const cached = await readCache(path, bootId);
    if (cached) return cached;
  }
  inflight ??= (async () => {
    try {
      const probe = await runProbes(bootId);
      await mkdir(runDir(), { recursive: true }).catch(() => undefined);
      writeCache(path, probe);
      return probe;
    } finally {
      inflight = undefined;
    }
  })();
  return inflight;
}
