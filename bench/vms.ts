/**
 * bench/vms: a host with many VMs, as root. Defines ZONIX_BENCH_VMS VMs (default 1,000) from the
 * `minimal` image, runs ZONIX_BENCH_RUNNING of them (default 100), then times `vmadm list` and
 * `vmadm get` (goal: under 150 ms each) against `node -e 0`, and measures the host memory an idle
 * running zone costs beyond a bare `runc run -d` of the same image (goal: under 1 MiB more): the
 * zone's cgroup plus its monitor (conmon), against the bare container's cgroup.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createBtrfsPool, exec, fmtMs, log, median, positiveInt, runBenchmark, table, timed } from './lib.ts';
import type { BenchRun } from './lib.ts';
import {
  cgroupMemory,
  dropHostStartupCosts,
  processesMentioning,
  pss,
  removeCgroups,
  startZonixd,
} from './zone-helpers.ts';

const VMS = positiveInt(process.env.ZONIX_BENCH_VMS, 1000);
const RUNNING = Math.min(positiveInt(process.env.ZONIX_BENCH_RUNNING, 100), VMS);
const RUNS = positiveInt(process.env.ZONIX_BENCH_RUNS, 21);
const ROOT = join(import.meta.dirname, '..');
const bin = (tool: string) => join(ROOT, 'bin', tool);
const CGROUP_PARENT = `zonix-benchvms-${randomBytes(3).toString('hex')}`;
const BARE_PARENT = `${CGROUP_PARENT}-bare`;
process.env.ZONIX_CGROUP_PARENT = CGROUP_PARENT;
const droppedEnv = dropHostStartupCosts();

interface Result {
  vms: number;
  running: number;
  runs: number;
  poolMetaKiB: number;
  nodeMs: number;
  listMs: number;
  listParsableMs: number;
  getMs: number;
  coreListMs: number;
  listZonixdMs: number;
  getZonixdMs: number;
  zoneKiB: number;
  monitorKiB: number;
  bareKiB: number;
  extraKiB: number;
}

/** `runc` with nothing attached to its stdio, so a detached container holds no pipe of ours open. */
function runcDetached(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('runc', args, { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`runc ${args.join(' ')} exited ${code}`)),
    );
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runBench(run: BenchRun): Promise<Result> {
  const { pool } = await createBtrfsPool(run, 'v', 8 * 1024 ** 3);
  process.env.ZONIX_SYSTEM_POOL = pool.name;
  const bareRoot = join(run.env.dir, 'bare-runc');
  const bareIds: string[] = [];
  const { VmCore } = await import('../src/vm/core.ts');
  const cleanupCore = new VmCore(pool);
  try {
    const images = await import('../src/images/index.ts');
    const zones = await import('../src/zones/index.ts');
    const store = new images.ImageStore(pool);
    await images.importImage(store, 'minimal');
    const image = store.list()[0]!.manifest.uuid;
    const core = new VmCore(pool, undefined, store.catalogue());

    log(`defining ${VMS} VMs, ${RUNNING} of them running`);
    const uuids: string[] = [];
    for (let i = 0; i < VMS; i++) {
      const { uuid } = await core.create({
        brand: 'joyent-minimal',
        image_uuid: image,
        alias: `vm${i}`,
        autoboot: false,
        max_physical_memory: 128,
      });
      uuids.push(uuid);
      if ((i + 1) % 100 === 0) log(`  ${i + 1} defined`);
    }
    for (const uuid of uuids.slice(0, RUNNING)) await core.start(uuid);
    const running = (await core.list()).filter((vm) => vm.state === 'running').length;
    if (running !== RUNNING) throw new Error(`${running} VMs running, expected ${RUNNING}`);
    const poolMetaKiB = Math.round((await readFile(join(pool.top, 'meta', 'pool.json'))).length / 1024);

    if (droppedEnv.length) log(`timed commands run without ${droppedEnv.join(', ')}`);
    log(`timing: ${RUNS} rounds`);
    const samples = {
      node: [] as number[],
      list: [] as number[],
      listP: [] as number[],
      get: [] as number[],
      core: [] as number[],
      listZ: [] as number[],
      getZ: [] as number[],
    };
    const target = uuids[0]!;
    for (let r = 0; r < RUNS; r++) {
      samples.node.push(await timed(() => exec(process.execPath, ['-e', '0'])));
      let out = '';
      samples.list.push(await timed(async () => (out = await exec(bin('vmadm'), ['list']))));
      if (out.trim().split('\n').length !== VMS + 1) throw new Error('vmadm list did not list every VM');
      samples.listP.push(await timed(() => exec(bin('vmadm'), ['list', '-p', '-o', 'uuid,state,alias'])));
      samples.get.push(await timed(async () => (out = await exec(bin('vmadm'), ['get', target]))));
      if ((JSON.parse(out) as { state: string }).state !== 'running') throw new Error('get: not running');
      samples.core.push(await timed(() => core.list()));
    }
    // The same through zonixd, as setup.sh runs it.
    const zonixd = await startZonixd(ROOT);
    try {
      await exec(bin('vmadm'), ['list']);
      for (let r = 0; r < RUNS; r++) {
        samples.listZ.push(await timed(() => exec(bin('vmadm'), ['list'])));
        samples.getZ.push(await timed(() => exec(bin('vmadm'), ['get', target])));
      }
    } finally {
      await zonixd.stop();
    }

    log(`memory: ${RUNNING} idle zones against ${RUNNING} bare runc containers`);
    await sleep(2000);
    let zoneBytes = 0;
    let monitorKiB = 0;
    for (const uuid of uuids.slice(0, RUNNING)) {
      zoneBytes += await cgroupMemory(`${CGROUP_PARENT}/${uuid}`);
      monitorKiB += await pss(Number(await readFile(join(zones.zoneDir(uuid), 'conmon.pid'), 'utf8')));
    }
    // The same image, the same init, each in its own snapshot, run detached by bare runc.
    const snapSrc = pool.datasetPath(`${pool.name}/${image}@final`);
    await mkdir(join(pool.top, 'tmp'), { recursive: true });
    for (let i = 0; i < RUNNING; i++) {
      const id = `bare-${i}`;
      const sub = join(pool.top, 'tmp', id);
      const bundle = join(run.env.dir, 'bundles', id);
      await mkdir(bundle, { recursive: true });
      await exec('btrfs', ['subvolume', 'snapshot', snapSrc, sub]);
      const spec = zones.buildOciSpec({
        id,
        rootfs: join(sub, 'root'),
        hostname: id,
        cgroupsPath: `/${BARE_PARENT}/${id}`,
        resources: { memoryBytes: 128 * 1024 * 1024 },
      });
      await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
      bareIds.push(id);
      await runcDetached(['--root', bareRoot, 'run', '-d', '-b', bundle, id]);
    }
    await sleep(2000);
    let bareBytes = 0;
    for (const id of bareIds) bareBytes += await cgroupMemory(`${BARE_PARENT}/${id}`);

    const zoneKiB = zoneBytes / 1024 / RUNNING;
    const perMonitor = monitorKiB / RUNNING;
    const bareKiB = bareBytes / 1024 / RUNNING;
    const m = (k: keyof typeof samples) => median(samples[k]);
    return {
      vms: VMS,
      running: RUNNING,
      runs: RUNS,
      poolMetaKiB,
      nodeMs: m('node'),
      listMs: m('list'),
      listParsableMs: m('listP'),
      getMs: m('get'),
      coreListMs: m('core'),
      listZonixdMs: m('listZ'),
      getZonixdMs: m('getZ'),
      zoneKiB,
      monitorKiB: perMonitor,
      bareKiB,
      extraKiB: zoneKiB + perMonitor - bareKiB,
    };
  } finally {
    log('removing the bare containers and every VM');
    for (const id of bareIds) {
      await exec('runc', ['--root', bareRoot, 'delete', '--force', id]).catch(() => undefined);
      await exec('btrfs', ['subvolume', 'delete', join(pool.top, 'tmp', id)]).catch(() => undefined);
    }
    for (const uuid of cleanupCore.store.uuids())
      await cleanupCore
        .delete(uuid)
        .catch((err: unknown) => log(`deleting VM ${uuid} failed: ${String(err)}`));
    const leaks: string[] = [];
    for (const vm of await cleanupCore.list().catch(() => [])) leaks.push(`VM left behind: ${vm.uuid}`);
    for (const root of [bareRoot, join(process.env.ZONIX_RUN_DIR!, 'runc')]) {
      const left = await readdir(root).catch(() => [] as string[]);
      if (left.length) leaks.push(`runc state left in ${root}: ${left.length} containers`);
    }
    for (const p of await processesMentioning(run.env.dir)) leaks.push(`process left behind: ${p}`);
    for (const parent of [CGROUP_PARENT, BARE_PARENT])
      for (const d of await removeCgroups(parent)) leaks.push(`cgroup left behind: ${d}`);
    await rm(join(run.env.dir, 'bundles'), { recursive: true, force: true });
    if (leaks.length) {
      for (const l of leaks) console.error(`error: ${l}`);
      // eslint-disable-next-line no-unsafe-finally
      throw new Error(`${leaks.length} leftover(s)`);
    }
    log('no VMs, runc state, monitors or cgroups left');
  }
}

function report(r: Result): string {
  const kib = (n: number) => `${n.toFixed(0)} KiB`;
  const rows = [
    ['node -e 0', fmtMs(r.nodeMs), ''],
    ['vmadm list', fmtMs(r.listMs), r.listMs < 150 ? 'under 150 ms' : 'OVER 150 ms'],
    ['vmadm list -p -o uuid,state,alias', fmtMs(r.listParsableMs), ''],
    ['vmadm get <running uuid>', fmtMs(r.getMs), r.getMs < 150 ? 'under 150 ms' : 'OVER 150 ms'],
    ['VmCore.list() in-process', fmtMs(r.coreListMs), ''],
    ['vmadm list, through zonixd', fmtMs(r.listZonixdMs), ''],
    ['vmadm get <running uuid>, through zonixd', fmtMs(r.getZonixdMs), ''],
  ];
  return [
    `${r.vms} VMs defined, ${r.running} running; medians of ${r.runs}; pool metadata ${r.poolMetaKiB} KiB`,
    table(['what', 'ms', 'goal'], rows, 1),
    `  per idle running zone: zone cgroup ${kib(r.zoneKiB)} + monitor (conmon PSS) ${kib(r.monitorKiB)}` +
      ` vs bare runc container cgroup ${kib(r.bareKiB)}: ${kib(r.extraKiB)} more (goal: under 1024 KiB)`,
  ].join('\n');
}

process.exitCode = await runBenchmark('bench/vms.ts', 'zv', runBench, report);
