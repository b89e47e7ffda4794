/**
 * zonixd's HTTP API against a real zonixd on loopback with real zones: every exchange is checked
 * against the OpenAPI document it serves (test/helpers/openapi.ts). VMs made by vmadm show in the API
 * and the other way round; errors carry vmadm's messages and the right status; the events stream
 * resumes; a terminal runs `hostname` in a zone; metrics count the zone; a second zonixd refuses;
 * a kill -9 in the middle of a create leaves the VM whole or gone.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import {
  cli,
  createVm,
  leaks,
  makeTestEnv,
  makeZonePool,
  ok,
  startZonixd,
  stillRunning,
  teardown,
  zoneTestSkip,
  type Zonixd,
} from '../helpers/host.ts';
import { ApiClient } from '../helpers/openapi.ts';

const skip = zoneTestSkip();
const exec = promisify(execFile);

interface Vm {
  uuid: string;
  state: string;
  alias?: string;
  autoboot?: boolean;
  hostname?: string;
  [k: string]: unknown;
}
interface Job {
  uuid: string;
  state: string;
  subject?: string;
  progress?: { phase: string };
  error?: { code: string; message: string };
}

/** A websocket's messages as they come, with a way to wait for one that matches. */
function messages(ws: WebSocket) {
  const got: unknown[] = [];
  const waiters: { test: (m: unknown) => boolean; resolve: (m: unknown) => void }[] = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const m: unknown = isBinary ? data : JSON.parse(data.toString());
    got.push(m);
    for (const w of [...waiters])
      if (w.test(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
  });
  return {
    got,
    next<T>(test: (m: T) => boolean, ms = 15_000): Promise<T> {
      const have = got.find((m) => test(m as T));
      if (have !== undefined) return Promise.resolve(have as T);
      return new Promise<T>((resolve, reject) => {
        const t = setTimeout(() => {
          const seen = got.map((m) => {
            const e = m as { type?: string; uuid?: string; vm?: { state?: string }; changes?: unknown };
            return `${e.type} ${e.uuid} ${e.vm?.state} ${JSON.stringify(e.changes ?? '').slice(0, 200)}`;
          });
          reject(new Error(`no such message in ${ms} ms: ${seen.join('\n')}`));
        }, ms);
        waiters.push({
          test: (m) => test(m as T),
          resolve: (m) => {
            clearTimeout(t);
            resolve(m as T);
          },
        });
      });
    },
  };
}

/** A websocket, its messages collected from the first (one may come with the upgrade's answer). */
function open(url: string, token: string): Promise<{ ws: WebSocket; ev: ReturnType<typeof messages> }> {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  const ev = messages(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, ev }));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`websocket refused: ${res.statusCode}`)));
  });
}

describe('zonixd API', { skip, timeout: 600_000 }, () => {
  const env = makeTestEnv('api');
  const P = `${env.prefix}p`;
  process.env.ZONIX_SYSTEM_POOL = P;
  let image = '';
  let zonixd: Zonixd | undefined;
  let api: ApiClient;
  const made: string[] = [];
  const pids: number[] = [];
  let sentUuid = '';

  const waitJob = async (uuid: string): Promise<Job> => {
    const r = await api.call<Job>('GET', `/v1/jobs/${uuid}?wait=true`);
    assert.equal(r.status, 200);
    return r.body;
  };
  const restart = async () => {
    zonixd = await startZonixd();
    pids.push(zonixd.pid);
    api = new ApiClient(zonixd.url, zonixd.token);
  };

  before(async () => {
    image = await makeZonePool(env, P);
    await restart();
  });

  after(async () => {
    if (zonixd) await zonixd.stop();
    await teardown(env, [P], made);
    assert.deepEqual(leaks(env), []);
    assert.deepEqual(stillRunning(pids), []);
  });

  it('serves its OpenAPI document, with the payload schemas of the property table', async () => {
    const doc = (await api.document()) as unknown as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> } }
        >
      >;
    };
    assert.equal(doc.openapi, '3.1.0');
    for (const p of [
      '/v1/vms',
      '/v1/vms/{uuid}',
      '/v1/vms/{uuid}/start',
      '/v1/images',
      '/v1/jobs/{uuid}',
      '/v1/nictags',
      '/v1/fwrules',
      '/v1/datasets',
      '/v1/sysinfo',
    ])
      assert.ok(doc.paths[p], p);
    const create = doc.paths['/v1/vms']!.post!.requestBody!.content['application/json']!.schema;
    for (const k of ['brand', 'image_uuid', 'max_physical_memory', 'nics', 'customer_metadata'])
      assert.ok(create.properties[k], k);
    const update = doc.paths['/v1/vms/{uuid}']!.patch!.requestBody!.content['application/json']!.schema;
    for (const k of ['alias', 'set_customer_metadata', 'add_nics', 'remove_tags'])
      assert.ok(update.properties[k], k);
  });

  it('needs the token on TCP, not on its Unix socket', async () => {
    let r = await api.raw('GET', '/v1/vms', { token: null });
    assert.equal(r.status, 401);
    assert.equal((JSON.parse(r.text) as { code: string }).code, 'Unauthorized');
    r = await api.raw('GET', '/v1/vms', { token: 'x'.repeat(48) });
    assert.equal(r.status, 401);
    r = await api.raw('GET', '/metrics', { token: null });
    assert.equal(r.status, 401);
    const local = new ApiClient('http://localhost', undefined, zonixd!.apiSocket);
    const l = await local.call<Vm[]>('GET', '/v1/vms');
    assert.equal(l.status, 200);
    // The console's page takes the token once and keeps it in a cookie.
    r = await api.raw('GET', `/?token=${zonixd!.token}`, { token: null });
    assert.equal(r.status, 302);
    const cookie = String(r.headers['set-cookie']);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    r = await api.raw('GET', '/v1/vms', { token: null, headers: { cookie: cookie.split(';')[0]! } });
    assert.equal(r.status, 200);
  });

  it('creates a VM as a job with progress; vmadm sees it at once, and the API sees what vmadm makes', async () => {
    const r = await api.call<{ vm_uuid: string; job: Job }>('POST', '/v1/vms', {
      brand: 'joyent-minimal',
      image_uuid: image,
      alias: 'from-api',
      autoboot: false,
      max_physical_memory: 128,
    });
    assert.equal(r.status, 202);
    assert.match(String(r.headers.location), /^\/v1\/jobs\//);
    const uuid = r.body.vm_uuid;
    made.push(uuid);
    const job = await waitJob(r.body.job.uuid);
    assert.equal(job.state, 'succeeded', JSON.stringify(job));
    assert.equal(job.subject, uuid);
    assert.equal((await ok('vmadm', ['list', '-H', '-o', 'alias', `uuid=${uuid}`])).trim(), 'from-api');
    const got = await api.call<Vm>('GET', `/v1/vms/${uuid}`);
    assert.equal(got.body.alias, 'from-api');
    assert.equal(got.body.state, 'stopped');
    assert.equal(got.body.max_physical_memory, 128);

    const other = await createVm(env.dir, {
      brand: 'joyent-minimal',
      image_uuid: image,
      alias: 'from-vmadm',
      autoboot: false,
    });
    made.push(other);
    const list = await api.call<Vm[]>('GET', '/v1/vms');
    assert.deepEqual(list.body.map((v) => v.alias).sort(), ['from-api', 'from-vmadm']);
    // vmadm list's filters, as query parameters.
    const f = await api.call<Vm[]>('GET', '/v1/vms?alias=~vmadm');
    assert.deepEqual(
      f.body.map((v) => v.uuid),
      [other],
    );
    const none = await api.call<Vm[]>('GET', '/v1/vms?state=running');
    assert.deepEqual(none.body, []);
    // ?wait=true answers with the VM once it is made.
    const w = await api.call<Vm>('POST', '/v1/vms?wait=true', {
      brand: 'joyent-minimal',
      image_uuid: image,
      autoboot: false,
      alias: 'waited',
    });
    assert.equal(w.status, 201);
    made.push(w.body.uuid);
    assert.equal(w.body.alias, 'waited');
    assert.equal((await api.call('DELETE', `/v1/vms/${w.body.uuid}`)).status, 204);
    assert.equal((await cli('vmadm', ['get', w.body.uuid])).code, 1);
  });

  it("answers bad input with vmadm's message, the fields at fault and the right status, and changes nothing", async () => {
    const before = await ok('vmadm', ['list', '-p', '-o', 'uuid']);
    const bad = { brand: 'joyent-minimal', image_uuid: image, max_physical_memory: 'lots', cpu_cap: -5 };
    const r = await api.call<{ code: string; message: string; fields: string[]; exit_code: number }>(
      'POST',
      '/v1/vms',
      bad,
      {
        skipRequestCheck: true,
      },
    );
    assert.equal(r.status, 400);
    const v = await cli('vmadm', ['create'], { input: JSON.stringify(bad) });
    assert.equal(v.code, 1);
    assert.equal(r.body.message, v.stderr.trim());
    assert.equal(r.body.exit_code, 1);
    // The fields are those vmadm's message names.
    assert.ok(r.body.fields.includes('max_physical_memory'), JSON.stringify(r.body));
    for (const f of r.body.fields) assert.ok(r.body.message.includes(f), `${f}: ${r.body.message}`);
    const missing = await api.call<{ fields: string[] }>(
      'POST',
      '/v1/vms',
      { brand: 'joyent-minimal' },
      { skipRequestCheck: true },
    );
    assert.equal(missing.status, 400);
    assert.deepEqual(missing.body.fields, ['image_uuid']);
    const unknownBrand = await api.call<{ message: string }>(
      'POST',
      '/v1/vms',
      { brand: 'bogus' },
      { skipRequestCheck: true },
    );
    assert.equal(unknownBrand.status, 400);
    const notJson = await api.raw('POST', '/v1/vms', { rawBody: '{"brand":' });
    assert.equal(notJson.status, 400);
    const tooBig = await api.raw('POST', '/v1/vms', {
      rawBody: JSON.stringify({
        brand: 'joyent-minimal',
        customer_metadata: { big: 'x'.repeat(2 * 1024 * 1024) },
      }),
    });
    assert.equal(tooBig.status, 413);
    assert.equal((JSON.parse(tooBig.text) as { code: string }).code, 'RequestTooLarge');
    const nobody = randomUUID();
    const nf = await api.call<{ message: string }>('GET', `/v1/vms/${nobody}`);
    assert.equal(nf.status, 404);
    assert.equal(nf.body.message, `zoneadm: ${nobody}: No such zone configured`);
    const badUuid = await api.call<{ code: string; fields: string[] }>('GET', '/v1/vms/..%2F..%2Fetc');
    assert.equal(badUuid.status, 400);
    assert.equal((await api.raw('GET', '/v1/nope')).status, 404);
    assert.equal(await ok('vmadm', ['list', '-p', '-o', 'uuid']), before);
  });

  it('runs a VM: start, a shell through the terminal, events with resume, metrics, update, snapshots, stop, delete', async () => {
    const created = await api.call<Vm>('POST', '/v1/vms?wait=true', {
      brand: 'joyent-minimal',
      image_uuid: image,
      alias: 'runner',
      hostname: 'api-runner',
      autoboot: false,
      max_physical_memory: 256,
      max_lwps: 500,
      cpu_cap: 50,
    });
    assert.equal(created.status, 201);
    const uuid = created.body.uuid;
    made.push(uuid);

    const { ws, ev } = await open(`${zonixd!.url.replace('http', 'ws')}/v1/events`, zonixd!.token);
    const ready = await ev.next<{ type: string; id: string }>((m) => m.type === 'ready');
    const t0 = Date.now();
    const started = await api.call<Vm>('POST', `/v1/vms/${uuid}/start`, {});
    assert.equal(started.status, 200);
    assert.equal(started.body.state, 'running');
    const running = await ev.next<{ id: string; type: string; uuid: string; vm?: Vm }>(
      (m) => m.type === 'modify' && m.uuid === uuid && m.vm?.state === 'running',
    );
    assert.ok(Date.now() - t0 < 15_000);
    // Starting it again is the wrong state.
    const again = await api.call<{ code: string; message: string }>('POST', `/v1/vms/${uuid}/start`, {});
    assert.equal(again.status, 409);
    assert.equal(again.body.message, `VM ${uuid} is already 'running'`);

    // A client that comes back with its last id gets what it missed; one of another stream, a reset.
    ws.close();
    await api.call('PATCH', `/v1/vms/${uuid}`, { alias: 'renamed' });
    const { ws: ws2, ev: ev2 } = await open(
      `${zonixd!.url.replace('http', 'ws')}/v1/events?since=${running.id}`,
      zonixd!.token,
    );
    const missed = await ev2.next<{ type: string; vm?: Vm }>(
      (m) => m.type === 'modify' && m.vm?.alias === 'renamed',
    );
    assert.ok(missed);
    ws2.close();
    const { ws: ws3, ev: ev3 } = await open(
      `${zonixd!.url.replace('http', 'ws')}/v1/events?since=00000000-5`,
      zonixd!.token,
    );
    const reset = await ev3.next<{ type: string; message: string }>((m) => m.type === 'reset');
    assert.match(reset.message, /list the VMs again/);
    ws3.close();
    assert.notEqual(ready.id, running.id);

    // A shell in the zone: type `hostname`, read the answer.
    const { ws: term, ev: tev } = await open(
      `${zonixd!.url.replace('http', 'ws')}/v1/vms/${uuid}/console?kind=login&cols=100&rows=30`,
      zonixd!.token,
    );
    const output = () =>
      tev.got
        .filter((m): m is Buffer => Buffer.isBuffer(m))
        .map((b) => b.toString())
        .join('');
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      term.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    // Typed once the shell shows its prompt (typed before, it can reach a terminal still being set up).
    for (let i = 0; i < 100 && !/[$#] $/.test(output()); i++) await sleep(50);
    term.send(JSON.stringify({ type: 'resize', cols: 120, rows: 40 }));
    term.send(JSON.stringify({ type: 'input', data: 'hostname; stty size; echo done-$((6*7))\n' }));
    for (let i = 0; i < 100 && !output().includes('done-42'); i++) await sleep(100);
    assert.match(output(), /api-runner/);
    assert.match(output(), /40 120/);
    term.send(JSON.stringify({ type: 'input', data: 'exit\n' }));
    const c = await closed;
    assert.equal(c.code, 1000);
    assert.match(c.reason, /exited/);

    // The zone's console: what runs on init's terminal, resized; closing the websocket detaches.
    const consoleUrl = `${zonixd!.url.replace('http', 'ws')}/v1/vms/${uuid}/console?kind=console`;
    const text = (ev: ReturnType<typeof messages>) =>
      ev.got
        .filter((m): m is Buffer => Buffer.isBuffer(m))
        .map((b) => b.toString())
        .join('');
    const con = await open(`${consoleUrl}&cols=90&rows=20`, zonixd!.token);
    con.ws.send(JSON.stringify({ type: 'resize', cols: 101, rows: 33 }));
    con.ws.send(JSON.stringify({ type: 'input', data: 'stty size; echo con-$((4*5))\n' }));
    for (let i = 0; i < 100 && !text(con.ev).includes('con-20'); i++) await sleep(100);
    assert.match(text(con.ev), /33 101/);
    assert.match(text(con.ev), /con-20\r\n/);
    con.ws.close();
    assert.equal((await api.call<Vm>('GET', `/v1/vms/${uuid}`)).body.state, 'running');

    // Metrics: the zone's CPU, memory against its cap, pids against max_lwps.
    await sleep(1100);
    const m = await api.raw('GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(
      m.text,
      new RegExp(
        `zonix_vm_cpu_seconds_total\\{uuid="${uuid}",alias="renamed",brand="joyent-minimal"\\} [0-9.e-]+`,
      ),
    );
    assert.match(m.text, new RegExp(`zonix_vm_memory_limit_bytes\\{uuid="${uuid}"[^}]*\\} 268435456`));
    assert.match(m.text, new RegExp(`zonix_vm_pids_limit\\{uuid="${uuid}"[^}]*\\} 500`));
    assert.match(m.text, new RegExp(`zonix_vm_cpu_cap_ratio\\{uuid="${uuid}"[^}]*\\} 0.5`));
    assert.match(m.text, /zonix_vms\{state="running"\} 1/);
    assert.match(
      m.text,
      /zonix_api_request_duration_seconds_bucket\{le="0.001",method="GET",route="\/v1\/vms\/:uuid"/,
    );
    const vm = await api.call<{ memoryBytes: number; pids: number }>('GET', `/v1/vms/${uuid}/metrics`);
    assert.ok(vm.body.memoryBytes > 0);
    assert.ok(vm.body.pids >= 1);

    // Snapshots (of a stopped VM), rollback, delete. A console open when the zone stops is closed.
    const con2 = await open(consoleUrl, zonixd!.token);
    const con2Closed = new Promise<{ code: number; reason: string }>((resolve) =>
      con2.ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    const stopped = await api.call<Vm>('POST', `/v1/vms/${uuid}/stop`, { force: true });
    assert.equal(stopped.body.state, 'stopped');
    assert.deepEqual(await con2Closed, { code: 1000, reason: 'the zone stopped' });
    const s = await api.call<{ name: string }[]>('POST', `/v1/vms/${uuid}/snapshots`, { name: 'before' });
    assert.equal(s.status, 201);
    assert.deepEqual(
      s.body.map((x) => x.name),
      ['before'],
    );
    assert.equal((await api.call('POST', `/v1/vms/${uuid}/snapshots/before/rollback`, {})).status, 200);
    const badSnap = await api.call('POST', `/v1/vms/${uuid}/snapshots/nosuch/rollback`, {});
    assert.ok([404, 400, 409].includes(badSnap.status), String(badSnap.status));
    assert.equal((await api.call('DELETE', `/v1/vms/${uuid}/snapshots/before`)).status, 204);
    assert.deepEqual((await api.call<unknown[]>('GET', `/v1/vms/${uuid}/snapshots`)).body, []);
    assert.equal((await api.call('DELETE', `/v1/vms/${uuid}`)).status, 204);
    assert.equal((await api.call('GET', `/v1/vms/${uuid}`)).status, 404);
  });

  it('lists images, datasets, nic tags and rules, and adds and deletes tags and rules', async () => {
    const imgs = await api.call<{ manifest: { uuid: string; name: string } }[]>('GET', '/v1/images');
    assert.deepEqual(
      imgs.body.map((i) => i.manifest.name),
      ['minimal'],
    );
    const img = await api.call<{ manifest: { uuid: string } }>('GET', `/v1/images/${image}`);
    assert.equal(img.body.manifest.uuid, image);
    assert.equal((await api.call('GET', `/v1/images/${randomUUID()}`)).status, 404);
    const srcs = await api.call<{ url: string }[]>('GET', '/v1/images/sources');
    assert.ok(srcs.body.some((s) => s.url === 'builtin'));
    // An IMGAPI source that does not answer is refused unless forced; forced, it is listed, then removed.
    const nowhere = 'http://127.0.0.1:47/images';
    const refused = await api.call<{ message: string }>('POST', '/v1/images/sources', { url: nowhere });
    assert.equal(refused.status, 502, refused.body.message);
    const added = await api.call('POST', '/v1/images/sources', { url: nowhere, force: true });
    assert.equal(added.status, 201);
    assert.equal((await api.call('POST', '/v1/images/sources', { url: nowhere, force: true })).status, 200);
    assert.match(await ok('imgadm', ['sources']), /127\.0\.0\.1:47\/images/);
    const badType = await api.call(
      'POST',
      '/v1/images/sources',
      { url: 'ftp://x', type: 'ftp' },
      { skipRequestCheck: true },
    );
    assert.equal(badType.status, 400);
    assert.equal(
      (await api.call('DELETE', `/v1/images/sources?url=${encodeURIComponent(nowhere)}`)).status,
      204,
    );
    assert.equal(
      (await api.call('DELETE', `/v1/images/sources?url=${encodeURIComponent(nowhere)}`)).status,
      404,
    );
    const ds = await api.call<{ name: string; type: string }[]>('GET', '/v1/datasets');
    assert.ok(ds.body.some((d) => d.name === `${P}/${image}`));
    const sys = await api.call<Record<string, unknown>>('GET', '/v1/sysinfo');
    assert.equal(typeof sys.body.UUID, 'string');

    const stub = `${env.prefix.slice(0, 8)}s0`;
    const add = await api.call<{ name: string; kind: string }>('POST', '/v1/nictags', {
      name: stub,
      local: true,
    });
    assert.equal(add.status, 201);
    assert.equal(add.body.kind, 'etherstub');
    assert.match(await ok('nictagadm', ['list', '-p']), new RegExp(`^${stub}:`, 'm'));
    const dup = await api.call<{ message: string }>('POST', '/v1/nictags', { name: stub, local: true });
    assert.equal(dup.status, 400);
    assert.equal(dup.body.message, `nic tag '${stub}' already exists`);
    assert.equal((await api.call('DELETE', `/v1/nictags/${stub}`)).status, 204);
    assert.equal((await api.call('DELETE', `/v1/nictags/${stub}`)).status, 404);

    const rule = await api.call<{ uuid: string; rule: string; enabled: boolean }>('POST', '/v1/fwrules', {
      rule: 'FROM any TO all vms ALLOW tcp PORT 22',
      enabled: true,
    });
    assert.equal(rule.status, 201);
    assert.match(await ok('fwadm', ['list', '-p']), new RegExp(rule.body.uuid));
    const badRule = await api.call<{ message: string }>('POST', '/v1/fwrules', { rule: 'FROM nowhere' });
    assert.equal(badRule.status, 400);
    const off = await api.call<{ enabled: boolean }>('PATCH', `/v1/fwrules/${rule.body.uuid}`, {
      enabled: false,
    });
    assert.equal(off.body.enabled, false);
    assert.equal((await api.call('DELETE', `/v1/fwrules/${rule.body.uuid}`)).status, 204);
  });

  it('networks and packages: a VM created with a NIC on a network gets an address from its range', async () => {
    const stub = `${env.prefix.slice(0, 8)}n0`;
    assert.equal((await api.call('POST', '/v1/nictags', { name: stub, local: true })).status, 201);
    try {
      const net = await api.call<{ uuid: string; free: number; provision_start_ip: string }>(
        'POST',
        '/v1/networks',
        {
          name: `${env.prefix}net`,
          nic_tag: stub,
          subnet: '10.211.0.0/24',
          gateway: '10.211.0.1',
          provision_start_ip: '10.211.0.50',
          provision_end_ip: '10.211.0.52',
        },
      );
      assert.equal(net.status, 201);
      const bad = await api.call<{ message: string }>('POST', '/v1/networks', {
        name: `${env.prefix}bad`,
        nic_tag: stub,
        subnet: '10.211.1.0/24',
        gateway: '10.99.0.1',
      });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.message, 'gateway 10.99.0.1 is not in 10.211.1.0/24');
      const pkgs = await api.call<{ name: string }[]>('GET', '/v1/packages');
      assert.ok(pkgs.body.some((p) => p.name === 'sample-256M'));
      const vm = await api.call<Vm>('POST', '/v1/vms?wait=true', {
        brand: 'joyent-minimal',
        image_uuid: image,
        alias: 'on-a-network',
        autoboot: false,
        nics: [{ network_uuid: net.body.uuid }],
      });
      assert.equal(vm.status, 201, JSON.stringify(vm.body));
      made.push(vm.body.uuid);
      const nic = (vm.body.nics as { ip: string; nic_tag: string; netmask: string; gateway: string }[])[0]!;
      assert.deepEqual(
        [nic.ip, nic.nic_tag, nic.netmask, nic.gateway],
        ['10.211.0.50', stub, '255.255.255.0', '10.211.0.1'],
      );
      const after = await api.call<{ free: number }>('GET', `/v1/networks/${net.body.uuid}`);
      assert.equal(after.body.free, 2);
      const inUse = await api.call<{ message: string }>('DELETE', `/v1/networks/${net.body.uuid}`);
      assert.equal(inUse.status, 400);
      assert.match(inUse.body.message, /in use by 1 NIC/);
      assert.equal((await api.call('DELETE', `/v1/vms/${vm.body.uuid}`)).status, 204);
      assert.equal((await api.call<{ free: number }>('GET', `/v1/networks/${net.body.uuid}`)).body.free, 3);
      assert.equal((await api.call('DELETE', `/v1/networks/${net.body.uuid}`)).status, 204);
      assert.equal((await api.call('GET', `/v1/networks/${net.body.uuid}`)).status, 404);
    } finally {
      await api.call('DELETE', `/v1/nictags/${stub}?force=true`);
    }
  });

  it('sends a VM as a stream that vmadm receive takes back, with the send as a job, and receives one uploaded', async () => {
    const made1 = await api.call<Vm>('POST', '/v1/vms?wait=true', {
      brand: 'joyent-minimal',
      image_uuid: image,
      alias: 'sent-away',
      autoboot: false,
    });
    const uuid = made1.body.uuid;
    made.push(uuid);
    const r = await api.download(`/v1/vms/${uuid}/send`);
    assert.equal(r.status, 200);
    assert.ok(r.body.length > 1000, String(r.body.length));
    const job = await waitJob(String(r.headers['x-zonix-job']));
    assert.equal(job.state, 'succeeded', JSON.stringify(job));
    assert.equal((job as Job & { result: { bytes: number } }).result.bytes, r.body.length);
    sentUuid = uuid;
    const file = join(env.dir, 'sent.zvm');
    writeFileSync(file, r.body);
    assert.equal((await api.call('DELETE', `/v1/vms/${uuid}`)).status, 204);
    await ok('vmadm', ['receive', '-f', file]);
    const back = await api.call<Vm>('GET', `/v1/vms/${uuid}`);
    assert.equal(back.body.alias, 'sent-away');
    // Back the other way: the stream uploaded to the API, which vmadm then sees.
    const octet = (data: Buffer) => ({ upload: { type: 'application/octet-stream', data } });
    const dup = await api.call<{ message: string }>('POST', '/v1/vms/receive', undefined, octet(r.body));
    assert.equal(dup.status, 409);
    assert.equal(dup.body.message, `VM with UUID ${uuid} already exists`);
    assert.equal((await api.call('DELETE', `/v1/vms/${uuid}`)).status, 204);
    const bad = await api.call<{ code: string }>(
      'POST',
      '/v1/vms/receive',
      undefined,
      octet(Buffer.from('nonsense')),
    );
    assert.equal(bad.status, 400);
    const torn = await api.call(
      'POST',
      '/v1/vms/receive',
      undefined,
      octet(r.body.subarray(0, r.body.length >> 1)),
    );
    assert.equal(torn.status, 400);
    assert.doesNotMatch(await ok('vmadm', ['list', '-p', '-o', 'uuid']), new RegExp(uuid));
    const got = await api.call<Vm>('POST', '/v1/vms/receive', undefined, octet(r.body));
    assert.equal(got.status, 201);
    assert.equal(got.body.uuid, uuid);
    assert.equal(got.body.state, 'stopped');
    assert.equal((JSON.parse(await ok('vmadm', ['get', uuid])) as Vm).alias, 'sent-away');
    const huge = await api.raw('POST', '/v1/vms/receive', {
      rawBody: '',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(2 ** 40) },
    });
    assert.equal(huge.status, 413);
    assert.equal((await api.download(`/v1/vms/${randomUUID()}/send`)).status, 404);
    assert.equal((await api.call('DELETE', `/v1/vms/${uuid}`)).status, 204);
  });

  it('one zonixd per host: a second refuses with a clear message', async () => {
    const r = await cli('zonixd', ['--listen', '127.0.0.1:0']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`zonixd is already running \\(pid ${zonixd!.pid}\\)`));
    const bad = await cli('zonixd', ['--listen', '0.0.0.0:9999']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /needs TLS/);
  });

  it('a restart keeps zones running and starts those with autoboot; kill -9 mid-create leaves the VM whole or gone', async () => {
    const keep = await api.call<Vm>('POST', '/v1/vms?wait=true', {
      brand: 'joyent-minimal',
      image_uuid: image,
      alias: 'keeps-running',
    });
    made.push(keep.body.uuid);
    assert.equal(keep.body.state, 'running');
    const later = await api.call<Vm>('POST', '/v1/vms?wait=true', {
      brand: 'joyent-minimal',
      image_uuid: image,
      alias: 'boots-later',
      autoboot: false,
    });
    made.push(later.body.uuid);
    await ok('vmadm', ['update', later.body.uuid, 'autoboot=true']);
    assert.equal(await zonixd!.stop(), 0);
    assert.equal(
      (await ok('vmadm', ['list', '-H', '-o', 'state', `uuid=${keep.body.uuid}`])).trim(),
      'running',
    );
    await restart();
    let state = '';
    for (let i = 0; i < 100 && state !== 'running'; i++) {
      state = (await api.call<Vm>('GET', `/v1/vms/${later.body.uuid}`)).body.state;
      if (state !== 'running') await sleep(100);
    }
    assert.equal(state, 'running');
    assert.match(zonixd!.log(), new RegExp(`started VM ${later.body.uuid}`));

    // kill -9 while a create runs: after a restart the VM is complete or not there at all.
    const r = await api.call<{ vm_uuid: string; job: Job }>('POST', '/v1/vms', {
      brand: 'joyent-minimal',
      image_uuid: image,
      alias: 'killed',
    });
    assert.equal(r.status, 202);
    made.push(r.body.vm_uuid);
    process.kill(zonixd!.pid, 'SIGKILL');
    await zonixd!.exited;
    await restart();
    const after = await api.call<Vm & { code?: string }>('GET', `/v1/vms/${r.body.vm_uuid}`);
    if (after.status === 200) {
      assert.equal(after.body.alias, 'killed');
      assert.ok(['running', 'stopped'].includes(after.body.state), after.body.state);
    } else assert.equal(after.status, 404);
    assert.equal(
      (await api.call<Vm[]>('GET', '/v1/vms')).body.filter((v) => v.alias === 'killed').length,
      after.status === 200 ? 1 : 0,
    );
  });

  it('hosts the metadata server: zones are served by zonixd, by zonix-metadata once it stops, and by zonixd again', async () => {
    const { askMetadata } = await import('../../src/metadata/index.ts');
    const r = await api.call<Vm>('POST', '/v1/vms?wait=true', {
      brand: 'joyent-minimal',
      image_uuid: image,
      alias: 'metadata',
      customer_metadata: { color: 'blue' },
    });
    assert.equal(r.status, 201);
    const u = r.body.uuid;
    made.push(u);
    const served = async () => {
      const s = await askMetadata({ op: 'status' });
      assert.ok(s?.served?.includes(u), JSON.stringify(s));
      return s!.pid;
    };
    assert.equal(await served(), zonixd!.pid);
    assert.equal(await ok('zlogin', [u, 'mdata-get', 'color']), 'blue\n');
    // A guest's write goes through zonixd's core into the pool, and the API sees it.
    await ok('zlogin', [u, 'mdata-put', 'size', 'large']);
    const got = await api.call<Vm>('GET', `/v1/vms/${u}`);
    assert.deepEqual(got.body.customer_metadata, { color: 'blue', size: 'large' });
    // Stopped, zonixd hands the zone to a zonix-metadata of its own.
    assert.equal(await zonixd!.stop(), 0);
    const other = await served();
    assert.notEqual(other, zonixd!.pid);
    assert.equal(await ok('zlogin', [u, 'mdata-get', 'size']), 'large\n');
    // Started again, zonixd takes it back (the zonix-metadata goes).
    await restart();
    assert.equal(await served(), zonixd!.pid);
    assert.match(zonixd!.log(), new RegExp(`took over from zonix-metadata \\(pid ${other}\\)`));
    assert.deepEqual(stillRunning([other!]), []);
    assert.equal(await ok('zlogin', [u, 'mdata-get', 'color']), 'blue\n');
  });

  it('serves HTTPS with the certificate it is given, and still asks for the token', async () => {
    await zonixd!.stop();
    const cert = join(env.dir, 'cert.pem');
    const key = join(env.dir, 'key.pem');
    await exec('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    // The send test's stream, which is twice the limit given.
    const sent = readFileSync(join(env.dir, 'sent.zvm'));
    zonixd = await startZonixd([
      '--listen',
      '127.0.0.1:0',
      '--tls-cert',
      cert,
      '--tls-key',
      key,
      '--upload-limit',
      String(sent.length >> 1),
    ]);
    pids.push(zonixd.pid);
    assert.match(zonixd.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const send = (path: string, token?: string, upload?: Buffer) =>
      new Promise<number>((resolve, reject) => {
        const u = new URL(path, zonixd!.url);
        const req = httpsRequest(
          {
            host: u.hostname,
            port: u.port,
            path: u.pathname,
            method: upload ? 'POST' : 'GET',
            ca: readFileSync(cert),
            headers: {
              ...(token ? { authorization: `Bearer ${token}` } : {}),
              ...(upload ? { 'content-type': 'application/octet-stream' } : {}),
            },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        // An upload in chunks, without a length: the limit is kept as it comes.
        if (upload)
          for (let at = 0; at < upload.length; at += 65536) req.write(upload.subarray(at, at + 65536));
        req.end();
      });
    assert.equal(await send('/v1/vms', zonixd.token), 200);
    assert.equal(await send('/v1/vms'), 401);
    assert.equal(await send('/v1/vms/receive', zonixd.token, sent), 413);
    assert.doesNotMatch(await ok('vmadm', ['list', '-p', '-o', 'uuid']), new RegExp(sentUuid));
  });
});
