/**
 * bench/zones: the zone lifecycle through Zonix against a bare one, in one run, as root.
 * (a) bare: btrfs snapshot of the image's rootfs, `runc run` of /bin/true, delete;
 * (b) Zonix in-process: VmCore create (running), stop -F, delete;
 * (c) the same through the vmadm CLI, with zonixd running (the commands run in it), and (c') with each
 * command in its own Node process; (d) `node -e 0`; (e) `vmadm list` with no VMs, both ways.
 * Goals: (b) within 1.5x of (a); (c) under 172 ms, 5x faster than LXD's launch, stop and delete on this
 * machine kind (about 860 ms); (e') within 1.5x of (d). Also the memory of an idle zone's monitor.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createBtrfsPool,
  exec,
  fmtMs,
  fmtX,
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

const RUNS = positiveInt(process.env.ZONIX_BENCH_RUNS, 10);
const ROOT = join(import.meta.dirname, '..');
const bin = (tool: string) => join(ROOT, 'bin', tool);
/** The zones' cgroups go under this parent (set before any Zonix module loads), removed at the end. */
const CGROUP_PARENT = `zonix-bench-${randomBytes(3).toString('hex')}`;
process.env.ZONIX_CGROUP_PARENT = CGROUP_PARENT;
const droppedEnv = dropHostStartupCosts();
interface Result {
  runs: number;
  bareMs: number;
  coreMs: number;
  coreCreateMs: number;
  coreStopMs: number;
  coreDeleteMs: number;
  cliMs: number;
  cliOwnMs: number;
  nodeMs: number;
  listMs: number;
  listOwnMs: number;
  coreVsBare: number;
  listVsNode: number;
  monitorPssKiB: number;
}

async function runBench(run: BenchRun): Promise<Result> {
  const parent = CGROUP_PARENT;
  const { pool } = await createBtrfsPool(run, 'z', 2 * 1024 ** 3);
  process.env.ZONIX_SYSTEM_POOL = pool.name;
  let zonixd: Awaited<ReturnType<typeof startZonixd>> | undefined;
  try {
    const images = await import('../src/images/index.ts');
    const { VmCore } = await import('../src/vm/core.ts');
    const zones = await import('../src/zones/index.ts');
    const store = new images.ImageStore(pool);
    await images.importImage(store, 'minimal');
    const image = store.list()[0]!.manifest.uuid;
    const core = new VmCore(pool, undefined, store.catalogue());
    const settle = () => settleBtrfsPool(pool.top);
    const runcRoot = join(run.env.dir, 'bare-runc');
    const snapSrc = pool.datasetPath(`${pool.name}/${image}@final`);
    await mkdir(join(pool.top, 'tmp'), { recursive: true });
    const payloadOf = (extra: object) => ({
      brand: 'joyent-minimal',
      image_uuid: image,
      autoboot: true,
      ...extra,
    });
    const samples = {
      bare: [] as number[],
      core: [] as number[],
      coreCreate: [] as number[],
      coreStop: [] as number[],
      coreDelete: [] as number[],
      cli: [] as number[],
      cliOwn: [] as number[],
      node: [] as number[],
      list: [] as number[],
      listOwn: [] as number[],
    };
    // The CLI's commands run in zonixd, started as setup.sh starts it, for this run's settings.
    zonixd = await startZonixd(ROOT);
    const own = ownProcessEnv();

    if (droppedEnv.length) log(`timed commands run without ${droppedEnv.join(', ')}`);
    log(`lifecycles: ${RUNS} rounds of each`);
    for (let r = 0; r < RUNS; r++) {
      const id = `bare-${r}`;
      const sub = join(pool.top, 'tmp', id);
      const bundle = join(run.env.dir, 'bundles', id);
      await mkdir(bundle, { recursive: true });
      const spec = zones.buildOciSpec({
        id,
        rootfs: join(sub, 'root'),
        hostname: id,
        args: ['/bin/true'],
        cgroupsPath: `/${parent}/${id}`,
      });
      await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
      samples.bare.push(
        await timed(async () => {
          await exec('btrfs', ['subvolume', 'snapshot', snapSrc, sub]);
          await exec('runc', ['--root', runcRoot, 'run', '-b', bundle, id]);
          await exec('btrfs', ['subvolume', 'delete', sub]);
        }),
      );
      await rm(bundle, { recursive: true, force: true });

      // Timed in three parts (the check that it runs is not timed); (b) is their sum.
      let vm = '';
      const createMs = await timed(async () => ({ uuid: vm } = await core.create(payloadOf({}))));
      const st = await core.get(vm);
      if (st.state !== 'running') throw new Error(`VM ${vm} is ${String(st.state)}, not running`);
      const stopMs = await timed(() => core.stop(vm, { force: true }));
      const deleteMs = await timed(() => core.delete(vm));
      samples.coreCreate.push(createMs);
      samples.coreStop.push(stopMs);
      samples.coreDelete.push(deleteMs);
      samples.core.push(createMs + stopMs + deleteMs);

      const payload = join(run.env.dir, 'vm.json');
      for (const [key, env] of [
        ['cli', undefined],
        ['cliOwn', own],
      ] as const) {
        const uuid = randomUUID();
        await writeFile(payload, JSON.stringify(payloadOf({ uuid })));
        samples[key].push(
          await timed(async () => {
            await exec(bin('vmadm'), ['create', '-f', payload], 'pipe', env);
            await exec(bin('vmadm'), ['stop', '-F', uuid], 'pipe', env);
            await exec(bin('vmadm'), ['delete', uuid], 'pipe', env);
          }),
        );
      }
      samples.node.push(await timed(() => exec(process.execPath, ['-e', '0'])));
      samples.list.push(await timed(() => exec(bin('vmadm'), ['list'])));
      samples.listOwn.push(await timed(() => exec(bin('vmadm'), ['list'], 'pipe', own)));
      await settle();
    }
    await zonixd.stop();
    zonixd = undefined;

    log('memory of one idle running zone');
    const { uuid } = await core.create(payloadOf({}));
    await new Promise((r) => setTimeout(r, 1000));
    const conmonPid = Number(await readFile(join(zones.zoneDir(uuid), 'conmon.pid'), 'utf8'));
    const monitorPssKiB = await pss(conmonPid);
    await core.delete(uuid);

    const m = (k: keyof typeof samples) => median(samples[k]);
    return {
      runs: RUNS,
      bareMs: m('bare'),
      coreMs: m('core'),
      coreCreateMs: m('coreCreate'),
      coreStopMs: m('coreStop'),
      coreDeleteMs: m('coreDelete'),
      cliMs: m('cli'),
      cliOwnMs: m('cliOwn'),
      nodeMs: m('node'),
      listMs: m('list'),
      listOwnMs: m('listOwn'),
      coreVsBare: m('core') / m('bare'),
      listVsNode: m('listOwn') / m('node'),
      monitorPssKiB,
    };
  } finally {
    await zonixd?.stop();
    // Whatever a failed round left running goes before the pool does.
    const { VmCore } = await import('../src/vm/core.ts');
    const core = new VmCore(pool);
    for (const vm of await core.list().catch(() => [])) {
      log(`deleting leftover VM ${vm.uuid}`);
      await core
        .delete(vm.uuid)
        .catch((err: unknown) => log(`deleting VM ${vm.uuid} failed: ${String(err)}`));
    }
    // Bare containers a failed round left, then their subvolumes.
    const bareRoot = join(run.env.dir, 'bare-runc');
    const bareIds = (await readdir(bareRoot).catch(() => [] as string[])).filter((d) =>
      d.startsWith('bare-'),
    );
    for (const id of bareIds)
      await exec('runc', ['--root', bareRoot, 'delete', '--force', id]).catch(() => undefined);
    for (const sub of await readdir(join(pool.top, 'tmp')).catch(() => [] as string[]))
      if (sub.startsWith('bare-'))
        await exec('btrfs', ['subvolume', 'delete', join(pool.top, 'tmp', sub)]).catch(() => undefined);

    // Leak check: no VM, container state, monitor or runtime process, or cgroup of this run is left.
    const leaks: string[] = [];
    for (const vm of await core.list().catch(() => [])) leaks.push(`VM left behind: ${vm.uuid}`);
    for (const root of [bareRoot, join(process.env.ZONIX_RUN_DIR!, 'runc')]) {
      const left = await readdir(root).catch(() => [] as string[]);
      if (left.length) leaks.push(`runc state left in ${root}: ${left.join(', ')}`);
    }
    for (const p of await processesMentioning(run.env.dir)) leaks.push(`process left behind: ${p}`);
    for (const d of await removeCgroups(CGROUP_PARENT)) leaks.push(`cgroup left behind: ${d}`);
    if (leaks.length) {
      for (const l of leaks) console.error(`error: ${l}`);
      // eslint-disable-next-line no-unsafe-finally
      throw new Error(`${leaks.length} leftover(s) of the zones`);
    }
    log('no VMs, runc state, monitors or cgroups left');
  }
}

function report(r: Result): string {
  const rows = [
    ['(a) bare: btrfs snapshot + runc run /bin/true + delete', fmtMs(r.bareMs), '1.00x'],
    ['(b) Zonix core: create (running) + stop -F + delete', fmtMs(r.coreMs), fmtX(r.coreVsBare)],
    ['      create (autoboot, running)', fmtMs(r.coreCreateMs), ''],
    ['      stop -F', fmtMs(r.coreStopMs), ''],
    ['      delete', fmtMs(r.coreDeleteMs), ''],
    ['(c) vmadm CLI: create + stop -F + delete, zonixd', fmtMs(r.cliMs), fmtX(r.cliMs / r.bareMs)],
    ["(c') the same, each in its own process", fmtMs(r.cliOwnMs), fmtX(r.cliOwnMs / r.bareMs)],
    ['(d) node -e 0', fmtMs(r.nodeMs), ''],
    ['(e) vmadm list, no VMs, zonixd', fmtMs(r.listMs), `${fmtX(r.listMs / r.nodeMs)} of (d)`],
    ["(e') the same, in its own process", fmtMs(r.listOwnMs), `${fmtX(r.listVsNode)} of (d)`],
  ];
  return [
    `Zone lifecycle, medians of ${r.runs} (goals: (b) <= 1.5x (a); (c) < 172 ms; (e') <= 1.5x (d))`,
    table(['what', 'ms', 'ratio'], rows, 1),
    `  idle zone monitor (conmon) PSS: ${r.monitorPssKiB} KiB`,
  ].join('\n');
}

process.exitCode = await runBenchmark('bench/zones.ts', 'zz', runBench, report);
