/**
 * Crash safety and serialisation: vmadm killed with SIGKILL at any point of create or delete leaves
 * the VM either complete or gone (nothing of a gone VM is left: no dataset, zone, runtime state or
 * cgroup), and never touches another VM. Commands on one VM wait for each other, across processes;
 * commands on different VMs do not.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cli, zoneTestSkip, leaks, makeTestEnv, ok, ROOT, teardown } from '../helpers/host.ts';

const skip = zoneTestSkip();

/** Start a vmadm command and SIGKILL it after `ms` (if it is still running). */
async function killedAfter(args: string[], ms: number): Promise<void> {
  const child = spawn(join(ROOT, 'bin', 'vmadm'), args, { stdio: 'ignore' });
  const done = new Promise<void>((resolve) => child.on('close', () => resolve()));
  await Promise.race([sleep(ms), done]);
  child.kill('SIGKILL');
  await done;
}

describe('crash safety', { skip, timeout: 300_000 }, () => {
  const env = makeTestEnv('cs');
  const P = `${env.prefix}p`;
  process.env.ZONIX_SYSTEM_POOL = P;
  const mnt = join(env.dir, 'zones');
  const run = join(env.dir, 'run');
  const cgroupParent = process.env.ZONIX_CGROUP_PARENT!;
  let image = '';
  let bystander = '';
  let bystanderJson = '';
  const payload = (extra: Record<string, unknown>) => {
    const f = join(env.dir, `${randomUUID()}.json`);
    writeFileSync(f, JSON.stringify({ brand: 'joyent-minimal', image_uuid: image, ...extra }));
    return f;
  };
  const get = async (uuid: string) => JSON.parse(await ok('vmadm', ['get', uuid])) as Record<string, unknown>;
  /** Is anything of this VM still on the host? */
  const remains = async (uuid: string): Promise<string[]> => {
    const out: string[] = [];
    if ((await ok('zfs', ['list', '-H', '-o', 'name', '-r', P])).includes(uuid)) out.push('dataset');
    if (existsSync(join(mnt, uuid))) out.push('zonepath');
    if (existsSync(join(run, 'runc', uuid))) out.push('runc state');
    if (existsSync(join(run, 'zones', uuid))) out.push('zone files');
    for (const c of ['memory', 'pids', 'cpu,cpuacct', 'freezer'])
      if (existsSync(join('/sys/fs/cgroup', c, cgroupParent, uuid))) out.push(`cgroup ${c}`);
    return out;
  };
  // Whole: listed, readable, its dataset there, in a state it can be in.
  const assertWhole = async (uuid: string) => {
    const vm = await get(uuid);
    assert.ok(['running', 'stopped', 'ready'].includes(String(vm.state)), String(vm.state));
    assert.ok((await remains(uuid)).includes('dataset'));
  };

  before(async () => {
    await ok('zpool', ['create', '-m', mnt, '-o', 'size=2G', P, join(env.dir, 'pool.img')]);
    await ok('imgadm', ['import', '-P', P, 'minimal']);
    image = (await ok('imgadm', ['list', '-P', P, '-H', '-o', 'uuid'])).trim();
    bystander = randomUUID();
    await ok('vmadm', ['create', '-f', payload({ uuid: bystander, alias: 'bystander' })]);
    bystanderJson = JSON.stringify({ ...(await get(bystander)), pid: 0 });
  });

  after(async () => {
    for (const uuid of (await cli('vmadm', ['lookup'])).stdout.split('\n').filter(Boolean))
      await cli('vmadm', ['delete', uuid]);
    await teardown(env, [P]);
    assert.deepEqual(leaks(env), []);
  });

  /**
   * Kill `command(uuid)` after each delay, then check with the next vmadm command that the VM is whole
   * (and can be deleted) or gone without a trace; both outcomes must have happened.
   */
  const killedAtEachPoint = async (
    delays: number[],
    command: (uuid: string) => Promise<string[]>,
  ): Promise<void> => {
    const outcomes = { whole: 0, gone: 0 };
    for (const ms of delays) {
      const uuid = randomUUID();
      await killedAfter(await command(uuid), ms);
      const listed = (await ok('vmadm', ['lookup'])).split('\n').includes(uuid);
      if (listed) {
        outcomes.whole++;
        await assertWhole(uuid);
        await ok('vmadm', ['delete', uuid]);
      } else outcomes.gone++;
      assert.deepEqual(await remains(uuid), [], `killed after ${ms} ms, listed: ${listed}`);
    }
    assert.ok(outcomes.whole > 0 && outcomes.gone > 0, JSON.stringify(outcomes));
  };

  it('a create killed at any point leaves the VM complete or gone', async () => {
    await killedAtEachPoint([0, 60, 120, 160, 200, 240, 280, 320, 380, 450, 600, 3000], (uuid) =>
      Promise.resolve(['create', '-f', payload({ uuid })]),
    );
  });

  it('a delete killed at any point leaves the VM complete or gone', async () => {
    await killedAtEachPoint([0, 100, 150, 180, 200, 220, 250, 300, 3000], async (uuid) => {
      await ok('vmadm', ['create', '-f', payload({ uuid })]);
      return ['delete', uuid];
    });
  });

  it('two creates killed together at any point leave each VM complete or gone', async () => {
    const outcomes = { whole: 0, gone: 0 };
    for (const ms of [100, 200, 280, 360, 450, 600, 3000]) {
      const uuids = [randomUUID(), randomUUID()];
      await Promise.all(uuids.map((uuid) => killedAfter(['create', '-f', payload({ uuid })], ms)));
      const listed = (await ok('vmadm', ['lookup'])).split('\n');
      for (const uuid of uuids) {
        if (listed.includes(uuid)) {
          outcomes.whole++;
          await assertWhole(uuid);
          await ok('vmadm', ['delete', uuid]);
        } else outcomes.gone++;
        assert.deepEqual(await remains(uuid), [], `killed after ${ms} ms, listed: ${listed.includes(uuid)}`);
      }
    }
    assert.ok(outcomes.whole > 0 && outcomes.gone > 0, JSON.stringify(outcomes));
  });

  it('no other VM was touched', async () => {
    const now = await get(bystander);
    assert.equal(now.state, 'running');
    assert.equal(JSON.stringify({ ...now, pid: 0 }), bystanderJson);
    assert.deepEqual(readdirSync(join(run, 'runc')), [bystander]);
  });

  it('commands on one VM wait for each other; on other VMs they go on', async () => {
    const { lockVm } = await import('../../src/vm/store.ts');
    const other = randomUUID();
    await ok('vmadm', ['create', '-f', payload({ uuid: other })]);
    // Another process holds the bystander's lock (as a long update would).
    const lock = await lockVm(bystander, 'test');
    let stopped = false;
    const stop = cli('vmadm', ['stop', '-F', bystander]).then((r) => {
      stopped = true;
      return r;
    });
    // A command on another VM is not held up.
    const t0 = Date.now();
    await ok('vmadm', ['stop', '-F', other]);
    assert.ok(Date.now() - t0 < 5000);
    await sleep(500);
    assert.equal(stopped, false, 'stop ran while another process held the VM');
    assert.equal((await get(bystander)).state, 'running');
    lock.release();
    const r = await stop;
    assert.deepEqual([r.code, r.stderr], [0, `Successfully completed stop for VM ${bystander}\n`]);
    assert.equal((await get(bystander)).state, 'stopped');
    await ok('vmadm', ['start', bystander]);
  });

  it('a create whose zone cannot boot fails and leaves nothing', async () => {
    const uuid = randomUUID();
    // runc refuses mounts inside /proc: the dataset is made, then the boot fails.
    const r = await cli('vmadm', [
      'create',
      '-f',
      payload({ uuid, filesystems: [{ type: 'lofs', source: env.dir, target: '/proc/zonix' }] }),
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /could not be created/);
    assert.deepEqual(await remains(uuid), []);
  });

  it('shows what a command is doing: shutting_down, provisioning', async () => {
    const { lockVm } = await import('../../src/vm/store.ts');
    let lock = await lockVm(bystander, 'stop');
    assert.equal((await get(bystander)).state, 'shutting_down');
    lock.release();
    const other = randomUUID();
    await ok('vmadm', ['create', '-f', payload({ uuid: other, autoboot: false })]);
    lock = await lockVm(other, 'create');
    assert.equal((await get(other)).state, 'provisioning');
    lock.release();
    assert.equal((await get(other)).state, 'stopped');
  });

  it('the list cache never shows what is no longer so', async () => {
    const uuid = randomUUID();
    await ok('vmadm', ['create', '-f', payload({ uuid, alias: 'one', autoboot: false })]);
    // A lock left by a command that died (its pid is gone) would keep the cache unused: the next
    // list that reads the pool frees it.
    const dead = join(run, 'vm-locks', `${randomUUID()}.lock`);
    mkdirSync(join(run, 'vm-locks'), { recursive: true });
    writeFileSync(dead, JSON.stringify({ pid: 2 ** 30, start: '1', intent: 'update' }));
    const alias = async () => (await ok('vmadm', ['list', '-H', '-o', 'alias', `uuid=${uuid}`])).trim();
    assert.equal(await alias(), 'one');
    assert.ok(!existsSync(dead));
    assert.ok(existsSync(join(run, 'vm-cache', `${P}.json`)));
    // Read from the pool (first, after a change) and from the cache's columns: the same rows.
    const wide = [
      'list',
      '-p',
      '-o',
      'uuid,alias,type,ram,state,zone_state,pid,zonepath,zpool,quota,autoboot',
    ];
    await ok('vmadm', ['update', uuid, 'alias=uno']);
    const fromPool = await ok('vmadm', wide);
    assert.ok(existsSync(join(run, 'vm-cache', `${P}.columns`)));
    assert.equal(await ok('vmadm', wide), fromPool);
    assert.match(
      fromPool,
      new RegExp(`^${uuid}:uno:OS:256:stopped:installed::${mnt}/${uuid}:${P}:10:false$`, 'm'),
    );
    // Columns are found by byte offset: a name that is not ASCII shifts every column after it.
    await ok('vmadm', ['update', uuid, 'alias=zöne-ü']);
    assert.equal(await alias(), 'zöne-ü');
    assert.equal(await alias(), 'zöne-ü');
    assert.match(
      await ok('vmadm', ['list', '-p', '-o', 'alias,ram,state', `uuid=${uuid}`]),
      /^zöne-ü:256:stopped$/m,
    );
    // A columns file of another format (an older Zonix) is not read; the next list writes it anew.
    const columns = join(run, 'vm-cache', `${P}.columns`);
    writeFileSync(columns, readFileSync(columns, 'utf8').replace(/^\{"version":\d+,/, '{'));
    assert.match(
      await ok('vmadm', ['list', '-p', '-o', 'alias,ram,state', `uuid=${uuid}`]),
      /^zöne-ü:256:stopped$/m,
    );
    assert.match(readFileSync(columns, 'utf8'), /^\{"version":2,/);
    await ok('vmadm', ['update', uuid, 'alias=two']);
    assert.equal(await alias(), 'two');
    await ok('vmadm', ['create-snapshot', uuid, 'a']);
    await ok('vmadm', ['update', uuid, 'alias=three']);
    assert.equal(await alias(), 'three');
    // A rollback behind vmadm's back (zfs) brings the older manifest back: the list sees it.
    await ok('zfs', ['rollback', '-r', `${P}/${uuid}@vmsnap-a`]);
    assert.equal(await alias(), 'two');
    await ok('vmadm', ['start', uuid]);
    assert.match(await ok('vmadm', ['list', '-H', '-o', 'state', `uuid=${uuid}`]), /^running/);
    await ok('vmadm', ['delete', uuid]);
    assert.equal(await ok('vmadm', ['list', '-H', `uuid=${uuid}`]), '');
  });
});
