/**
 * bench/zones: the zone lifecycle through Zonix against a bare one, in one run, as root.
 * (a) bare: btrfs snapshot of the image's rootfs, `runc run` of /bin/true, delete;
 * (b) Zonix in-process: VmCore create (running), stop -F, delete;
 * (c) the same through the vmadm CLI; (d) `node -e 0`; (e) `vmadm list` with no VMs.
 * Goals: (b) within 2x of (a), (e) within 1.5x of (d). Also the memory of an idle zone's monitor.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
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

const RUNS = positiveInt(process.env.ZONIX_BENCH_RUNS, 10);
const ROOT = join(import.meta.dirname, '..');
const bin = (tool: string) => join(ROOT, 'bin', tool);

interface Result {
  runs: number;
  bareMs: number;
  coreMs: number;
  cliMs: number;
  nodeMs: number;
  listMs: number;
  coreVsBare: number;
  listVsNode: number;
  monitorPssKiB: number;
}

async function pss(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  return Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
}

async function runBench(run: BenchRun): Promise<Result> {
  const parent = `zonix-${run.env.prefix}`;
  process.env.ZONIX_CGROUP_PARENT = parent;
  const { pool } = await createBtrfsPool(run, 'z', 2 * 1024 ** 3);
  process.env.ZONIX_SYSTEM_POOL = pool.name;
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
    const samples = {
      bare: [] as number[],
      core: [] as number[],
      cli: [] as number[],
      node: [] as number[],
      list: [] as number[],
    };

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

      samples.core.push(
        await timed(async () => {
          const { uuid } = await core.create({ brand: 'joyent-minimal', image_uuid: image });
          await core.stop(uuid, { force: true });
          await core.delete(uuid);
        }),
      );

      const payload = join(run.env.dir, 'vm.json');
      const uuid = randomUUID();
      await writeFile(payload, JSON.stringify({ uuid, brand: 'joyent-minimal', image_uuid: image }));
      samples.cli.push(
        await timed(async () => {
          await exec(bin('vmadm'), ['create', '-f', payload]);
          await exec(bin('vmadm'), ['stop', '-F', uuid]);
          await exec(bin('vmadm'), ['delete', uuid]);
        }),
      );
      samples.node.push(await timed(() => exec(process.execPath, ['-e', '0'])));
      samples.list.push(await timed(() => exec(bin('vmadm'), ['list'])));
      await settle();
    }

    log('memory of one idle running zone');
    const { uuid } = await core.create({ brand: 'joyent-minimal', image_uuid: image });
    const conmonPid = Number(await readFile(join(zones.zoneDir(uuid), 'conmon.pid'), 'utf8'));
    const monitorPssKiB = await pss(conmonPid);
    await core.delete(uuid);

    const m = (k: keyof typeof samples) => median(samples[k]);
    return {
      runs: RUNS,
      bareMs: m('bare'),
      coreMs: m('core'),
      cliMs: m('cli'),
      nodeMs: m('node'),
      listMs: m('list'),
      coreVsBare: m('core') / m('bare'),
      listVsNode: m('list') / m('node'),
      monitorPssKiB,
    };
  } finally {
    // Whatever a failed round left running goes before the pool does.
    const { VmCore } = await import('../src/vm/core.ts');
    const core = new VmCore(pool);
    for (const vm of await core.list().catch(() => [])) await core.delete(vm.uuid).catch(() => undefined);
    await exec('sh', [
      '-c',
      `rmdir /sys/fs/cgroup/*/${parent}/* /sys/fs/cgroup/*/${parent} 2>/dev/null; true`,
    ]);
  }
}

function report(r: Result): string {
  const rows = [
    ['(a) bare: btrfs snapshot + runc run /bin/true + delete', fmtMs(r.bareMs), '1.00x'],
    ['(b) Zonix core: create (running) + stop -F + delete', fmtMs(r.coreMs), fmtX(r.coreVsBare)],
    ['(c) vmadm CLI: create + stop -F + delete', fmtMs(r.cliMs), fmtX(r.cliMs / r.bareMs)],
    ['(d) node -e 0', fmtMs(r.nodeMs), ''],
    ['(e) vmadm list, no VMs', fmtMs(r.listMs), `${fmtX(r.listVsNode)} of (d)`],
  ];
  return [
    `Zone lifecycle, medians of ${r.runs} (goals: (b) <= 2x (a); (e) <= 1.5x (d))`,
    table(['what', 'ms', 'ratio'], rows, 1),
    `  idle zone monitor (conmon) PSS: ${r.monitorPssKiB} KiB`,
  ].join('\n');
}

process.exitCode = await runBenchmark('bench/zones.ts', 'zz', runBench, report);
