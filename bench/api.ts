/**
 * bench/api: zonixd's HTTP API under load, as root, in one run, against a bare Node HTTP server (a
 * process of its own, like zonixd) that answers the same bytes, loaded by autocannon on loopback
 * with the same settings (ZONIX_BENCH_CONNECTIONS, default 10; ZONIX_BENCH_SECONDS, default 10).
 * (a) `GET /v1/vms` with ZONIX_BENCH_VMS (1,000) VMs defined: requests per second and p99 latency.
 * (b) `GET /metrics` with ZONIX_BENCH_RUNNING (100) of them running: the same.
 *     Goal for both: within 3x of the bare server.
 * (c) zonixd's RSS with the 1,000 VMs after the load. Goal: under 150 MiB.
 * (d) How soon an event reaches a websocket client of `/v1/events` after the change: from the start
 *     of a `vmadm update` in the core (the change is written during it) and from the moment it
 *     returned; and from a zone's start returning to its "running" event. Goal: within 50 ms.
 * The load generator runs in this process on the same two cores as the server, for both servers.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import {
  createBtrfsPool,
  limited,
  loadUrl,
  log,
  median,
  positiveInt,
  runBenchmark,
  table,
  type BenchRun,
  type Load,
} from './lib.ts';
import { dropHostStartupCosts, ownProcessEnv, removeCgroups, startZonixd } from './zone-helpers.ts';

const VMS = positiveInt(process.env.ZONIX_BENCH_VMS, 1000);
const RUNNING = positiveInt(process.env.ZONIX_BENCH_RUNNING, 100);
const CONNECTIONS = positiveInt(process.env.ZONIX_BENCH_CONNECTIONS, 10);
const SECONDS = positiveInt(process.env.ZONIX_BENCH_SECONDS, 10);
const ROOT = join(import.meta.dirname, '..');
const CGROUP_PARENT = `zonix-bench-api-${process.pid}`;
process.env.ZONIX_CGROUP_PARENT = CGROUP_PARENT;
const droppedEnv = dropHostStartupCosts();

interface Result {
  vms: number;
  running: number;
  list: { zonixd: Load; bare: Load };
  metrics: { zonixd: Load; bare: Load };
  rssBytes: number;
  rssIdleBytes: number;
  eventFromStartMs: number[];
  eventFromDoneMs: number[];
  runningEventMs: number[];
}

/** A bare Node HTTP server in its own process, answering every request with `file`'s bytes. */
async function bareServer(file: string, type: string): Promise<{ url: string; stop: () => void }> {
  const code = `
    const body = require('node:fs').readFileSync(${JSON.stringify(file)});
    const s = require('node:http').createServer((req, res) => {
      res.writeHead(200, { 'content-type': ${JSON.stringify(type)}, 'content-length': body.length });
      res.end(body);
    });
    s.keepAliveTimeout = 72000;
    s.listen(0, '127.0.0.1', () => console.log(s.address().port));`;
  const child = spawn(process.execPath, ['-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: ownProcessEnv(),
  });
  const port = await new Promise<string>((resolve) =>
    child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())),
  );
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') };
}

const load = (url: string, headers: Record<string, string>) =>
  loadUrl(url, headers, { connections: CONNECTIONS, seconds: SECONDS });

function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

async function runBench(run: BenchRun): Promise<Result> {
  const { pool } = await createBtrfsPool(run, 'a', 8 * 1024 ** 3);
  process.env.ZONIX_SYSTEM_POOL = pool.name;
  const { VmCore } = await import('../src/vm/index.ts');
  const images = await import('../src/images/index.ts');
  const store = new images.ImageStore(pool);
  const core = new VmCore(pool, undefined, store.catalogue());
  const running: string[] = [];
  try {
    await images.importImage(store, 'minimal');
    const image = store.list()[0]!.manifest.uuid;
    log(`defining ${VMS} VMs`);
    const uuids: string[] = [];
    await limited(
      Array.from({ length: VMS }, (_, i) => i),
      4,
      async (i) => {
        const r = await core.create({
          brand: 'joyent-minimal',
          image_uuid: image,
          autoboot: false,
          alias: `bench-${i}`,
          max_physical_memory: 128,
          tags: { role: i % 2 ? 'web' : 'db' },
        });
        uuids.push(r.uuid);
        if (uuids.length % 200 === 0) log(`  ${uuids.length} defined`);
      },
    );
    const zonixd = await startZonixd(ROOT);
    const auth = { authorization: `Bearer ${zonixd.token}` };
    const bodies = join(run.env.dir, 'bodies');
    try {
      const rssIdleBytes = rssOf(zonixd.pid);
      // (a) the list.
      const listRes = await fetch(`${zonixd.url}/v1/vms`, { headers: auth });
      const listBody = Buffer.from(await listRes.arrayBuffer());
      const got = JSON.parse(listBody.toString()) as unknown[];
      if (got.length !== VMS) throw new Error(`GET /v1/vms listed ${got.length} VMs, not ${VMS}`);
      writeFileSync(`${bodies}-list`, listBody);
      log(`(a) GET /v1/vms (${(listBody.length / 1024).toFixed(0)} KiB): bare server, then zonixd`);
      const bareList = await bareServer(`${bodies}-list`, 'application/json; charset=utf-8');
      const listBare = await load(`${bareList.url}/v1/vms`, auth);
      bareList.stop();
      const listZ = await load(`${zonixd.url}/v1/vms`, auth);
      const rssBytes = rssOf(zonixd.pid);

      // (b) metrics with zones running.
      log(`(b) starting ${RUNNING} zones`);
      await limited(uuids.slice(0, RUNNING), 8, async (u) => {
        await core.start(u);
        running.push(u);
      });
      const mres = await fetch(`${zonixd.url}/metrics`, { headers: auth });
      const mbody = Buffer.from(await mres.arrayBuffer());
      const runningSeries = (mbody.toString().match(/^zonix_vm_cpu_seconds_total\{/gm) ?? []).length;
      if (runningSeries !== RUNNING)
        throw new Error(`/metrics has ${runningSeries} zones' CPU, not ${RUNNING}`);
      writeFileSync(`${bodies}-metrics`, mbody);
      log(`(b) GET /metrics (${(mbody.length / 1024).toFixed(0)} KiB): bare server, then zonixd`);
      const bareM = await bareServer(`${bodies}-metrics`, 'text/plain; version=0.0.4; charset=utf-8');
      const metricsBare = await load(`${bareM.url}/metrics`, auth);
      bareM.stop();
      const metricsZ = await load(`${zonixd.url}/metrics`, auth);

      // (d) events.
      log('(d) event latency');
      const ws = new WebSocket(`${zonixd.url.replace('http', 'ws')}/v1/events`, { headers: auth });
      const arrivals: {
        at: number;
        ev: { type?: string; uuid?: string; vm?: { alias?: string; state?: string } };
      }[] = [];
      ws.on('message', (d: Buffer) =>
        arrivals.push({ at: performance.now(), ev: JSON.parse(d.toString()) as (typeof arrivals)[0]['ev'] }),
      );
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      const waitFor = async (test: (e: (typeof arrivals)[0]['ev']) => boolean): Promise<number> => {
        for (let i = 0; i < 500; i++) {
          const hit = arrivals.find((a) => test(a.ev));
          if (hit) return hit.at;
          await new Promise((r) => setTimeout(r, 2));
        }
        throw new Error('no event within a second');
      };
      // One change first, not counted: the first look at a VM loads what zonixd had not needed yet.
      await core.update(uuids[VMS - 1]!, { alias: 'warm-up' });
      await waitFor((e) => e.type === 'modify' && e.vm?.alias === 'warm-up');
      const fromStart: number[] = [];
      const fromDone: number[] = [];
      for (let i = 0; i < 20; i++) {
        const u = uuids[RUNNING + i]!;
        const alias = `renamed-${i}`;
        const t0 = performance.now();
        await core.update(u, { alias });
        const t1 = performance.now();
        const at = await waitFor((e) => e.type === 'modify' && e.uuid === u && e.vm?.alias === alias);
        fromStart.push(at - t0);
        fromDone.push(Math.max(0, at - t1));
      }
      const runningEvent: number[] = [];
      for (let i = 0; i < 5; i++) {
        const u = uuids[RUNNING + 20 + i]!;
        await core.start(u);
        running.push(u);
        const t1 = performance.now();
        const at = await waitFor((e) => e.type === 'modify' && e.uuid === u && e.vm?.state === 'running');
        runningEvent.push(Math.max(0, at - t1));
      }
      ws.close();
      return {
        vms: VMS,
        running: RUNNING,
        list: { zonixd: listZ, bare: listBare },
        metrics: { zonixd: metricsZ, bare: metricsBare },
        rssBytes,
        rssIdleBytes,
        eventFromStartMs: fromStart,
        eventFromDoneMs: fromDone,
        runningEventMs: runningEvent,
      };
    } finally {
      await zonixd.stop();
    }
  } finally {
    log(`stopping and deleting the ${running.length} zones started`);
    await limited([...running], 8, (u) => core.delete(u).catch(() => undefined));
    const { stopMetadata } = await import('./lib.ts');
    await stopMetadata();
    await removeCgroups(CGROUP_PARENT);
  }
}

const f0 = (n: number) => n.toFixed(0);
const f1 = (n: number) => n.toFixed(1);

function report(r: Result): string {
  const row = (name: string, z: Load, b: Load) => [
    name,
    f0(b.rps),
    f0(z.rps),
    `${((z.rps / b.rps) * 100).toFixed(1)}%`,
    f1(b.p99),
    f1(z.p99),
    `${(z.p99 / Math.max(b.p99, 1)).toFixed(2)}x`,
  ];
  const max = (a: number[]) => Math.max(...a);
  return [
    '',
    `bench/api: ${r.vms} VMs defined, ${r.running} running; autocannon, ${CONNECTIONS} connections, ${SECONDS} s; timed without ${droppedEnv.join(', ') || '(nothing dropped)'}`,
    table(
      ['request', 'bare req/s', 'zonixd req/s', 'of bare', 'bare p99 ms', 'zonixd p99 ms', 'p99 ratio'],
      [
        row(`GET /v1/vms (${r.vms} VMs)`, r.list.zonixd, r.list.bare),
        row(`GET /metrics (${r.running} running)`, r.metrics.zonixd, r.metrics.bare),
      ],
      1,
    ),
    '',
    `(a)/(b) goal: within 3x of the bare server (zonixd at least 33.3% of its requests per second)`,
    `(c) zonixd RSS with ${r.vms} VMs: ${(r.rssBytes / 1048576).toFixed(1)} MiB after the list load (${(r.rssIdleBytes / 1048576).toFixed(1)} MiB at start); goal: under 150 MiB`,
    `(d) event after a change: from the update's start median ${f1(median(r.eventFromStartMs))} ms (max ${f1(max(r.eventFromStartMs))}), after it returned median ${f1(median(r.eventFromDoneMs))} ms (max ${f1(max(r.eventFromDoneMs))}); "running" after start returned median ${f1(median(r.runningEventMs))} ms (max ${f1(max(r.runningEventMs))}); goal: within 50 ms`,
  ].join('\n');
}

process.exitCode = await runBenchmark('bench/api', 'api', runBench, report);
