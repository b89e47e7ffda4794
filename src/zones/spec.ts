/**
 * The OCI runtime spec of a zone: every namespace, the image's init as PID 1, a private /dev with safe
 * devices only, a capability set and a seccomp profile that keep root in the zone away from the host
 * (no module loading, raw devices, kexec, clock changes, mounts outside its tree), resource limits
 * in the zone's own cgroup, and rlimits no higher than the caller's own hard limits.
 * @module
 */
import { readFileSync } from 'node:fs';
import { cgroupLimits, type ZoneResources } from './resources.ts';

export type { ZoneResources } from './resources.ts';

export interface ZoneMount {
  source: string;
  target: string;
  readonly?: boolean;
}

export interface ZoneSpec {
  id: string;
  rootfs: string;
  hostname: string;
  /** PID 1 and its arguments (default /sbin/init). */
  args?: string[];
  env?: string[];
  cwd?: string;
  /** Give init a terminal (the zone console). */
  terminal?: boolean;
  /** Absolute cgroup path, so the zone never nests under the caller's cgroup. */
  cgroupsPath: string;
  resources?: ZoneResources;
  /** Size of the tmpfs on /tmp in bytes; 0 or absent for none. */
  tmpfsBytes?: number;
  mounts?: ZoneMount[];
  /** Read-only bind mounts of the platform's tools (/native). */
  native?: ZoneMount[];
  /** Capabilities of init (default ZONE_CAPABILITIES); an HVM zone's QEMU keeps none. */
  capabilities?: string[];
  /** Character devices the zone may open, made in its /dev (an HVM zone: /dev/net/tun, /dev/kvm). */
  devices?: ZoneDevice[];
  /** init and what it runs can never gain privileges (setuid, file capabilities). */
  noNewPrivileges?: boolean;
}

export interface ZoneDevice {
  path: string;
  major: number;
  minor: number;
}

/**
 * Capabilities root keeps in a zone: the usual container set less MKNOD (no device nodes), plus
 * NET_ADMIN for its own network namespace, and never
 * SYS_ADMIN, SYS_MODULE, SYS_TIME, SYS_RAWIO or SYS_PTRACE.
 */
export const ZONE_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_NET_RAW',
  // Root in a zone configures its own network stack (its namespace only), as in a SmartOS zone;
  // anti-spoofing is enforced in the host, where this does not reach.
  'CAP_NET_ADMIN',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
  // reboot(2) in a PID namespace only ends that namespace's init: a zone may halt itself.
  'CAP_SYS_BOOT',
];

/** System calls a zone may never make, whatever its capabilities. */
export const DENIED_SYSCALLS = [
  'kexec_load',
  'kexec_file_load',
  'init_module',
  'finit_module',
  'delete_module',
  'create_module',
  'settimeofday',
  'clock_settime',
  'clock_adjtime',
  'adjtimex',
  'stime',
  'swapon',
  'swapoff',
  'acct',
  'bpf',
  'perf_event_open',
  'open_by_handle_at',
  'name_to_handle_at',
  'iopl',
  'ioperm',
  'lookup_dcookie',
  'quotactl',
  'userfaultfd',
  'add_key',
  'request_key',
  'keyctl',
  'kcmp',
  'process_vm_readv',
  'process_vm_writev',
  'syslog',
  'vhangup',
  'nfsservctl',
  'uselib',
  'mount',
  'umount2',
  'pivot_root',
  'move_mount',
  'open_tree',
  'fsopen',
  'fsmount',
  'fsconfig',
  'fspick',
  'unshare',
  'setns',
];

/** The caller's hard limit for a resource (a zone never asks for more). */
export function hardLimit(
  name: 'Max open files' | 'Max processes' | 'Max locked memory',
  limitsText?: string,
): number | undefined {
  const text = limitsText ?? readFileSync('/proc/self/limits', 'utf8');
  const line = text.split('\n').find((l) => l.startsWith(name));
  const hard = line?.slice(26).trim().split(/\s+/)[1];
  return hard === undefined || hard === 'unlimited' ? undefined : Number(hard);
}

/** The zones' PATH: the usual folders, then the platform's tools (mdata-get and the rest). */
const DEFAULT_PATH =
  'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/local/bin:/native/usr/sbin:/native/usr/bin';

export function buildOciSpec(
  z: ZoneSpec,
  limits: { nofile?: number; nproc?: number; memlock?: number } = {
    nofile: hardLimit('Max open files'),
    nproc: hardLimit('Max processes'),
    memlock: hardLimit('Max locked memory'),
  },
) {
  const nofile = Math.min(limits.nofile ?? 65536, 65536);
  const memlock =
    z.resources?.lockedBytes === undefined
      ? undefined
      : Math.min(z.resources.lockedBytes, limits.memlock ?? Number.MAX_SAFE_INTEGER);
  const r = z.resources ?? {};
  const mounts: Record<string, unknown>[] = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
    },
  ];
  if (z.tmpfsBytes)
    mounts.push({
      destination: '/tmp',
      type: 'tmpfs',
      source: 'swap',
      options: ['nosuid', 'nodev', 'mode=1777', `size=${z.tmpfsBytes}`],
    });
  for (const m of [...(z.native ?? []), ...(z.mounts ?? [])]) {
    mounts.push({
      destination: m.target,
      type: 'bind',
      source: m.source,
      options: ['rbind', 'nosuid', 'nodev', m.readonly ? 'ro' : 'rw'],
    });
  }
  const devices = z.devices ?? [];
  const resources: Record<string, unknown> = {
    devices: [
      { allow: false, access: 'rwm' },
      ...devices.map((d) => ({ allow: true, type: 'c', major: d.major, minor: d.minor, access: 'rwm' })),
    ],
  };
  const caps = z.capabilities ?? ZONE_CAPABILITIES;
  Object.assign(resources, cgroupLimits(r));
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: z.terminal ?? false,
      user: { uid: 0, gid: 0 },
      args: z.args ?? ['/sbin/init'],
      env: z.env ?? [DEFAULT_PATH, 'TERM=xterm'],
      cwd: z.cwd ?? '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [
        { type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile },
        ...(memlock !== undefined ? [{ type: 'RLIMIT_MEMLOCK', hard: memlock, soft: memlock }] : []),
      ],
      noNewPrivileges: z.noNewPrivileges ?? false,
    },
    root: { path: z.rootfs, readonly: false },
    hostname: z.hostname,
    mounts,
    linux: {
      cgroupsPath: z.cgroupsPath,
      resources,
      ...(devices.length
        ? {
            devices: devices.map((d) => ({
              path: d.path,
              type: 'c',
              major: d.major,
              minor: d.minor,
              fileMode: 0o600,
              uid: 0,
              gid: 0,
            })),
          }
        : {}),
      namespaces: ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup'].map((type) => ({ type })),
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/proc/scsi',
        '/sys/firmware',
        '/sys/devices/virtual/powercap',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
      seccomp: {
        defaultAction: 'SCMP_ACT_ALLOW',
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
        syscalls: [{ names: DENIED_SYSCALLS, action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
      },
    },
  };
}

export type OciSpec = ReturnType<typeof buildOciSpec>;
