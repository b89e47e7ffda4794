/**
 * bench/cloudapi: CloudAPI against zonixd's native API over the same VMs, as root, in one run.
 * (a) `GET /:login/machines` (1,000 machines, one page) under load, signed (HTTP Signature, one
 *     signature reused for the run: a date stays good for 300 s), against the native `GET /v1/vms`
 *     of the same VMs (a bearer token), both from zonixd, loaded by autocannon on loopback with the
 *     same settings. Goal: signature checks and mapping add under 30% (per request) to the native list.
 * (b) `triton instance list` with the 1,000 machines: its wall time (median of 5), against
 *     `triton --version` (the CLI's own start) and `vmadm list` of the same VMs.
 * (c) `triton instance create -w IMAGE PACKAGE` to running (median of 5) against `vmadm create` of
 *     the same payload plus `triton --version`. Goal: within 1.5x.
 * Commands are timed without NODE_EXTRA_CA_CERTS, which adds 30-50 ms to each Node start here.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import httpSignature from 'http-signature';
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
import { dropHostStartupCosts, removeCgroups, startZonixd } from './zone-helpers.ts';

const VMS = positiveInt(process.env.ZONIX_BENCH_VMS, 1000);
const CONNECTIONS = positiveInt(process.env.ZONIX_BENCH_CONNECTIONS, 10);
const SECONDS = positiveInt(process.env.ZONIX_BENCH_SECONDS, 10);
const ROUNDS = positiveInt(process.env.ZONIX_BENCH_ROUNDS, 5);
const ROOT = join(import.meta.dirname, '..');
const TRITON = join(ROOT, 'node_modules', '.bin', 'triton');
const CGROUP_PARENT = `zonix-bench-cloudapi-${process.pid}`;
process.env.ZONIX_CGROUP_PARENT = CGROUP_PARENT;
const droppedEnv = dropHostStartupCosts();
const exec = promisify(execFile);

interface Result {
  vms: number;
  cloud: Load;
  native: Load;
  tritonList: number[];
  tritonVersion: number[];
  vmadmList: number[];
  tritonCreate: number[];
  vmadmCreate: number[];
}

const load = (url: string, headers: Record<string, string>) =>
  loadUrl(url, headers, { connections: CONNECTIONS, seconds: SECONDS });

/** The headers of a request signed as the triton CLI signs (http-signature, the account's key). */
function signedHeaders(
  url: string,
  path: string,
  keyFile: string,
  keyId: string,
): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => resolve(headers));
    });
    req.on('error', reject);
    req.setHeader('date', new Date().toUTCString());
    req.setHeader('accept', 'application/json');
    httpSignature.sign(req, {
      key: readFileSync(keyFile, 'utf8'),
      keyId,
      headers: ['(request-target)', 'date'],
    });
    const headers = {
      date: String(req.getHeader('date')),
      accept: 'application/json',
      authorization: String(req.getHeader('authorization')),
    };
    req.end();
  });
}

/** Wall time of a command, in ms. */
async function timed(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ ms: number; out: string }> {
  const t0 = performance.now();
  const out = await new Promise<string>((resolve, reject) => {
    const c = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let o = '';
    let e = '';
    c.stdout.on('data', (d: Buffer) => (o += d.toString()));
    c.stderr.on('data', (d: Buffer) => (e += d.toString()));
    c.on('close', (code) =>
      code === 0 ? resolve(o + e) : reject(new Error(`${cmd} ${args.join(' ')}: ${code}: ${e}`)),
    );
  });
  return { ms: performance.now() - t0, out };
}

async function runBench(run: BenchRun): Promise<Result> {
  const { pool } = await createBtrfsPool(run, 'c', 8 * 1024 ** 3);
  process.env.ZONIX_SYSTEM_POOL = pool.name;
  const { VmCore } = await import('../src/vm/index.ts');
  const images = await import('../src/images/index.ts');
  const store = new images.ImageStore(pool);
  const core = new VmCore(pool, undefined, store.catalogue());
  const home = join(run.env.dir, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  const keyFile = join(home, '.ssh', 'id_ed25519');
  await exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench', '-f', keyFile]);
  const fp = (await exec('ssh-keygen', ['-l', '-E', 'md5', '-f', `${keyFile}.pub`])).stdout
    .split(' ')[1]!
    .replace(/^MD5:/, '');
  const made: string[] = [];
  try {
    await images.importImage(store, 'minimal');
    const image = store.list()[0]!.manifest.uuid;
    await exec(join(ROOT, 'bin', 'zonix'), ['account', 'add', 'bench', '--key', `${keyFile}.pub`]);
    const owner = (
      JSON.parse((await exec(join(ROOT, 'bin', 'zonix'), ['account', 'get', 'bench'])).stdout) as {
        uuid: string;
      }
    ).uuid;
    log(`defining ${VMS} VMs of the account`);
    await limited(
      Array.from({ length: VMS }, (_, i) => i),
      4,
      async (i) => {
        const r = await core.create({
          brand: 'joyent-minimal',
          image_uuid: image,
          autoboot: false,
          alias: `bench-${i}`,
          owner_uuid: owner,
          max_physical_memory: 128,
          tags: { role: i % 2 ? 'web' : 'db' },
        });
        made.push(r.uuid);
        if (made.length % 200 === 0) log(`  ${made.length} defined`);
      },
    );
    const zonixd = await startZonixd(ROOT, ['--cloudapi', '127.0.0.1:0']);
    try {
      const path = '/bench/machines?limit=1000&offset=0';
      const signed = await signedHeaders(zonixd.cloudapi, path, keyFile, `/bench/keys/${fp}`);
      const check = await fetch(`${zonixd.cloudapi}${path}`, { headers: signed });
      if (check.headers.get('x-resource-count') !== String(VMS))
        throw new Error(`ListMachines gave ${check.headers.get('x-resource-count')} machines, not ${VMS}`);
      log('(a) GET /v1/vms (native), then GET /bench/machines (CloudAPI)');
      const native = await load(`${zonixd.url}/v1/vms`, { authorization: `Bearer ${zonixd.token}` });
      const cloud = await load(`${zonixd.cloudapi}${path}`, signed);

      const tenv = {
        PATH: process.env.PATH,
        HOME: home,
        TRITON_URL: zonixd.cloudapi,
        TRITON_ACCOUNT: 'bench',
        TRITON_KEY_ID: fp,
      };
      log('(b) triton instance list, triton --version, vmadm list');
      const tritonList: number[] = [];
      const tritonVersion: number[] = [];
      const vmadmList: number[] = [];
      // The CLI's image cache is filled by the first list, as a user's would be.
      await timed(TRITON, ['instance', 'list'], tenv);
      for (let i = 0; i < ROUNDS; i++) {
        const l = await timed(TRITON, ['instance', 'list', '-H', '-o', 'shortid'], tenv);
        if (l.out.trim().split('\n').length !== VMS)
          throw new Error(`triton instance list gave ${l.out.trim().split('\n').length} lines`);
        tritonList.push(l.ms);
        tritonVersion.push((await timed(TRITON, ['--version'], tenv)).ms);
        vmadmList.push(
          (await timed(join(ROOT, 'bin', 'vmadm'), ['list', '-H', '-o', 'uuid'], process.env)).ms,
        );
      }
      log('(c) triton instance create -w against vmadm create');
      const tritonCreate: number[] = [];
      const vmadmCreate: number[] = [];
      const payloadFile = join(run.env.dir, 'payload.json');
      for (let i = 0; i < ROUNDS; i++) {
        const t = await timed(
          TRITON,
          ['instance', 'create', '-w', '-n', `tc-${i}`, image, 'sample-256M'],
          tenv,
        );
        tritonCreate.push(t.ms);
        const id = /\(([0-9a-f-]{36}),/.exec(t.out)?.[1];
        if (!id) throw new Error(`no instance id in: ${t.out}`);
        // The same payload as CloudAPI gave vmadm (the address aside: no network here).
        const vm = JSON.parse((await exec(join(ROOT, 'bin', 'vmadm'), ['get', id])).stdout) as Record<
          string,
          unknown
        >;
        const payload = Object.fromEntries(
          [
            'brand',
            'image_uuid',
            'owner_uuid',
            'max_physical_memory',
            'max_locked_memory',
            'max_swap',
            'quota',
            'cpu_cap',
            'max_lwps',
            'zfs_io_priority',
            'billing_id',
            'customer_metadata',
            'autoboot',
          ]
            .filter((k) => vm[k] !== undefined)
            .map((k) => [k, vm[k]]),
        );
        writeFileSync(payloadFile, JSON.stringify({ ...payload, alias: `vc-${i}` }));
        const v = await timed(join(ROOT, 'bin', 'vmadm'), ['create', '-f', payloadFile], process.env);
        vmadmCreate.push(v.ms);
        const vid = /Successfully created VM (\S+)/.exec(v.out)?.[1];
        for (const u of [id, vid])
          if (u) await exec(join(ROOT, 'bin', 'vmadm'), ['delete', u]).catch(() => undefined);
      }
      return {
        vms: VMS,
        cloud,
        native,
        tritonList,
        tritonVersion,
        vmadmList,
        tritonCreate,
        vmadmCreate,
      };
    } finally {
      await zonixd.stop();
    }
  } finally {
    const { stopMetadata } = await import('./lib.ts');
    await stopMetadata();
    await removeCgroups(CGROUP_PARENT);
  }
}

const f0 = (n: number) => n.toFixed(0);
const f1 = (n: number) => n.toFixed(1);

function report(r: Result): string {
  const perReq = (l: Load) => 1000 / l.rps;
  const added = perReq(r.cloud) / perReq(r.native) - 1;
  const tl = median(r.tritonList);
  const tv = median(r.tritonVersion);
  const tc = median(r.tritonCreate);
  const vc = median(r.vmadmCreate);
  return [
    '',
    `bench/cloudapi: ${r.vms} machines of one account; autocannon, ${CONNECTIONS} connections, ${SECONDS} s; commands timed without ${droppedEnv.join(', ') || '(nothing dropped)'}`,
    table(
      ['request', 'req/s', 'p50 ms', 'p99 ms', 'ms per request'],
      [
        [
          `GET /v1/vms (native, ${r.vms} VMs)`,
          f0(r.native.rps),
          f1(r.native.p50),
          f1(r.native.p99),
          f1(perReq(r.native)),
        ],
        [
          `GET /:login/machines (CloudAPI, signed)`,
          f0(r.cloud.rps),
          f1(r.cloud.p50),
          f1(r.cloud.p99),
          f1(perReq(r.cloud)),
        ],
      ],
      1,
    ),
    `(a) CloudAPI adds ${(added * 100).toFixed(1)}% per request to the native list; goal: under 30%`,
    `(b) triton instance list (${r.vms} machines): median ${f0(tl)} ms; triton --version ${f0(tv)} ms; vmadm list ${f0(median(r.vmadmList))} ms`,
    `(c) triton instance create -w to running: median ${f0(tc)} ms; vmadm create ${f0(vc)} ms + triton start ${f0(tv)} ms = ${f0(vc + tv)} ms; ratio ${(tc / (vc + tv)).toFixed(2)}x (goal: within 1.5x)`,
  ].join('\n');
}

process.exitCode = await runBenchmark('bench/cloudapi', 'cloudapi', runBench, report);
