/**
 * The HVM brands (kvm, bhyve) on Linux: the guest is a QEMU process, the only process of a zone of
 * its own. The zone sees /usr read-only (QEMU and its firmware), its disks bind-mounted at their
 * SmartOS paths, /dev/net/tun (and /dev/kvm when the host's probe chose KVM), and its sockets in its
 * /tmp, where SmartOS has them (`vm.console` the serial console, `vm.ttyb` the second serial port
 * that carries metadata, `vm.qmp`, `vm.vnc`). QEMU keeps no capabilities, cannot gain any, runs
 * under the zone's seccomp filter and its own sandbox, and its cgroup holds `max_physical_memory`.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, symlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cachedProbeSync, runPath } from '../../platform/index.ts';
import { zoneCgroupPath, type ZoneDevice, type ZoneMount, type ZoneSpec } from '../../zones/index.ts';
import { VmError } from '../errors.ts';
import type { VmRecord } from '../store.ts';
import { stopZone, zoneHostname, zoneResourcesOf } from '../zone.ts';
import type { BrandInfo } from './info.ts';
import type { BrandContext, BrandDriver, HaltOptions } from './types.ts';
import { bootZone } from './zone.ts';

/** A guest's sockets, in its zone's /tmp (SmartOS's names). */
export const GUEST_SOCKETS = {
  console: 'vm.console',
  ttyb: 'vm.ttyb',
  qmp: 'vm.qmp',
  vnc: 'vm.vnc',
} as const;

/** Where the host reaches socket `name` of the guest whose zone is at `zonepath`. */
export const guestSocket = (zonepath: string, name: keyof typeof GUEST_SOCKETS): string =>
  join(zonepath, 'root', 'tmp', GUEST_SOCKETS[name]);

const QEMU = '/usr/bin/qemu-system-x86_64';
/** SmartOS's default graceful stop of an HVM guest: ACPI powerdown, forced after 180 s. */
export const HVM_STOP_TIMEOUT_MS = 180_000;

const NIC_DEVICES: Record<string, string> = {
  virtio: 'virtio-net-pci',
  e1000: 'e1000',
  rtl8139: 'rtl8139',
};

export interface GuestDisk {
  /** Where the guest's zone sees it (its SmartOS path). */
  path: string;
  model: string;
  media: 'disk' | 'cdrom';
  boot: boolean;
}

export interface GuestNic {
  mac: string;
  model: string;
  /** The tap in the guest's zone. */
  tap: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);
const int = (v: unknown, d: number): number => (typeof v === 'number' && Number.isInteger(v) ? v : d);

/** The disks of a manifest, the boot disk first (the BIOS boots the first hard disk). */
export function guestDisks(vm: VmRecord): GuestDisk[] {
  const disks = Array.isArray(vm.disks) ? (vm.disks as Record<string, unknown>[]) : [];
  const out = disks
    .filter((d) => typeof d.path === 'string')
    .map((d) => ({
      path: d.path as string,
      model: str(d.model) ?? 'virtio',
      media: d.media === 'cdrom' ? ('cdrom' as const) : ('disk' as const),
      boot: d.boot === true,
    }));
  return [...out.filter((d) => d.boot), ...out.filter((d) => !d.boot)];
}

/**
 * Where a guest's VNC is offered on the host: `ZONIX_VNC_HOST`, else loopback (reach it through an
 * SSH tunnel; SmartOS listens on the admin network, which this host does not know).
 */
export const vncHost = (): string => process.env.ZONIX_VNC_HOST || '127.0.0.1';

/** Where the host's VNC listener of a running guest says it listens (`{host, port}`). */
export const vncPortFile = (uuid: string): string => runPath('vnc', `${uuid}.json`);

/** The guest has VNC (`vnc_port` -1 disables it; 0 or unset: a free port). */
const vncEnabled = (vm: VmRecord): boolean => int(vm.vnc_port, 0) !== -1;

/**
 * What the host offers of a guest's VNC: QEMU's socket in the zone, relayed from TCP `host:port`
 * (see the metadata server), or undefined when the guest has none.
 */
export function vncOffer(
  vm: VmRecord,
  zonepath: string,
): { socket: string; host: string; port: number; portFile: string } | undefined {
  if (!vncEnabled(vm)) return undefined;
  return {
    socket: guestSocket(zonepath, 'vnc'),
    host: vncHost(),
    port: int(vm.vnc_port, 0),
    portFile: vncPortFile(vm.uuid),
  };
}

/** The guest's VNC address while it runs, or undefined (none offered, or not up yet). */
export function vncAddress(uuid: string): { host: string; port: number } | undefined {
  try {
    const a = JSON.parse(readFileSync(vncPortFile(uuid), 'utf8')) as { host?: unknown; port?: unknown };
    return typeof a.host === 'string' && typeof a.port === 'number'
      ? { host: a.host, port: a.port }
      : undefined;
  } catch {
    return undefined;
  }
}

/** The tap that carries NIC `index` in the guest's zone. */
export const tapName = (index: number): string => `tap${index}`;

export function guestNics(vm: VmRecord): GuestNic[] {
  const nics = Array.isArray(vm.nics) ? (vm.nics as Record<string, unknown>[]) : [];
  return nics
    .filter((n) => typeof n.mac === 'string')
    .map((n, i) => ({ mac: n.mac as string, model: str(n.model) ?? 'virtio', tap: tapName(i) }));
}

/** `order=cd,once=d` style options (the `boot` property, `vmadm start order=`). */
export function bootOrder(vm: VmRecord, override?: string): string {
  const spec = override ?? str(vm.boot) ?? 'order=cd';
  const parts = spec.split(',').filter((p) => /^(order|once|menu|splash|reboot-timeout|strict)=/.test(p));
  return parts.length ? parts.join(',') : 'order=cd';
}

/**
 * TCG's translation cache (MiB), part of what a guest costs the host beyond its RAM: an eighth of the
 * guest's RAM, 16 to 64 MiB. Measured with a 128 MiB guest (bench/kvm, boot to the first metadata
 * answer / memory beyond RAM): 32 MiB 8.4 s / 75 MiB; 16 MiB 9.5 s / 56 MiB; 8 MiB 11.2 s / 47 MiB.
 */
export const tcgCacheMiB = (ramMiB: number): number => Math.min(64, Math.max(16, Math.round(ramMiB / 8)));

/** QEMU's command line for a guest (paths as its zone sees them). */
export function qemuArgv(
  vm: VmRecord,
  opts: { accel: 'kvm' | 'tcg'; disks?: GuestDisk[]; nics?: GuestNic[]; boot?: string },
): string[] {
  const disks = opts.disks ?? guestDisks(vm);
  const nics = opts.nics ?? guestNics(vm);
  const tmp = (n: keyof typeof GUEST_SOCKETS) => `/tmp/${GUEST_SOCKETS[n]}`;
  const cpu = vm.cpu_type === 'host' && opts.accel === 'kvm' ? 'host' : 'qemu64';
  const argv = [
    QEMU,
    '-name',
    `guest=${vm.uuid},debug-threads=on`,
    '-uuid',
    vm.uuid,
    '-machine',
    'pc',
    '-accel',
    opts.accel === 'kvm' ? 'kvm' : `tcg,tb-size=${tcgCacheMiB(int(vm.ram, 256))}`,
    '-cpu',
    cpu,
    '-m',
    String(int(vm.ram, 256)),
    '-smp',
    String(int(vm.vcpus, 1)),
    '-smbios',
    `type=1,manufacturer=Joyent,product=SmartDC HVM,version=7.20121213,serial=${vm.uuid},uuid=${vm.uuid}`,
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-vga',
    str(vm.vga) ?? 'std',
    '-chardev',
    `socket,id=console0,path=${tmp('console')},server=on,wait=off`,
    '-serial',
    'chardev:console0',
    '-chardev',
    `socket,id=ttyb0,path=${tmp('ttyb')},server=on,wait=off`,
    '-serial',
    'chardev:ttyb0',
    '-qmp',
    `unix:${tmp('qmp')},server=on,wait=off`,
    '-boot',
    bootOrder(vm, opts.boot),
    '-sandbox',
    'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
  ];
  if (vncEnabled(vm)) {
    const pw = str(vm.vnc_password) ? ',password=on' : '';
    argv.push('-vnc', `unix:${tmp('vnc')}${pw}`);
  }
  let scsi = false;
  disks.forEach((d, i) => {
    const id = `disk${i}`;
    if (d.media === 'cdrom') {
      argv.push('-drive', `file=${d.path},if=none,id=${id},media=cdrom,readonly=on,format=raw`);
      argv.push('-device', `ide-cd,drive=${id}`);
      return;
    }
    argv.push('-drive', `file=${d.path},if=none,id=${id},format=raw,cache=writeback,discard=unmap`);
    if (d.model === 'ide') argv.push('-device', `ide-hd,drive=${id}`);
    else if (d.model === 'scsi') {
      if (!scsi) argv.push('-device', 'virtio-scsi-pci,id=scsi0');
      scsi = true;
      argv.push('-device', `scsi-hd,drive=${id},bus=scsi0.0`);
    } else if (d.model === 'ahci') argv.push('-device', `ide-hd,drive=${id}`);
    else if (d.model === 'nvme') argv.push('-device', `nvme,drive=${id},serial=${id}`);
    else argv.push('-device', `virtio-blk-pci,drive=${id}`);
  });
  nics.forEach((n, i) => {
    argv.push('-netdev', `tap,id=net${i},ifname=${n.tap},script=no,downscript=no`);
    argv.push('-device', `${NIC_DEVICES[n.model] ?? 'virtio-net-pci'},netdev=net${i},mac=${n.mac}`);
  });
  for (const extra of [vm.qemu_opts, vm.qemu_extra_opts])
    if (typeof extra === 'string' && extra.trim()) argv.push(...extra.trim().split(/\s+/));
  return argv;
}

/** The accelerator the host's probe chose (TCG when it has not run or found no usable KVM). */
export function hostAccelerator(): 'kvm' | 'tcg' {
  return cachedProbeSync()?.accelerator === 'kvm' ? 'kvm' : 'tcg';
}

/**
 * One QMP exchange: the greeting, capabilities, then `command`; resolves to its `return`. QMP is
 * line-delimited JSON; asynchronous events met on the way are skipped.
 */
export async function qmp(
  path: string,
  command: string,
  args?: Record<string, unknown>,
  timeoutMs = 5000,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let buf = '';
    let step = 0;
    const timer = setTimeout(
      () => done(new Error(`QMP ${command}: no answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const done = (err?: Error, value?: unknown) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    sock.on('error', (err) => done(err));
    sock.on('close', () => done(new Error(`QMP ${command}: the socket closed`)));
    sock.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if ('event' in msg) continue;
        if (step === 0 && 'QMP' in msg) {
          step = 1;
          sock.write(JSON.stringify({ execute: 'qmp_capabilities' }) + '\n');
        } else if (step === 1 && 'return' in msg) {
          step = 2;
          sock.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) }) + '\n');
        } else if (step === 2) {
          if ('error' in msg) {
            const e = msg.error as { desc?: string };
            done(new Error(`QMP ${command}: ${e.desc ?? JSON.stringify(e)}`));
          } else if ('return' in msg) done(undefined, msg.return);
        }
      }
    });
  });
}

/** What each `vmadm info` type asks QEMU. */
const INFO_COMMANDS: Record<string, string> = {
  block: 'query-block',
  blockstats: 'query-blockstats',
  chardev: 'query-chardev',
  cpus: 'query-cpus-fast',
  kvm: 'query-kvm',
  pci: 'query-pci',
  spice: 'query-spice',
  status: 'query-status',
  version: 'query-version',
  vnc: 'query-vnc',
};

export class QemuBrand implements BrandDriver {
  readonly bootable = true;
  readonly rootFromImage = false;
  readonly reprovisionable = false;

  constructor(readonly info: BrandInfo) {}

  /** The info types of the brand (`all` is every one). */
  get infoTypes(): readonly string[] {
    return this.info.infoTypes ?? [];
  }

  zoneSpec(vm: VmRecord, zonepath: string, ctx?: Pick<BrandContext, 'volumeFile' | 'bootOnce'>): ZoneSpec {
    const accel = hostAccelerator();
    const once = ctx?.bootOnce;
    // What this boot adds (vmadm start cdrom=, disk=) comes after the VM's own disks.
    const disks = [
      ...guestDisks(vm),
      ...(once?.disks ?? []).map((d) => ({ ...d, media: 'disk' as const, boot: false })),
      ...(once?.cdroms ?? []).map((d) => ({ ...d, media: 'cdrom' as const, boot: false })),
    ];
    const mounts: ZoneMount[] = [{ source: '/usr', target: '/usr', readonly: true }];
    const raw = Array.isArray(vm.disks) ? (vm.disks as Record<string, unknown>[]) : [];
    for (const d of disks) {
      const rec = raw.find((r) => r.path === d.path);
      const ds = typeof rec?.zfs_filesystem === 'string' ? rec.zfs_filesystem : undefined;
      // A disk made by Zonix is a volume of the pool; one given with nocreate (or a cdrom) is a host file.
      const source = ds && ctx?.volumeFile ? ctx.volumeFile(ds) : d.path;
      mounts.push({ source, target: d.path, readonly: d.media === 'cdrom' });
    }
    const devices: ZoneDevice[] = [{ path: '/dev/net/tun', major: 10, minor: 200 }];
    if (accel === 'kvm') devices.push({ path: '/dev/kvm', major: 10, minor: 232 });
    return {
      id: vm.uuid,
      rootfs: join(zonepath, 'root'),
      hostname: zoneHostname(vm, zonepath).name,
      cgroupsPath: zoneCgroupPath(vm.uuid),
      // QEMU's own messages go to the monitor's terminal; the guest's console is its serial port.
      terminal: true,
      args: qemuArgv(vm, { accel, disks, ...(once?.boot ? { boot: once.boot } : {}) }),
      env: ['PATH=/usr/bin:/usr/sbin'],
      resources: zoneResourcesOf(vm),
      capabilities: [],
      noNewPrivileges: true,
      devices,
      mounts,
    };
  }

  /** The guest's zone root: empty but for the links to /usr QEMU's loader needs, and /tmp. */
  private async prepareRoot(zonepath: string): Promise<void> {
    const root = join(zonepath, 'root');
    await mkdir(join(root, 'tmp'), { recursive: true, mode: 0o700 });
    await mkdir(join(root, 'usr'), { recursive: true });
    for (const l of ['bin', 'sbin', 'lib', 'lib64']) {
      if (!existsSync(join(root, l))) await symlink(`usr/${l}`, join(root, l)).catch(() => undefined);
    }
    for (const s of Object.keys(GUEST_SOCKETS) as (keyof typeof GUEST_SOCKETS)[])
      await rm(guestSocket(zonepath, s), { force: true });
  }

  async boot(vm: VmRecord, ctx: BrandContext): Promise<number> {
    const pid = await bootZone(this.info, vm, ctx, async () => {
      await this.prepareRoot(ctx.zonepath);
      return this.zoneSpec(vm, ctx.zonepath, ctx);
    });
    const password = str(vm.vnc_password);
    if (password !== undefined && vncEnabled(vm)) await this.setVncPassword(vm, ctx, password);
    return pid;
  }

  /** QEMU starts with VNC password auth on and no password (nobody gets in): set it over QMP. */
  private async setVncPassword(vm: VmRecord, ctx: BrandContext, password: string): Promise<void> {
    const path = guestSocket(ctx.zonepath, 'qmp');
    for (const t0 = Date.now(); ;) {
      try {
        await qmp(path, 'set_password', { protocol: 'vnc', password });
        return;
      } catch (err) {
        if (Date.now() - t0 > 10_000 || ctx.runtime.stateSync(vm.uuid)?.status !== 'running')
          throw new VmError('EINVAL', `Could not set the VNC password of VM ${vm.uuid}: ${String(err)}`);
        await sleep(50);
      }
    }
  }

  /**
   * ACPI powerdown (the guest's OS shuts down), forced when it has not ended within the timeout
   * (180 s unless told), or at once with `force`.
   */
  async halt(vm: VmRecord, ctx: BrandContext, opts: HaltOptions = {}): Promise<void> {
    const runtime = ctx.runtime;
    const gone = () => {
      const st = runtime.stateSync(vm.uuid);
      return !st || st.status === 'stopped';
    };
    if (!opts.force && !gone()) {
      const deadline = Date.now() + (opts.timeoutMs ?? HVM_STOP_TIMEOUT_MS);
      const path = guestSocket(ctx.zonepath, 'qmp');
      let asked = false;
      for (let i = 0; Date.now() < deadline && !gone(); i++) {
        // Asked again every 10 s: a guest still booting may not have its ACPI handler yet.
        if (!asked || i % 500 === 0) {
          asked = await qmp(path, 'system_powerdown').then(
            () => true,
            () => false,
          );
        }
        await sleep(20);
      }
    }
    await stopZone(runtime, vm.uuid, { force: true });
    await ctx.hooks.detach(vm, ctx);
  }

  /** `vmadm info`: QMP's answers, one member per type asked (`all`: every type the brand has). */
  async vmInfo(vm: VmRecord, ctx: BrandContext, types: readonly string[]): Promise<Record<string, unknown>> {
    const fail = (msg: string) => new VmError('EINVAL', `Unable to get VM info for VM ${vm.uuid}: ${msg}`);
    const named = types.flatMap((t) => t.split(',')).filter(Boolean);
    const asked = named.length === 0 || named.includes('all') ? this.infoTypes : named;
    for (const t of asked) if (!this.infoTypes.includes(t)) throw fail(`unknown info type: ${t}`);
    const st = ctx.runtime.stateSync(vm.uuid);
    if (st?.status !== 'running')
      throw new VmError(
        'ENOTSUP',
        `Unable to get VM info for VM ${vm.uuid}: info is not supported for ${this.info.name} VMs that are not running`,
      );
    const path = guestSocket(ctx.zonepath, 'qmp');
    const out: Record<string, unknown> = {};
    // One exchange per type, in order: QEMU serves one QMP client at a time.
    for (const t of asked) {
      // VNC as SmartOS reports it: where a viewer connects (the host's TCP port), not QEMU's socket.
      const addr = t === 'vnc' ? vncAddress(vm.uuid) : undefined;
      if (addr) {
        out[t] = { host: addr.host, port: addr.port, display: addr.port - 5900 };
        continue;
      }
      out[t] = await qmp(path, INFO_COMMANDS[t]!).catch((err: unknown) => {
        throw fail(err instanceof Error ? err.message : String(err));
      });
    }
    return out;
  }

  /** The serial console is a socket of the guest (see console.ts). */
  consoleTarget(vm: VmRecord, zonepath?: string): string {
    return zonepath ? guestSocket(zonepath, 'console') : vm.uuid;
  }

  /** `vmadm sysrq`: an NMI, or a screenshot into the zone's /tmp/vm.ppm (SmartOS's place). */
  async sysrq(vm: VmRecord, ctx: BrandContext, kind: string): Promise<void> {
    const path = guestSocket(ctx.zonepath, 'qmp');
    if (kind === 'nmi') await qmp(path, 'inject-nmi');
    else if (kind === 'screenshot') await qmp(path, 'screendump', { filename: '/tmp/vm.ppm' });
    else throw new VmError('EINVAL', `Invalid sysrq type: ${kind}`);
  }
}
