/**
 * zonixd, the resident host core the vmadm command runs its commands in: stdin and the working folder
 * are the client's, a client of other settings runs its command itself, a command whose client goes
 * away is cancelled, one zonixd per socket, and a stop waits for the commands running.
 * (vmadm-zonixd.test.ts runs the whole vmadm suite through it.)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  cli,
  leaks,
  makeTestEnv,
  makeZonePool,
  ok,
  ROOT,
  startZonixd,
  stillRunning,
  teardown,
  zoneTestSkip,
  type Zonixd,
} from '../helpers/host.ts';

const skip = zoneTestSkip();

describe('zonixd', { skip, timeout: 180_000 }, () => {
  const env = makeTestEnv('zd');
  const P = `${env.prefix}p`;
  process.env.ZONIX_SYSTEM_POOL = P;
  const socket = join(env.dir, 'run', 'zonixd.sock');
  let image = '';
  let zonixd: Zonixd | undefined;
  const made: string[] = [];
  const pids: number[] = [];
  const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  /** Did zonixd log that it ran `vmadm <cmd>`? (Its log line may come just after the client ends.) */
  const served = async (cmd: string) => {
    const re = new RegExp(`zonixd: vmadm ${esc(cmd)} -> \\d+ \\(`);
    for (let i = 0; i < 50 && !re.test(zonixd!.log()); i++) await sleep(20);
    return re.test(zonixd!.log());
  };

  before(async () => {
    image = await makeZonePool(env, P);
    zonixd = await startZonixd();
    pids.push(zonixd.pid);
  });

  after(async () => {
    if (zonixd) await zonixd.stop();
    await teardown(env, [P], made);
    assert.deepEqual(leaks(env), []);
    // No zonixd of this test is left running.
    assert.deepEqual(stillRunning(pids), []);
  });

  it('listens on a socket only root may use', () => {
    assert.equal(statSync(socket).mode & 0o777, 0o600);
  });

  it('takes the payload from the client: its stdin, or -f relative to its folder', async () => {
    const a = randomUUID();
    let r = await cli('vmadm', ['create'], {
      input: JSON.stringify({ uuid: a, brand: 'joyent-minimal', image_uuid: image, autoboot: false }),
    });
    assert.deepEqual([r.code, r.stderr], [0, `Successfully created VM ${a}\n`]);
    made.push(a);
    assert.ok(await served('create'), zonixd!.log());
    const sub = join(env.dir, 'payloads');
    mkdirSync(sub);
    writeFileSync(join(sub, 'alias.json'), JSON.stringify({ alias: 'from-cwd' }));
    r = await cli('vmadm', ['update', a, '-f', 'alias.json'], { cwd: sub });
    assert.deepEqual([r.code, r.stderr], [0, `Successfully updated VM ${a}\n`]);
    r = await cli('vmadm', ['update', a, '-f', 'missing.json'], { cwd: sub });
    assert.deepEqual([r.code, r.stderr], [1, 'File: missing.json does not exist.\n']);
    assert.equal(await ok('vmadm', ['list', '-H', '-o', 'alias', `uuid=${a}`]), 'from-cwd\n');
    assert.ok(await served(`list -H -o alias uuid=${a}`), zonixd!.log());
  });

  it('a client with other ZONIX_* settings runs its command itself, with the same answer', async () => {
    const before = zonixd!.log();
    const here = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn(join(ROOT, 'bin', 'vmadm'), ['list', '-p', '-o', 'uuid,alias'], {
        env: { ...process.env, ZONIX_DEBUG: '1' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.on('close', (code) => resolve({ code, out }));
    });
    await sleep(200);
    assert.equal(zonixd!.log(), before);
    assert.deepEqual(here, { code: 0, out: await ok('vmadm', ['list', '-p', '-o', 'uuid,alias']) });
    assert.ok(await served('list -p -o uuid,alias'), zonixd!.log());
  });

  it('send, receive and console run in the client, with their own answers', async () => {
    const u = randomUUID();
    const r = await cli('vmadm', ['send', u]);
    assert.deepEqual([r.code, r.stderr], [1, `zoneadm: ${u}: No such zone configured\n`]);
    assert.equal(await served(`send ${u}`), false);
  });

  it('a command whose client goes away ends (vmadm events)', async () => {
    const c = spawn(join(ROOT, 'bin', 'vmadm'), ['events', '-r'], {
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve) => c.stdout.once('data', () => resolve()));
    c.kill('SIGKILL');
    assert.ok(await served('events -r'), zonixd!.log());
  });

  it('runs commands on different VMs at once, and those on one VM one after the other', async () => {
    const uuids = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    made.push(...uuids);
    const creates = await Promise.all(
      uuids.map((u) =>
        cli('vmadm', ['create'], {
          input: JSON.stringify({ uuid: u, brand: 'joyent-minimal', image_uuid: image }),
        }),
      ),
    );
    for (const [i, r] of creates.entries())
      assert.deepEqual([r.code, r.stderr], [0, `Successfully created VM ${uuids[i]!}\n`]);
    const states = await ok('vmadm', ['list', '-H', '-o', 'uuid,state', '-s', 'uuid', 'state=running']);
    for (const u of uuids) assert.match(states, new RegExp(`^${u}\\s+running$`, 'm'));
    // A stop and a delete of the same VM at once: whichever comes second sees what the first did.
    const [stop, del] = await Promise.all([
      cli('vmadm', ['stop', '-F', uuids[0]!]),
      cli('vmadm', ['delete', uuids[0]!]),
    ]);
    assert.equal(del.code, 0, del.stderr);
    assert.ok(
      stop.code === 0 || stop.stderr === `zoneadm: ${uuids[0]!}: No such zone configured\n`,
      stop.stderr,
    );
    const rest = await Promise.all(uuids.slice(1).map((u) => cli('vmadm', ['delete', u])));
    for (const r of rest) assert.equal(r.code, 0, r.stderr);
    made.splice(made.indexOf(uuids[0]!), uuids.length);
    assert.equal(await ok('vmadm', ['list', '-H', '-o', 'uuid', 'uuid=~^(' + uuids.join('|') + ')$']), '');
  });

  it('a create whose client is killed is cancelled, or completes: the VM is whole or gone', async () => {
    const datasets = async () => (await ok('zfs', ['list', '-H', '-o', 'name', '-r', P])).trim().split('\n');
    const before = await datasets();
    const kept: string[] = [];
    for (const delay of [0, 5, 15, 30, 60, 120]) {
      const u = randomUUID();
      const f = join(env.dir, `${u}.json`);
      writeFileSync(f, JSON.stringify({ uuid: u, brand: 'joyent-minimal', image_uuid: image }));
      const c = spawn(join(ROOT, 'bin', 'vmadm'), ['create', '-f', f], { env: process.env, stdio: 'ignore' });
      await sleep(delay);
      c.kill('SIGKILL');
      // zonixd logs the command once it has ended, cancelled or not (killed before it sent the
      // command, the client made nothing).
      const ran = await served(`create -f ${f}`);
      const vm = await cli('vmadm', ['get', u]);
      if (vm.code === 0) {
        assert.ok(ran);
        assert.equal((JSON.parse(vm.stdout) as { state: string }).state, 'running');
        kept.push(u);
      } else assert.equal(vm.stderr, `zoneadm: ${u}: No such zone configured\n`);
    }
    for (const u of kept) await ok('vmadm', ['delete', u]);
    assert.deepEqual(await datasets(), before);
  });

  it('one zonixd per socket', async () => {
    const r = await cli('zonixd', []);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /zonixd is already running/);
  });

  it('stops on SIGTERM once the command it runs is done; vmadm then runs in its own process', async () => {
    const b = randomUUID();
    const f = join(env.dir, `${b}.json`);
    writeFileSync(f, JSON.stringify({ uuid: b, brand: 'joyent-minimal', image_uuid: image }));
    const creating = cli('vmadm', ['create', '-f', f]);
    for (let i = 0; i < 200 && !existsSync(join(env.dir, 'zones', b)); i++) await sleep(2);
    made.push(b);
    const code = await zonixd!.stop();
    const r = await creating;
    assert.deepEqual([r.code, r.stderr], [0, `Successfully created VM ${b}\n`]);
    assert.equal(code, 0, zonixd!.log());
    assert.ok(await served(`create -f ${f}`), zonixd!.log());
    assert.equal(existsSync(socket), false);
    zonixd = undefined;
    const vm = JSON.parse(await ok('vmadm', ['get', b])) as { state: string };
    assert.equal(vm.state, 'running');
    for (const u of made) await ok('vmadm', ['delete', u]);
    made.length = 0;
  });
});
