/**
 * bench/scale: many zones at once through the Zonix core, against bare runc in the same run, as root.
 * (d) 20 VMs created (running) 4 at a time through VmCore, against 20 bare btrfs snapshots +
 *     `runc run -d` of the same init done 4 at a time: creates per second (goal: within 2x of bare);
 * (e) ZONIX_BENCH_ZONES (default 1000) running minimal zones: the time to create and start them all
 *     (8 at a time), host memory per idle zone against bare `runc run -d` containers of the same init
 *     (goal: under 1 MiB more per zone), and `vmadm list` with them all running (goal: under 150 ms).
 * Everything made is removed at the end, and checked for leaks.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createBtrfsPool,
  exec,
  fmtMs,
  fmtX,
  limited,
  log,
  median,
  positiveInt,
  runBenchmark,
  settleBtrfsPool,
  table,
  timed,
  type BenchRun,
} from './lib.ts';
import {
  dropHostStartupCosts,
  ownProcessEnv,
  processesMentioning,
  pss,
  removeCgroups,
  startZonixd,
} from './zone-helpers.ts';

const ZONES = positiveInt(process.env.ZONIX_BENCH_ZONES, 1000);
/** How many bare containers measure the bare memory per zone. */
const BARE_ZONES = positiveInt(process.env.ZONIX_BENCH_BARE_ZONES, ZONES);
const BATCH = 20;
const ROOT = join(import.meta.dirname, '..');
const CGROUP_PARENT = `zonix-bench-${randomBytes(3).toString('hex')}`;
process.env.ZONIX_CGROUP_PARENT = CGROUP_PARENT;
const droppedEnv = dropHostStartupCosts();

interface Result {
  batch: number;
  bareBatchMs: number;
  coreBatchMs: number;
  zones: number;
  startAllMs: number;
  bareZones: number;
  bareKiBPerZone: number;
  zoneKiBPerZone: number;
  monitorPssKiB: number;
  listMs: number;
  listOwnMs: number;
  listRuns: number;
}

/** A command with every stdio on /dev/null (a detached container keeps what it is given). */
function quiet(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: ${signal ?? `exit ${code}`}`)),
    );
  });
}

/**
 * Memory the host uses now, in KiB, as `free` counts it (MemTotal - MemFree - Buffers - Cached -
 * SReclaimable), after syncing and dropping clean caches so that page cache does not blur it.
 */
async function usedKiB(): Promise<number> {
  await new Promise((r) => setTimeout(r, 1000));
  await exec('sync', []);
  await writeFile('/proc/sys/vm/drop_caches', '3');
  await new Promise((r) => setTimeout(r, 500));
  const info = await readFile('/proc/meminfo', 'utf8');
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(info)![1]);
  return kib('MemTotal') - kib('MemFree') - kib('Buffers') - kib('Cached') - kib('SReclaimable');
}

async function runBench(run: BenchRun): Promise<Result> {
  const { pool } = await createBtrfsPool(run, 's', 8 * 1024 ** 3);
  process.env.ZONIX_SYSTEM_POOL = pool.name;
  const bareRoot = join(run.env.dir, 'bare-runc');
  const bundles = join(run.env.dir, 'bundles');
  const { VmCore } = await import('../src/vm/index.ts');
  const images = await import('../src/images/index.ts');
  const zones = await import('../src/zones/index.ts');
  const store = new images.ImageStore(pool);
  const core = new VmCore(pool, undefined, store.catalogue());
  const bareIds: string[] = [];
  try {
    await images.importImage(store, 'minimal');
    const image = store.list()[0]!.manifest.uuid;
    const snapSrc = pool.datasetPath(`${pool.name}/${image}@final`);
    await mkdir(join(pool.top, 'tmp'), { recursive: true });
    const payload = { brand: 'joyent-minimal', image_uuid: image, autoboot: true };

    /** A bare container of the image's init: btrfs snapshot, bundle, `runc run -d`. */
    const bareUp = async (id: string) => {
      const sub = join(pool.top, 'tmp', id);
      const bundle = join(bundles, id);
      await mkdir(bundle, { recursive: true });
      const spec = zones.buildOciSpec({
        id,
        rootfs: join(sub, 'root'),
        hostname: id,
        cgroupsPath: `/${CGROUP_PARENT}/${id}`,
      });
      await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
      bareIds.push(id);
      await exec('btrfs', ['subvolume', 'snapshot', snapSrc, sub]);
      await quiet('runc', ['--root', bareRoot, 'run', '-d', '-b', bundle, id]);
    };
    const bareDown = async (id: string) => {
      await exec('runc', ['--root', bareRoot, 'delete', '--force', id]);
      await exec('btrfs', ['subvolume', 'delete', join(pool.top, 'tmp', id)]);
      await rm(join(bundles, id), { recursive: true, force: true });
      bareIds.splice(bareIds.indexOf(id), 1);
    };
    const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

    // (d) a batch of creates, 4 at a time.
    log(`(d) ${BATCH} creates 4 at a time: bare, then through the core`);
    const bareBatch = ids('bare-d', BATCH);
    const bareBatchMs = await timed(() => limited(bareBatch, 4, bareUp));
    await limited(bareBatch, 4, bareDown);
    await settleBtrfsPool(pool.top);
    const made: string[] = [];
    const coreBatchMs = await timed(() =>
      limited(ids('vm', BATCH), 4, async () => {
        made.push((await core.create(payload)).uuid);
      }),
    );
    const running = (await core.list()).filter((v) => v.state === 'running').length;
    if (running !== BATCH) throw new Error(`${running} of ${BATCH} VMs running`);
    await limited([...made], 4, (u) => core.delete(u));
    await settleBtrfsPool(pool.top);

    // (e) memory per idle zone: bare containers first, then Zonix zones.
    log(`(e) memory per idle zone: ${BARE_ZONES} bare containers`);
    const before = await usedKiB();
    const bareMany = ids('bare-e', BARE_ZONES);
    await limited(bareMany, 8, bareUp);
    const bareKiBPerZone = ((await usedKiB()) - before) / BARE_ZONES;
    await limited(bareMany, 8, bareDown);
    await settleBtrfsPool(pool.top);

    log(`(e) ${ZONES} zones, 8 at a time`);
    const base = await usedKiB();
    const uuids: string[] = [];
    let shown = 0;
    const startAllMs = await timed(() =>
      limited(ids('zone', ZONES), 8, async () => {
        uuids.push((await core.create(payload)).uuid);
        if (uuids.length - shown >= 100) {
          shown = uuids.length;
          log(`  ${shown} running`);
        }
      }),
    );
    const zoneKiBPerZone = ((await usedKiB()) - base) / ZONES;
    // What Zonix adds per zone beyond the runtime: its monitor (conmon), measured directly.
    let monitors = 0;
    for (const u of uuids)
      monitors += await pss(Number(await readFile(join(zones.zoneDir(u), 'conmon.pid'), 'utf8')));
    const all = await core.list();
    const up = all.filter((v) => v.state === 'running').length;
    if (up !== ZONES) throw new Error(`${up} of ${ZONES} zones running`);
    log(`vmadm list with ${ZONES} zones running`);
    const listTimes: number[] = [];
    const listOwnTimes: number[] = [];
    const vmadm = join(ROOT, 'bin', 'vmadm');
    // Through zonixd (as setup.sh runs it), and with the command in its own Node process.
    const zonixd = await startZonixd(ROOT);
    try {
      await exec(vmadm, ['list']);
      for (let i = 0; i < 7; i++) {
        listTimes.push(await timed(() => exec(vmadm, ['list'])));
        listOwnTimes.push(await timed(() => exec(vmadm, ['list'], 'pipe', ownProcessEnv())));
      }
    } finally {
      await zonixd.stop();
    }
    log(`deleting ${ZONES} zones`);
    await limited([...uuids], 8, (u) => core.delete(u));
    return {
      batch: BATCH,
      bareBatchMs,
      coreBatchMs,
      zones: ZONES,
      startAllMs,
      bareZones: BARE_ZONES,
      bareKiBPerZone,
      zoneKiBPerZone,
      monitorPssKiB: monitors / ZONES,
      listMs: median(listTimes),
      listOwnMs: median(listOwnTimes),
      listRuns: listTimes.length,
    };
  } finally {
    for (const vm of await core.list().catch(() => [])) {
      await core
        .delete(vm.uuid)
        .catch((err: unknown) => log(`deleting VM ${vm.uuid} failed: ${String(err)}`));
    }
    for (const id of [...bareIds]) {
      await exec('runc', ['--root', bareRoot, 'delete', '--force', id]).catch(() => undefined);
      await exec('btrfs', ['subvolume', 'delete', join(pool.top, 'tmp', id)]).catch(() => undefined);
    }
    const leaks: string[] = [];
    for (const vm of await core.list().catch(() => [])) leaks.push(`VM left behind: ${vm.uuid}`);
    for (const root of [bareRoot, join(process.env.ZONIX_RUN_DIR!, 'runc')]) {
      const left = await readdir(root).catch(() => [] as string[]);
      if (left.length) leaks.push(`runc state left in ${root}: ${left.length} entries`);
    }
    for (const p of await processesMentioning(run.env.dir)) leaks.push(`process left behind: ${p}`);
    for (const d of await removeCgroups(CGROUP_PARENT)) leaks.push(`cgroup left behind: ${d}`);
    if (leaks.length) {
      for (const l of leaks.slice(0, 20)) console.error(`error: ${l}`);
      // eslint-disable-next-line no-unsafe-finally
      throw new Error(`${leaks.length} leftover(s) of the zones`);
    }
    log('no VMs, runc state, monitors or cgroups left');
  }
}

function report(r: Result): string {
  const perSec = (n: number, ms: number) => (n / (ms / 1000)).toFixed(1);
  const rows = [
    [
      `(d) bare: ${r.batch} x (btrfs snapshot + runc run -d), 4 at a time`,
      fmtMs(r.bareBatchMs),
      perSec(r.batch, r.bareBatchMs),
      '1.00x',
    ],
    [
      `(d) Zonix core: ${r.batch} creates (running), 4 at a time`,
      fmtMs(r.coreBatchMs),
      perSec(r.batch, r.coreBatchMs),
      fmtX(r.coreBatchMs / r.bareBatchMs),
    ],
    [
      `(e) Zonix core: ${r.zones} zones created and running, 8 at a time`,
      fmtMs(r.startAllMs),
      perSec(r.zones, r.startAllMs),
      '',
    ],
  ];
  const extra = r.zoneKiBPerZone - r.bareKiBPerZone;
  return [
    `Zones at scale${droppedEnv.length ? ` (commands run without ${droppedEnv.join(', ')})` : ''} (goals: (d) within 2x of bare; (e) under 1 MiB per zone beyond bare runc, vmadm list under 150 ms)`,
    table(['what', 'ms', 'per s', 'ratio'], rows, 1),
    `  host memory per idle zone: Zonix ${Math.round(r.zoneKiBPerZone)} KiB, bare runc ${Math.round(r.bareKiBPerZone)} KiB (${r.bareZones} containers): ${Math.round(extra)} KiB more`,
    `  its monitor (conmon) per zone, PSS: ${Math.round(r.monitorPssKiB)} KiB`,
    `  vmadm list with ${r.zones} zones running: ${fmtMs(r.listMs)} ms through zonixd, ${fmtMs(r.listOwnMs)} ms in its own process (medians of ${r.listRuns})`,
  ].join('\n');
}

process.exitCode = await runBenchmark('bench/scale.ts', 'zs', runBench, report);
