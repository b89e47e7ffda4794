/**
 * bench/metadata: the metadata service, as root, in one run.
 * (a) GET round trips per second from inside a zone over its metadata socket (V2 `GET sdc:uuid`,
 *     one connection, ZONIX_BENCH_RTS requests, median of 3 rounds) against a bare echo server (a
 *     Node process that sends each line back) on the same kind of socket, reached from the same
 *     zone: the ratio is what the protocol and the key lookup cost. Goal: at least half.
 * (b) The memory of the host's metadata processes (zonix-metadata and its respawner) with
 *     ZONIX_BENCH_ZONES (100) running zones, each of which has asked for a key: RSS, and its
 *     anonymous part (RSS less the node binary's file pages, which every Node process on the host
 *     shares). Goal: under 30 MiB in all.
 * Timed commands run without NODE_EXTRA_CA_CERTS (see zone-helpers).
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createBtrfsPool,
  exec,
  log,
  median,
  positiveInt,
  runBenchmark,
  table,
  type BenchRun,
} from './lib.ts';
import { dropHostStartupCosts, ownProcessEnv, removeCgroups } from './zone-helpers.ts';

const ZONES = positiveInt(process.env.ZONIX_BENCH_ZONES, 100);
const RTS = positiveInt(process.env.ZONIX_BENCH_RTS, 20000);
const ROUNDS = positiveInt(process.env.ZONIX_BENCH_ROUNDS, 3);
const CGROUP_PARENT = `zonix-bench-md-${process.pid}`;
process.env.ZONIX_CGROUP_PARENT = CGROUP_PARENT;
const droppedEnv = dropHostStartupCosts();

interface Result {
  zones: number;
  requests: number;
  mdPerSec: number;
  echoPerSec: number;
  rssBytes: number;
  anonBytes: number;
  /** The same with one zone (after its round trips). */
  rss1Bytes: number;
  anon1Bytes: number;
  respawnRssBytes: number;
}

/** A bare echo server (each line sent back) on `path`, in a Node process of its own. */
function echoServer(path: string): { stop: () => void; ready: Promise<void> } {
  const code = `
    const net = require('node:net');
    net.createServer((s) => s.on('data', (d) => s.write(d))).listen(${JSON.stringify(path)}, () => console.log('ready'));`;
  const child = spawn(process.execPath, ['-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: ownProcessEnv(),
  });
  const ready = new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  return { stop: () => child.kill('SIGKILL'), ready };
}

const statusKb = (pid: number, field: string): number =>
  Number(
    new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0,
  );

async function status(): Promise<{ pid: number; served: string[] }> {
  const { askMetadata } = await import('../src/metadata/index.ts');
  const r = await askMetadata({ op: 'status' });
  if (!r?.pid || !r.served) throw new Error('zonix-metadata does not answer');
  return { pid: r.pid, served: r.served };
}

async function runBench(run: BenchRun): Promise<Result> {
  const { pool } = await createBtrfsPool(run, 'm', 4 * 1024 ** 3);
  process.env.ZONIX_SYSTEM_POOL = pool.name;
  const { Host } = await import('../src/host/index.ts');
  const images = await import('../src/images/index.ts');
  const host = new Host();
  const made: string[] = [];
  const echo: { stop: () => void } = { stop: () => undefined };
  try {
    const store = new images.ImageStore(pool);
    await images.importImage(store, 'minimal');
    const image = store.list()[0]!.manifest.uuid;
    if (droppedEnv.length) log(`timed commands run without ${droppedEnv.join(', ')}`);
    const zone = async () => {
      const { uuid } = await host.create({
        brand: 'joyent-minimal',
        image_uuid: image,
        autoboot: true,
        max_physical_memory: 32,
      });
      made.push(uuid);
      return uuid;
    };

    // (a) round trips from a zone: the metadata socket against an echo server's.
    const z = await zone();
    const root = join(host.core().store.zonepath(z), 'root');
    const rt = join(run.env.dir, 'mdata-rt');
    execFileSync('cc', ['-static', '-Os', '-o', rt, join(import.meta.dirname, 'mdata-rt.c')]);
    copyFileSync(rt, join(root, 'root', 'mdata-rt'));
    chmodSync(join(root, 'root', 'mdata-rt'), 0o755);
    const e = echoServer(join(root, 'root', 'echo.sock'));
    echo.stop = e.stop;
    await e.ready;
    const zlogin = join(import.meta.dirname, '..', 'bin', 'zlogin');
    const perSec = async (sock: string, mode: string) => {
      const out = await exec(zlogin, [z, '/root/mdata-rt', sock, String(RTS), mode], 'pipe', ownProcessEnv());
      const [n, s] = out.trim().split(' ').map(Number) as [number, number];
      return n / s;
    };
    log(`round trips from zone ${z}: ${ROUNDS} rounds of ${RTS}, metadata and echo in turn`);
    const md: number[] = [];
    const ec: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      md.push(await perSec('/.zonecontrol/metadata.sock', 'md'));
      ec.push(await perSec('/root/echo.sock', 'echo'));
    }
    e.stop();
    const one = await status();
    const rss1Bytes = statusKb(one.pid, 'VmRSS') * 1024;
    const anon1Bytes = statusKb(one.pid, 'RssAnon') * 1024;

    // (b) memory with ZONES running zones, each served and each having asked once.
    log(`starting ${ZONES - 1} more zones`);
    while (made.length < ZONES) await zone();
    log(`each zone asks for sdc:uuid once`);
    for (const u of made) {
      const got = await exec(zlogin, [u, 'mdata-get', 'sdc:uuid'], 'pipe', ownProcessEnv());
      if (got.trim() !== u) throw new Error(`zone ${u} got ${got}`);
    }
    const st = await status();
    if (st.served.length !== ZONES) throw new Error(`serving ${st.served.length} zones, not ${ZONES}`);
    const ppid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${st.pid}/status`, 'utf8'))?.[1]);
    const parent = readFileSync(`/proc/${ppid}/cmdline`, 'utf8');
    const respawnRss = parent.includes('zonix-respawn') ? statusKb(ppid, 'VmRSS') * 1024 : 0;
    return {
      zones: ZONES,
      requests: RTS,
      mdPerSec: median(md),
      echoPerSec: median(ec),
      rssBytes: statusKb(st.pid, 'VmRSS') * 1024,
      anonBytes: statusKb(st.pid, 'RssAnon') * 1024,
      rss1Bytes,
      anon1Bytes,
      respawnRssBytes: respawnRss,
    };
  } finally {
    echo.stop();
    log(`deleting ${made.length} zones`);
    for (const u of made) await host.delete(u).catch((err: unknown) => log(`deleting ${u}: ${String(err)}`));
    for (const d of await removeCgroups(CGROUP_PARENT)) log(`cgroup left behind: ${d}`);
    await exec('true', []);
  }
}

function report(r: Result): string {
  const mib = (b: number) => (b / 1024 ** 2).toFixed(1);
  const rows = [
    ['(a) echo server, same kind of socket: round trips/s', r.echoPerSec.toFixed(0), '100.0%'],
    [
      '(a) metadata GET sdc:uuid: round trips/s',
      r.mdPerSec.toFixed(0),
      `${((r.mdPerSec / r.echoPerSec) * 100).toFixed(1)}%`,
    ],
    ['(b) zonix-metadata RSS, 1 zone (MiB)', mib(r.rss1Bytes), ''],
    ['(b)   of which anonymous (MiB)', mib(r.anon1Bytes), ''],
    [`(b) zonix-metadata RSS, ${r.zones} zones (MiB)`, mib(r.rssBytes), ''],
    ['(b)   of which anonymous (MiB)', mib(r.anonBytes), ''],
    ['(b) zonix-respawn RSS (MiB)', mib(r.respawnRssBytes), ''],
    ['(b) all metadata processes, RSS (MiB)', mib(r.rssBytes + r.respawnRssBytes), ''],
  ];
  return [
    `Metadata, medians (goals: (a) at least 50% of the echo server; (b) under 30 MiB in all)`,
    table(['what', 'value', 'of echo'], rows, 1),
  ].join('\n');
}

process.exitCode = await runBenchmark('bench/metadata.ts', 'zm', runBench, report);
