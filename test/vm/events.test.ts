/**
 * `vmadm events` on real VMs: a create, the state changes of a start, a stop, an init killed from
 * outside (no vmadm command: the monitor's exit file says so), and a delete arrive in order, as JSON
 * (`-j`) and in SmartOS's text lines; an idle stream uses no CPU; SIGINT ends it with exit 0.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cli, createVm, leaks, makeTestEnv, ok, ROOT, teardown, zoneTestSkip } from '../helpers/host.ts';

const skip = zoneTestSkip();

interface Change {
  path: (string | null)[];
  prettyPath: string;
  action: string;
  oldValue?: unknown;
  newValue?: unknown;
}
interface Ev {
  type: string;
  date: string;
  zonename: string;
  uuid: string;
  vm?: Record<string, unknown>;
  changes?: Change[];
}

/** `vmadm events ARGS` as a child; its stdout lines as they come. */
function events(args: string[]) {
  const child: ChildProcessWithoutNullStreams = spawn(join(ROOT, 'bin', 'vmadm'), ['events', ...args], {
    env: process.env,
    stdio: 'pipe',
  });
  const lines: string[] = [];
  let buf = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  /** Wait until a line (from index `from`) matches; its index. */
  const waitLine = async (match: (line: string) => boolean, from = 0, ms = 20_000): Promise<number> => {
    for (const deadline = Date.now() + ms; ;) {
      const i = lines.findIndex((l, k) => k >= from && match(l));
      if (i >= 0) return i;
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`line not seen; got:\n${lines.join('\n')}\nstderr: ${stderr}`);
      await sleep(20);
    }
  };
  return { child, lines, waitLine, exited, stderr: () => stderr };
}

/** CPU time (user + system clock ticks) a process has used. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

describe('vmadm events', { skip, timeout: 60_000 }, () => {
  const env = makeTestEnv('ev');
  const P = `${env.prefix}p`;
  process.env.ZONIX_SYSTEM_POOL = P;
  const mnt = join(env.dir, 'zones');
  let image = '';
  let uuid = '';
  const children: ChildProcessWithoutNullStreams[] = [];

  before(async () => {
    await ok('zpool', ['create', '-m', mnt, '-o', 'size=512M', P, join(env.dir, 'pool.img')]);
    await ok('imgadm', ['import', '-P', P, 'minimal']);
    image = (await ok('imgadm', ['list', '-P', P, '-H', '-o', 'uuid'])).trim();
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await teardown(env, [P], uuid ? [uuid] : []);
    assert.deepEqual(leaks(env), []);
  });

  it('a VM not there is an error', async () => {
    const missing = randomUUID();
    const r = await cli('vmadm', ['events', missing]);
    assert.deepEqual([r.code, r.stderr], [1, `VM ${missing} not found\n`]);
    const bad = await cli('vmadm', ['events', 'nope']);
    assert.equal(bad.code, 2);
  });

  it('streams create, the state changes of start, stop and an init killed, and delete, in order', async () => {
    const j = events(['-j', '-r']);
    const text = events([]);
    const full = events(['-f', '-r']);
    children.push(j.child, text.child, full.child);
    const ready = JSON.parse(j.lines[await j.waitLine((l) => l.includes('"ready"'))]!) as Ev;
    assert.equal(ready.type, 'ready');
    assert.match(
      full.lines[await full.waitLine((l) => / ready \(uuid /.test(l))]!,
      /^\[\d{4}-\d\d-\d\dT.*Z\] ready/,
    );
    // An idle stream sleeps: no CPU while nothing happens.
    const before = cpuTicks(j.child.pid!);
    await sleep(1000);
    assert.ok(cpuTicks(j.child.pid!) - before <= 2, 'vmadm events used CPU while idle');

    uuid = await createVm(env.dir, { brand: 'joyent-minimal', image_uuid: image, alias: 'ev1' });

    const parse = (l: string) => JSON.parse(l) as Ev;
    const mine = (l: string) => l.startsWith('{') && parse(l).uuid === uuid;
    const stateTo = (to: string) => (l: string) =>
      mine(l) &&
      (parse(l).changes ?? []).some(
        (c) => c.prettyPath === 'state' && c.action === 'changed' && c.newValue === to,
      );

    const created = await j.waitLine((l) => mine(l) && parse(l).type === 'create');
    const cev = parse(j.lines[created]!);
    assert.equal(cev.zonename, uuid);
    assert.equal(cev.vm?.alias, 'ev1');
    assert.ok(!Number.isNaN(Date.parse(cev.date)));
    const running = await j.waitLine(stateTo('running'), created);
    const mev = parse(j.lines[running]!);
    assert.equal(mev.type, 'modify');
    assert.equal(mev.vm?.state, 'running');

    await ok('vmadm', ['stop', uuid]);
    const stopped = await j.waitLine(stateTo('stopped'), running);
    // Stopping shows as shutting_down while vmadm stop works, as on SmartOS.
    const sev = parse(j.lines[stopped]!).changes!.find((c) => c.prettyPath === 'state')!;
    assert.ok(['running', 'shutting_down'].includes(sev.oldValue as string), JSON.stringify(sev));
    assert.ok(
      j.lines.slice(running, stopped).some(stateTo('shutting_down')),
      `no shutting_down before stopped:\n${j.lines.slice(running, stopped + 1).join('\n')}`,
    );
    await ok('vmadm', ['start', uuid]);
    const again = await j.waitLine(stateTo('running'), stopped);

    // init killed from outside: no vmadm command writes anything, the monitor's exit file tells.
    const pid = (JSON.parse(await ok('vmadm', ['get', uuid])) as { pid: number }).pid;
    process.kill(pid, 'SIGKILL');
    const killed = await j.waitLine(stateTo('stopped'), again);
    assert.ok(
      parse(j.lines[killed]!).changes!.some((c) => c.prettyPath === 'pid' && c.action === 'removed'),
      j.lines[killed],
    );

    await ok('vmadm', ['delete', uuid]);
    const deleted = await j.waitLine((l) => mine(l) && parse(l).type === 'delete', killed);
    assert.deepEqual(Object.keys(parse(j.lines[deleted]!)), ['type', 'date', 'zonename', 'uuid']);
    const gone = uuid;
    uuid = '';

    // The same events as SmartOS's text lines.
    const seg = gone.split('-')[0]!;
    const t = '\\[\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\]';
    const c1 = await text.waitLine((l) => new RegExp(`^${t} ${seg} ev1 create$`).test(l));
    const m1 = await text.waitLine(
      (l) => new RegExp(`^${t} ${seg} ev1 modify: state changed :: "running" -> "stopped"$`).test(l),
      c1,
    );
    await text.waitLine((l) => new RegExp(`^${t} ${seg} - delete$`).test(l), m1);
    await full.waitLine((l) =>
      new RegExp(`^\\[\\d{4}-\\d\\d-\\d\\dT[^\\]]+Z\\] ${gone} ev1 create$`).test(l),
    );

    for (const c of [j, text, full]) {
      c.child.kill('SIGINT');
      assert.equal(await c.exited, 0, c.stderr());
    }
  });
});
