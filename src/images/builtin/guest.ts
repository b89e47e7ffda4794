/**
 * The built-in `zonix-guest` image: a small raw disk for KVM-brand VMs that SeaBIOS boots in a few
 * seconds, even under TCG. An MBR disk (syslinux's MBR code) with one FAT partition holding syslinux,
 * Debian's kernel (from the `linux-image-*-amd64` package `linux-image-amd64` depends on) and a
 * busybox initramfs: its `/init` loads the virtio and ACPI modules, starts `acpid` (the ACPI power
 * button powers the guest off), reads the host's metadata on /dev/ttyS1 with the platform's static
 * mdata client (in the background: boot never waits for it), configures eth0 from `sdc:nics` and
 * keeps a root shell on ttyS0. Nothing is mounted to build it: mkfs.fat on a file, mtools, `syslinux
 * --install` (mtools-based), sfdisk on the disk file; the cpio archive is written here, sorted and
 * with fixed times, so that the same inputs give the same disk.
 * @module
 */
import { createHash } from 'node:crypto';
import { constants as fsConstants, existsSync } from 'node:fs';
import {
  access,
  copyFile,
  mkdir,
  mkdtemp,
  open,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { findTool, run } from '../../platform/index.ts';
import type { ImageManifest } from '../manifest.ts';
import { busyboxInfo, stableUuid } from './minimal.ts';

/** Bump when the disk layout, the init or the module set change: part of the version and the UUID. */
export const GUEST_BUILDER_REVISION = 1;
export const GUEST_DEFAULT_CACHE = '/var/cache/zonix/guest';
export const GUEST_DEFAULT_SIZE_MIB = 64;
const BUSYBOX = '/bin/busybox';
const MBR_CANDIDATES = ['/usr/lib/syslinux/mbr/mbr.bin', '/usr/lib/SYSLINUX/mbr.bin'];
const TOOLS = ['apt-get', 'apt-cache', 'dpkg-deb', 'mkfs.fat', 'mcopy', 'syslinux', 'sfdisk'];
/** Every file in the image gets this time (the manifest's published_at). */
const EPOCH = Date.parse('2026-11-26T00:00:00Z') / 1000;
/** Where the partition starts (1 MiB, as fdisk aligns). */
const PART_START_SECTOR = 2048;
/** The modules init loads (with their dependencies, found from each module's .modinfo). */
const BOOT_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_net', 'button', 'evdev'];
/** What the kernel is told: the console on ttyS0 and little else, for a quick boot. */
const KERNEL_CMDLINE = 'console=ttyS0,115200 quiet loglevel=3 panic=10 no_timer_check';

/** The static busybox and the tools that make the disk are all there. */
export function guestAvailable(): boolean {
  return (
    TOOLS.every((t) => findTool(t) !== undefined) &&
    existsSync(BUSYBOX) &&
    MBR_CANDIDATES.some((p) => existsSync(p))
  );
}

export function guestManifest(kernelVersion: string, busyboxVersion: string): ImageManifest {
  const version = `${kernelVersion}-${GUEST_BUILDER_REVISION}`;
  return {
    v: 2,
    uuid: stableUuid(`zonix-guest@${version}`),
    owner: '00000000-0000-0000-0000-000000000000',
    name: 'zonix-guest',
    version,
    description:
      `A small KVM guest disk: syslinux, Debian's Linux ${kernelVersion} and a BusyBox ${busyboxVersion} ` +
      'initramfs with a root shell on ttyS0, the mdata tools (metadata on ttyS1) and the ACPI power button.',
    type: 'zvol',
    os: 'linux',
    state: 'active',
    disabled: false,
    public: true,
    published_at: '2026-11-26T00:00:00Z',
    image_size: GUEST_DEFAULT_SIZE_MIB,
    requirements: {},
    tags: {
      'zonix:builtin': true,
      'zonix:builder': `guest/${GUEST_BUILDER_REVISION}`,
      'zonix:packages': `linux-image-${kernelVersion} busybox-static ${busyboxVersion} syslinux`,
    },
  };
}

/* ---- the kernel ------------------------------------------------------------------------------ */

const KVER_RE = /^\d+\.\d+\.\d+-\d+-amd64$/;

/** The versions (e.g. `6.1.0-57-amd64`) whose kernel and modules are in the cache. */
async function cachedKernels(cacheDir: string): Promise<string[]> {
  const names = await readdir(cacheDir).catch(() => [] as string[]);
  const out: string[] = [];
  for (const n of names) if (KVER_RE.test(n) && existsSync(join(cacheDir, n, '.complete'))) out.push(n);
  return out.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/**
 * The kernel version the image is made with: the one `linux-image-amd64` depends on in apt's lists;
 * without apt's answer (no lists), the newest one in the cache.
 */
export async function guestKernelVersion(cacheDir = GUEST_DEFAULT_CACHE): Promise<string> {
  try {
    const { stdout } = await run('apt-cache', ['depends', '--no-recommends', 'linux-image-amd64'], {
      timeoutMs: 30_000,
      env: { ...process.env, LC_ALL: 'C' },
    });
    const m = /Depends:\s*linux-image-(\d+\.\d+\.\d+-\d+-amd64)\b/.exec(stdout);
    if (m) return m[1]!;
  } catch {
    /* fall back to the cache */
  }
  const cached = await cachedKernels(cacheDir);
  if (cached.length) return cached[cached.length - 1]!;
  throw new Error(
    'cannot tell which Debian kernel to use: apt knows no linux-image-amd64 and none is cached',
  );
}

/** A module's dependencies, from the `depends=` entry of its .modinfo section. */
export function moduleDepends(ko: Buffer): string[] {
  const key = Buffer.from('depends=');
  for (let at = ko.indexOf(key); at >= 0; at = ko.indexOf(key, at + 1)) {
    if (at > 0 && ko[at - 1] !== 0) continue;
    const end = ko.indexOf(0, at);
    const value = ko.subarray(at + key.length, end < 0 ? undefined : end).toString('latin1');
    return value.split(',').filter(Boolean);
  }
  return [];
}

const modName = (file: string): string =>
  basename(file)
    .replace(/\.ko(\.(xz|zst|gz))?$/, '')
    .replace(/-/g, '_');

async function walk(dir: string, out: string[]): Promise<string[]> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await walk(p, out);
    else if (/\.ko(\.(xz|zst|gz))?$/.test(e.name)) out.push(p);
  }
  return out;
}

/** `roots` and what they need, dependencies first; names the kernel has built in are not there. */
async function resolveModules(root: string, roots: string[]): Promise<{ name: string; path: string }[]> {
  const byName = new Map<string, string>();
  for (const p of await walk(root, [])) byName.set(modName(p), p);
  const order: { name: string; path: string }[] = [];
  const seen = new Set<string>();
  const visit = async (name: string): Promise<void> => {
    if (seen.has(name)) return;
    seen.add(name);
    const path = byName.get(name);
    if (path === undefined) return; // built in
    if (!path.endsWith('.ko')) throw new Error(`compressed kernel module not supported: ${path}`);
    for (const d of moduleDepends(await readFile(path))) await visit(d);
    order.push({ name, path });
  };
  for (const r of roots) await visit(r);
  return order;
}

/**
 * The kernel and boot modules of `kver`, from Debian's package, in `cacheDir/<kver>` (downloaded and
 * extracted once; only vmlinuz and the modules init loads are kept).
 */
async function ensureKernel(cacheDir: string, kver: string): Promise<string> {
  const dir = join(cacheDir, kver);
  if (existsSync(join(dir, '.complete'))) return dir;
  await mkdir(cacheDir, { recursive: true });
  const work = await mkdtemp(join(cacheDir, `.dl-${kver}-`));
  try {
    const pkg = `linux-image-${kver}`;
    await run('apt-get', ['download', pkg], {
      cwd: work,
      timeoutMs: 20 * 60_000,
      env: { ...process.env, LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' },
    });
    const deb = (await readdir(work)).find((n) => n.startsWith(`${pkg}_`) && n.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} left no .deb`);
    const x = join(work, 'x');
    await run('dpkg-deb', ['-x', join(work, deb), x], { timeoutMs: 10 * 60_000 });
    const modRoot = join(x, 'lib/modules', kver);
    const mods = await resolveModules(modRoot, BOOT_MODULES);
    const stage = join(work, 'out');
    await mkdir(join(stage, 'modules'), { recursive: true });
    await copyFile(join(x, 'boot', `vmlinuz-${kver}`), join(stage, 'vmlinuz'));
    for (const m of mods) await copyFile(m.path, join(stage, 'modules', `${m.name}.ko`));
    await writeFile(join(stage, 'modules.order'), mods.map((m) => m.name).join('\n') + '\n');
    await writeFile(join(stage, 'package'), `${deb}\n`);
    await writeFile(join(stage, '.complete'), '');
    await rm(dir, { recursive: true, force: true });
    await rename(stage, dir);
    return dir;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/* ---- the initramfs --------------------------------------------------------------------------- */

interface CpioEntry {
  path: string;
  /** Full st_mode (type bits included). */
  mode: number;
  data?: Buffer;
  rdev?: [number, number];
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

/** A newc ("070701") cpio archive of `entries`, sorted by path, every time EPOCH, owner root. */
export function cpioNewc(entries: CpioEntry[], mtime = EPOCH): Buffer {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const parts: Buffer[] = [];
  let size = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    size += b.length;
    const pad = (4 - (size % 4)) % 4;
    if (pad) {
      parts.push(Buffer.alloc(pad));
      size += pad;
    }
  };
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  const record = (ino: number, e: CpioEntry) => {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.path}\0`);
    const isDir = (e.mode & 0o170000) === S_IFDIR;
    const fields = [
      ino,
      e.mode,
      0,
      0,
      isDir ? 2 : 1,
      mtime,
      data.length,
      0,
      0,
      e.rdev?.[0] ?? 0,
      e.rdev?.[1] ?? 0,
      name.length,
      0,
    ];
    push(Buffer.concat([Buffer.from('070701' + fields.map(hex).join('')), name]));
    if (data.length) push(data);
  };
  sorted.forEach((e, i) => record(i + 1, e));
  record(0, { path: 'TRAILER!!!', mode: 0 });
  return Buffer.concat(parts, size);
}

const INIT = (modules: string[]): string => `#!/bin/sh
# Zonix guest init (PID 1).
echo "zonix-guest: init"
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /tmp
say() { echo "zonix-guest: $*" > /dev/ttyS0; }
for m in ${modules.join(' ')}; do
  insmod /lib/modules/$m.ko 2>/dev/null
done
ip link set lo up
# The ACPI power button (QMP system_powerdown): /etc/acpi/PWRF/00000080 powers off.
acpid -c /etc/acpi -l /tmp/acpid.log
# Metadata, in the background: the client retries until the host answers, boot never waits.
(
  uuid=$(mdata-get sdc:uuid 2>/dev/null)
  if [ -n "$uuid" ]; then
    mdata-put guest-booted "$uuid" 2>/dev/null
    say "metadata $uuid"
  fi
  h=$(mdata-get sdc:hostname 2>/dev/null)
  [ -n "$h" ] && hostname "$h"
  ns=$(mdata-get sdc:resolvers 2>/dev/null | tr -d '[]" ' | tr , ' ')
  if [ -n "$ns" ]; then
    for n in $ns; do echo "nameserver $n"; done > /etc/resolv.conf
  fi
  nics=$(mdata-get sdc:nics 2>/dev/null)
  first=\${nics%%\\}*}
  field() { echo "$first" | grep -o "\\"$1\\" *: *\\"[^\\"]*\\"" | head -n 1 | sed 's/.*: *"\\([^"]*\\)"/\\1/'; }
  ip=$(field ip)
  mask=$(field netmask)
  gw=$(field gateway)
  if [ -n "$ip" ] && [ "$ip" != dhcp ] && [ -n "$mask" ]; then
    ifconfig eth0 "$ip" netmask "$mask" up
    [ -n "$gw" ] && route add default gw "$gw" dev eth0
    say "net $ip"
  elif [ -e /sys/class/net/eth0 ]; then
    udhcpc -b -q -i eth0 -s /usr/share/udhcpc/default.script >/dev/null 2>&1 &
  fi
) </dev/null >/dev/null 2>&1 &
# A root shell on the serial console, again whenever it ends.
export PS1='guest# '
cd /root
while :; do
  setsid cttyhack sh -l
  sleep 1
done
`;

const POWER = `#!/bin/sh
echo "zonix-guest: poweroff" > /dev/ttyS0
sync
poweroff -f
`;

const DHCP_SCRIPT = `#!/bin/sh
# busybox udhcpc's hook: configure the interface with the lease.
case "$1" in
  deconfig) ifconfig "$interface" 0.0.0.0 up ;;
  bound|renew)
    ifconfig "$interface" "$ip" \${subnet:+netmask "$subnet"} up
    if [ -n "$router" ]; then
      while route del default gw 0.0.0.0 dev "$interface" 2>/dev/null; do :; done
      for r in $router; do route add default gw "$r" dev "$interface"; break; done
    fi
    if [ -n "$dns" ]; then for d in $dns; do echo "nameserver $d"; done > /etc/resolv.conf; fi
    echo "zonix-guest: net $ip" > /dev/ttyS0
    ;;
esac
exit 0
`;

const ETC: Record<string, string> = {
  'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  'etc/group': 'root:x:0:\nnogroup:x:65534:\n',
  'etc/hosts': '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n',
  'etc/hostname': 'zonix-guest\n',
  'etc/resolv.conf': '',
  'etc/profile': "export PATH=/usr/sbin:/usr/bin:/sbin:/bin\nexport PS1='guest# '\n",
};

async function initramfs(kdir: string, mdataClient: string, busybox = BUSYBOX): Promise<Buffer> {
  const bb = await busyboxInfo(busybox);
  const modules = (await readFile(join(kdir, 'modules.order'), 'utf8')).split('\n').filter(Boolean);
  const entries = new Map<string, CpioEntry>();
  const add = (e: CpioEntry) => entries.set(e.path, e);
  const dir = (p: string, perm = 0o755) => add({ path: p, mode: S_IFDIR | perm });
  const file = (p: string, data: string | Buffer, perm = 0o644) =>
    add({ path: p, mode: S_IFREG | perm, data: typeof data === 'string' ? Buffer.from(data) : data });
  const link = (p: string, target: string) =>
    add({ path: p, mode: S_IFLNK | 0o777, data: Buffer.from(target) });
  for (const d of [
    'bin',
    'sbin',
    'usr',
    'usr/bin',
    'usr/sbin',
    'usr/share',
    'usr/share/udhcpc',
    'dev',
    'etc',
    'etc/acpi',
    'etc/acpi/PWRF',
    'lib',
    'lib/modules',
    'mnt',
    'run',
    'var',
    'var/log',
  ])
    dir(d);
  dir('proc', 0o555);
  dir('sys', 0o555);
  dir('root', 0o700);
  dir('tmp', 0o1777);
  add({ path: 'dev/console', mode: S_IFCHR | 0o600, rdev: [5, 1] });
  add({ path: 'dev/null', mode: S_IFCHR | 0o666, rdev: [1, 3] });
  add({ path: 'dev/ttyS0', mode: S_IFCHR | 0o660, rdev: [4, 64] });
  file('bin/busybox', await readFile(busybox), 0o755);
  for (const applet of bb.applets) {
    if (applet === 'bin/busybox' || !applet.includes('/')) continue;
    if (!entries.has(applet)) link(applet, '/bin/busybox');
  }
  file('usr/sbin/mdata-get', await readFile(mdataClient), 0o755);
  for (const t of ['mdata-put', 'mdata-list', 'mdata-delete']) link(`usr/sbin/${t}`, 'mdata-get');
  for (const m of modules) file(`lib/modules/${m}.ko`, await readFile(join(kdir, 'modules', `${m}.ko`)));
  file('init', INIT(modules), 0o755);
  file('etc/acpi/PWRF/00000080', POWER, 0o755);
  file('usr/share/udhcpc/default.script', DHCP_SCRIPT, 0o755);
  for (const [p, text] of Object.entries(ETC)) file(p, text);
  file('etc/zonix-release', `Zonix guest, BusyBox ${bb.version}, builder ${GUEST_BUILDER_REVISION}\n`);
  return gzipSync(cpioNewc([...entries.values()]), { level: 9 });
}

/* ---- the disk -------------------------------------------------------------------------------- */

const SYSLINUX_CFG = `DEFAULT zonix
PROMPT 0
TIMEOUT 0
LABEL zonix
  KERNEL /vmlinuz
  INITRD /initrd.gz
  APPEND ${KERNEL_CMDLINE}
`;

/**
 * Write the guest disk to `out` (raw, `sizeMiB` MiB, fsynced). The kernel comes from Debian's
 * package, cached in `cacheDir`.
 */
export async function buildGuestDisk(
  out: string,
  opts: { mdataClient: string; cacheDir?: string; sizeMiB?: number },
): Promise<{ kernelVersion: string; sizeBytes: number }> {
  const cacheDir = opts.cacheDir ?? GUEST_DEFAULT_CACHE;
  const sizeMiB = opts.sizeMiB ?? GUEST_DEFAULT_SIZE_MIB;
  if (!Number.isInteger(sizeMiB) || sizeMiB < 16)
    throw new Error(`guest disk size must be at least 16 MiB: ${sizeMiB}`);
  await access(opts.mdataClient, fsConstants.X_OK);
  const mbrPath = MBR_CANDIDATES.find((p) => existsSync(p));
  if (!mbrPath) throw new Error('syslinux MBR code (mbr.bin) not found: install syslinux-common');
  const kernelVersion = await guestKernelVersion(cacheDir);
  const kdir = await ensureKernel(cacheDir, kernelVersion);

  const sizeBytes = sizeMiB * 1024 * 1024;
  const partSectors = sizeBytes / 512 - PART_START_SECTOR;
  const work = await mkdtemp(join(dirname(out), '.zonix-guest-'));
  try {
    const env = {
      ...process.env,
      LC_ALL: 'C',
      TZ: 'UTC',
      SOURCE_DATE_EPOCH: String(EPOCH),
      MTOOLS_SKIP_CHECK: '1',
      MTOOLS_NO_VFAT: '1',
    };
    // The FAT file system, in a file of its own.
    const files = join(work, 'files');
    await mkdir(files);
    await copyFile(join(kdir, 'vmlinuz'), join(files, 'vmlinuz'));
    await writeFile(join(files, 'initrd.gz'), await initramfs(kdir, opts.mdataClient));
    await writeFile(join(files, 'syslinux.cfg'), SYSLINUX_CFG);
    const names = ['syslinux.cfg', 'vmlinuz', 'initrd.gz'];
    for (const n of names) await utimes(join(files, n), EPOCH, EPOCH);
    const fat = join(work, 'fat.img');
    await run(
      'mkfs.fat',
      [
        '--invariant',
        '-i',
        '5a6f6e78',
        '-n',
        'ZONIXGUEST',
        '-h',
        String(PART_START_SECTOR),
        '-C',
        fat,
        String(partSectors / 2),
      ],
      { env, timeoutMs: 60_000 },
    );
    await run('mcopy', ['-i', fat, '-m', ...names.map((n) => join(files, n)), '::/'], {
      env,
      timeoutMs: 60_000,
    });
    await run('syslinux', ['--install', fat], { env, timeoutMs: 60_000 });

    // The disk: one bootable FAT partition at 1 MiB, syslinux's MBR code, the file system.
    const disk = join(work, 'disk.img');
    const fh = await open(disk, 'w+');
    try {
      await fh.truncate(sizeBytes);
    } finally {
      await fh.close();
    }
    await run('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', disk], {
      env,
      timeoutMs: 60_000,
      input: `label: dos\nlabel-id: 0x5a6f6e78\nunit: sectors\n\nstart=${PART_START_SECTOR}, size=${partSectors}, type=e, bootable\n`,
    });
    const mbr = await readFile(mbrPath);
    if (mbr.length > 440) throw new Error(`${mbrPath}: ${mbr.length} bytes, more than an MBR's 440 of code`);
    const dh = await open(disk, 'r+');
    try {
      await dh.write(mbr, 0, mbr.length, 0);
      const src = await open(fat, 'r');
      try {
        const buf = Buffer.alloc(4 * 1024 * 1024);
        for (let off = 0; ;) {
          const { bytesRead } = await src.read(buf, 0, buf.length, off);
          if (bytesRead === 0) break;
          await dh.write(buf, 0, bytesRead, PART_START_SECTOR * 512 + off);
          off += bytesRead;
        }
      } finally {
        await src.close();
      }
      await dh.sync();
    } finally {
      await dh.close();
    }
    if ((await stat(disk)).size !== sizeBytes) throw new Error('guest disk has the wrong size');
    await rename(disk, out);
    const dirh = await open(dirname(out), 'r');
    try {
      await dirh.sync();
    } finally {
      await dirh.close();
    }
    return { kernelVersion, sizeBytes };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A digest of a built disk (for reproducibility checks). */
export async function guestDiskDigest(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}
