/**
 * bench/kvm: hardware guests, as root, in one run, with the accelerator the host's probe chose (TCG
 * on machines without a usable KVM).
 * (a) Boot of the built-in small guest disk to the first line of its init (`zonix-guest: init` on
 *     the serial console) and to its first metadata answer (its `PUT guest-booted` landing, which
 *     follows its `GET sdc:uuid`): through `Host.create` (the VM core, QEMU in a zone, its disks,
 *     the metadata server on ttyS1) against bare `qemu-system-x86_64` booting the same disk with the
 *     same accelerator and a minimal metadata responder. ZONIX_BENCH_BOOTS (3) of each, medians.
 *     Goal: within 1.5x to the first metadata answer.
 * (b) Host memory beyond the guest's RAM per VM: QEMU's PSS less the resident part of the guest's
 *     RAM mapping, plus its conmon's PSS. Goal: under 40 MiB.
 * (c) `vmadm info UUID status` in-process (Host.info, a QMP exchange): median of 50. Goal: under 50 ms.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  createBtrfsPool,
  fmtMs,
  fmtX,
  log,
  median,
  positiveInt,
  runBenchmark,
  table,
  type BenchRun,
} from './lib.ts';
import { dropHostStartupCosts, pss, removeCgroups } from './zone-helpers.ts';

const BOOTS = positiveInt(process.env.ZONIX_BENCH_BOOTS, 3);
const RAM = 128;
const CGROUP_PARENT = `zonix-bench-kvm-${process.pid}`;
process.env.ZONIX_CGROUP_PARENT = CGROUP_PARENT;
const droppedEnv = dropHostStartupCosts();

interface Boot {
  firstLineMs: number;
  metadataMs: number;
}

interface Result {
  accel: string;
  bare: Boot;
  vmadm: Boot;
  overheadBytes: number;
  qemuPssBytes: number;
  guestRamRssBytes: number;
  conmonPssBytes: number;
  infoMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Connect to a unix socket as soon as it is there. */
async function connectRetry(path: string, ms = 60_000): Promise<Socket> {
  for (const t0 = Date.now(); Date.now() - t0 < ms;) {
    if (existsSync(path)) {
      const s = await new Promise<Socket | undefined>((resolve) => {
        const c = connect(path);
        c.once('connect', () => resolve(c));
        c.once('error', () => resolve(undefined));
      });
      if (s) return s;
    }
    await sleep(5);
  }
  throw new Error(`no socket at ${path}`);
}

/** Resolves with the time `text` first appears on `sock`. */
function seen(sock: Socket, text: string, t0: number): Promise<number> {
  let buf = '';
  return new Promise((resolve) => {
    const on = (d: Buffer) => {
      buf += d.toString('latin1');
      if (buf.includes(text)) {
        sock.off('data', on);
        resolve(performance.now() - t0);
      }
    };
    sock.on('data', on);
  });
}

/** Bare QEMU on `disk` with a minimal metadata responder on its ttyS1. */
async function bareBoot(disk: string, dir: string, accel: 'kvm' | 'tcg'): Promise<Boot> {
  const { encodeAnswer, parseLine } = await import('../src/metadata/index.ts');
  const { tcgCacheMiB } = await import('../src/vm/index.ts');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const uuid = randomUUID();
  const s = (n: string) => join(dir, n);
  const t0 = performance.now();
  const qemu = spawn(
    'qemu-system-x86_64',
    [
      ...[
        '-machine',
        'pc',
        '-accel',
        accel === 'kvm' ? 'kvm' : `tcg,tb-size=${tcgCacheMiB(RAM)}`,
        '-m',
        String(RAM),
      ],
      ...['-nodefaults', '-no-user-config', '-display', 'none', '-vga', 'std'],
      ...['-chardev', `socket,id=c0,path=${s('console')},server=on,wait=off`, '-serial', 'chardev:c0'],
      ...['-chardev', `socket,id=c1,path=${s('ttyb')},server=on,wait=off`, '-serial', 'chardev:c1'],
      ...[
        '-drive',
        `file=${disk},if=none,id=d0,format=raw,cache=writeback`,
        '-device',
        'virtio-blk-pci,drive=d0',
      ],
    ],
    { stdio: 'ignore' },
  );
  try {
    const [con, ttyb] = await Promise.all([connectRetry(s('console')), connectRetry(s('ttyb'))]);
    const first = seen(con, 'zonix-guest: init', t0);
    const answered = new Promise<number>((resolve) => {
      let buf = '';
      ttyb.on('data', (d: Buffer) => {
        buf += d.toString('utf8');
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const req = parseLine(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          if (req === undefined) continue;
          if (req === 'invalid') {
            ttyb.write(encodeAnswer(undefined, { code: 'INVALID' }));
            continue;
          }
          if (req.command === 'NEGOTIATE') ttyb.write(encodeAnswer(req, { code: 'V2_OK' }));
          else if (req.command === 'GET' && req.arg === 'sdc:uuid')
            ttyb.write(encodeAnswer(req, { code: 'SUCCESS', value: uuid }));
          else if (req.command === 'PUT') {
            ttyb.write(encodeAnswer(req, { code: 'SUCCESS' }));
            resolve(performance.now() - t0);
          } else ttyb.write(encodeAnswer(req, { code: 'NOTFOUND' }));
        }
      });
    });
    const r = { firstLineMs: await first, metadataMs: await answered };
    con.destroy();
    ttyb.destroy();
    return r;
  } finally {
    qemu.kill('SIGKILL');
    await new Promise((r) => qemu.once('exit', r));
  }
}

/** Resident kB of the mapping of exactly `kb` kB in `pid` (QEMU's guest RAM). */
async function mappingRss(pid: number, kb: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/smaps`, 'utf8');
  let best = 0;
  for (const block of text.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
    const size = Number(/^Size:\s+(\d+) kB/m.exec(block)?.[1] ?? 0);
    if (size >= kb && size <= kb + 4096)
      best = Math.max(best, Number(/^Rss:\s+(\d+) kB/m.exec(block)?.[1] ?? 0));
  }
  return best;
}

async function runBench(run: BenchRun): Promise<Result> {
  const { pool } = await createBtrfsPool(run, 'k', 4 * 1024 ** 3);
  process.env.ZONIX_SYSTEM_POOL = pool.name;
  const { Host } = await import('../src/host/index.ts');
  const { buildGuestDisk } = await import('../src/images/builtin/guest.ts');
  const { hostAccelerator } = await import('../src/vm/brands/qemu.ts');
  const { probeHost } = await import('../src/platform/index.ts');
  await probeHost();
  const accel = hostAccelerator();
  const host = new Host();
  const made: string[] = [];
  const disk = join(run.env.dir, 'guest.raw');
  log(`building the small guest disk; accelerator ${accel}`);
  await buildGuestDisk(disk, { mdataClient: join(import.meta.dirname, '..', 'native/usr/sbin/mdata-get') });
  if (droppedEnv.length) log(`timed work runs without ${droppedEnv.join(', ')}`);
  try {
    const bare: Boot[] = [];
    const vm: Boot[] = [];
    for (let i = 0; i < BOOTS; i++) {
      log(`boot ${i + 1}/${BOOTS}: bare qemu`);
      bare.push(await bareBoot(disk, join(run.env.dir, 'bare'), accel));
      log(`boot ${i + 1}/${BOOTS}: Host.create of a kvm VM`);
      const uuid = randomUUID();
      const zonepath = join(pool.mountpointOf(pool.meta(), pool.name)!, uuid);
      const t0 = performance.now();
      const created = host.create({
        uuid,
        brand: 'kvm',
        ram: RAM,
        disks: [{ path: disk, nocreate: true, size: 64, boot: true, model: 'virtio' }],
      });
      const con = await connectRetry(join(zonepath, 'root', 'tmp', 'vm.console'));
      const first = seen(con, 'zonix-guest: init', t0);
      await created;
      made.push(uuid);
      const cfg = join(zonepath, 'config', 'vm.json');
      let metadataMs = 0;
      for (let n = 0; n < 12_000 && !metadataMs; n++) {
        const text = await readFile(cfg, 'utf8').catch(() => '');
        if (text.includes('"guest-booted"')) metadataMs = performance.now() - t0;
        else await sleep(5);
      }
      if (!metadataMs) throw new Error(`VM ${uuid} never wrote guest-booted`);
      vm.push({ firstLineMs: await first, metadataMs });
      con.destroy();
      if (i < BOOTS - 1) {
        await host.delete(uuid);
        made.pop();
      }
    }
    const last = made[made.length - 1]!;
    const pid = Number((await host.get(last)).pid);
    const qemuPss = (await pss(pid)) * 1024;
    const ramRss = (await mappingRss(pid, RAM * 1024)) * 1024;
    const ppid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    const conmon = readFileSync(`/proc/${ppid}/cmdline`, 'utf8').includes('conmon')
      ? (await pss(ppid)) * 1024
      : 0;
    const infos: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      await host.info(last, ['status']);
      infos.push(performance.now() - t);
    }
    const med = (xs: Boot[], k: keyof Boot) => median(xs.map((b) => b[k]));
    return {
      accel,
      bare: { firstLineMs: med(bare, 'firstLineMs'), metadataMs: med(bare, 'metadataMs') },
      vmadm: { firstLineMs: med(vm, 'firstLineMs'), metadataMs: med(vm, 'metadataMs') },
      overheadBytes: qemuPss - ramRss + conmon,
      qemuPssBytes: qemuPss,
      guestRamRssBytes: ramRss,
      conmonPssBytes: conmon,
      infoMs: median(infos),
    };
  } finally {
    for (const u of made) await host.delete(u).catch((err: unknown) => log(`deleting ${u}: ${String(err)}`));
    for (const d of await removeCgroups(CGROUP_PARENT)) log(`cgroup left behind: ${d}`);
  }
}

function report(r: Result): string {
  const mib = (b: number) => (b / 1024 ** 2).toFixed(1);
  const rows = [
    ['(a) bare qemu: first line of init (ms)', fmtMs(r.bare.firstLineMs), '1.00x'],
    [
      '(a) Host.create: first line of init (ms)',
      fmtMs(r.vmadm.firstLineMs),
      fmtX(r.vmadm.firstLineMs / r.bare.firstLineMs),
    ],
    ['(a) bare qemu: first metadata answer (ms)', fmtMs(r.bare.metadataMs), '1.00x'],
    [
      '(a) Host.create: first metadata answer (ms)',
      fmtMs(r.vmadm.metadataMs),
      fmtX(r.vmadm.metadataMs / r.bare.metadataMs),
    ],
    ['(b) QEMU PSS (MiB)', mib(r.qemuPssBytes), ''],
    ['(b)   less resident guest RAM (MiB)', mib(r.guestRamRssBytes), ''],
    ['(b)   plus conmon PSS (MiB)', mib(r.conmonPssBytes), ''],
    ['(b) host memory beyond guest RAM per VM (MiB)', mib(r.overheadBytes), ''],
    ['(c) vmadm info status, in-process (ms)', fmtMs(r.infoMs), ''],
  ];
  return [
    `KVM guests under ${r.accel}, medians (goals: (a) within 1.5x to the first metadata answer; (b) under 40 MiB; (c) under 50 ms)`,
    table(['what', 'value', 'of bare'], rows, 1),
  ].join('\n');
}

process.exitCode = await runBenchmark('bench/kvm.ts', 'zk', runBench, report);
