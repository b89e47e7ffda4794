/**
 * VM snapshots from the command line, as on SmartOS: create-snapshot, rollback-snapshot (the zone's
 * files and its metadata come back, newer snapshots go, the VM runs again) and delete-snapshot, with
 * SmartOS's messages and exit codes for bad names, duplicates, missing snapshots and wrong arguments.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  cli,
  createVm,
  zoneTestSkip,
  leaks,
  makeTestEnv,
  makeZonePool,
  ok,
  teardown,
} from '../helpers/host.ts';

const skip = zoneTestSkip();

describe('vmadm snapshots', { skip, timeout: 120_000 }, () => {
  const env = makeTestEnv('vs');
  const P = `${env.prefix}p`;
  process.env.ZONIX_SYSTEM_POOL = P;
  let uuid = '';

  const get = async () => JSON.parse(await ok('vmadm', ['get', uuid])) as Record<string, unknown>;
  const snaps = async () =>
    (await ok('zfs', ['list', '-H', '-o', 'name', '-t', 'snapshot', '-r', `${P}/${uuid}`]))
      .split('\n')
      .filter(Boolean);
  const core = async () => {
    const { openPool } = await import('../../src/storage/index.ts');
    const { VmCore } = await import('../../src/vm/core.ts');
    return new VmCore(openPool(P));
  };

  before(async () => {
    const image = await makeZonePool(env, P, { size: '512M' });
    uuid = await createVm(env.dir, {
      brand: 'joyent-minimal',
      image_uuid: image,
      alias: 'snappy',
      max_physical_memory: 64,
      customer_metadata: { colour: 'blue' },
    });
  });

  after(async () => {
    await teardown(env, [P], uuid ? [uuid] : []);
    assert.deepEqual(leaks(env), []);
  });

  it('rolls a running VM back: its files and metadata return, newer snapshots go, it runs again', async () => {
    let r = await cli('vmadm', ['create-snapshot', uuid, 's1']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, '', `Created snapshot s1 for VM ${uuid}\n`]);
    assert.deepEqual(await snaps(), [`${P}/${uuid}@vmsnap-s1`]);

    await ok('zlogin', [uuid, 'sh', '-c', 'echo x > /root/f']);
    // An update after the snapshot: SmartOS reverts what lives in the zone root (metadata, tags,
    // routes), not the rest of the configuration.
    const c = await core();
    await c.store.write({ ...c.store.read(uuid)!, alias: 'renamed', customer_metadata: { colour: 'red' } });
    r = await cli('vmadm', ['create-snapshot', uuid, 's2']);
    assert.equal(r.code, 0, r.stderr);
    const pid = (await get()).pid;

    r = await cli('vmadm', ['rollback-snapshot', uuid, 's1']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, '', `Rolled back snapshot s1 for VM ${uuid}\n`]);
    assert.equal((await cli('zlogin', [uuid, 'test', '-e', '/root/f'])).code, 1, '/root/f is gone');
    const vm = await get();
    assert.equal(vm.state, 'running');
    assert.equal(vm.autoboot, true);
    assert.notEqual(vm.pid, pid);
    assert.deepEqual(vm.customer_metadata, { colour: 'blue' });
    assert.equal(vm.alias, 'renamed');
    assert.deepEqual(await snaps(), [`${P}/${uuid}@vmsnap-s1`]);
  });

  it('lists the snapshots newest first, with their time and size', async () => {
    await ok('vmadm', ['create-snapshot', uuid, 's3']);
    const { vmSnapshots, vmSnapshotsWithSize } = await import('../../src/vm/snapshots.ts');
    const c = await core();
    const list = vmSnapshots(c, uuid);
    assert.deepEqual(
      list.map((s) => s.name),
      ['s3', 's1'],
    );
    for (const s of list) {
      assert.match(s.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
      assert.ok(Math.abs(Date.parse(s.created_at) - Date.now()) < 120_000);
    }
    const sized = await vmSnapshotsWithSize(c, uuid);
    assert.deepEqual(
      sized.map((s) => s.name),
      ['s3', 's1'],
    );
    for (const s of sized) assert.ok(typeof s.size === 'number' && s.size >= 0);
    assert.deepEqual(vmSnapshots(c, randomUUID()), []);
  });

  it('answers bad names, duplicates, missing snapshots and wrong arguments as SmartOS', async () => {
    const expect = async (args: string[], code: number, stderr: string | RegExp) => {
      const r = await cli('vmadm', args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      if (typeof stderr === 'string') assert.equal(r.stderr, stderr);
      else assert.match(r.stderr, stderr);
    };
    const before = await snaps();
    await expect(['create-snapshot', uuid, 's1'], 1, 'snapshot with name "s1" already exists.\n');
    for (const bad of ['bad/name', 'a@b', 'x'.repeat(65), ''])
      await expect(['create-snapshot', uuid, bad], 1, 'Invalid snapshot name\n');
    await expect(['rollback-snapshot', uuid, 'no pe'], 1, 'Invalid snapshot name\n');
    await expect(['rollback-snapshot', uuid, 'nope'], 1, `No snapshot named "nope" for ${uuid}\n`);
    await expect(['delete-snapshot', uuid, 'nope'], 1, `No snapshot named "nope" for ${uuid}\n`);
    for (const cmd of ['create-snapshot', 'rollback-snapshot', 'delete-snapshot']) {
      await expect([cmd, uuid], 2, new RegExp(`^Wrong number of parameters to "${cmd}"\nUsage: vmadm`));
      await expect([cmd, uuid, 'a', 'b'], 2, new RegExp(`^Wrong number of parameters to "${cmd}"\n`));
      await expect([cmd, 'not-a-uuid', 'a'], 2, new RegExp(`^Invalid or missing UUID for ${cmd}\n`));
    }
    const other = randomUUID();
    await expect(['create-snapshot', other, 'a'], 1, `zoneadm: ${other}: No such zone configured\n`);
    assert.deepEqual(await snaps(), before, 'the failures changed nothing');
    // The longest name there may be, with the punctuation SmartOS allows (but '%', which ZFS itself
    // reserves, and so refuses).
    const longest = `${'a'.repeat(58)}Z9_:.-`;
    assert.equal(longest.length, 64);
    await expect(['create-snapshot', uuid, longest], 0, `Created snapshot ${longest} for VM ${uuid}\n`);
    await expect(['delete-snapshot', uuid, longest], 0, `Deleted snapshot ${longest} for VM ${uuid}\n`);
  });

  it('rolling back a stopped VM starts it again, as SmartOS does', async () => {
    await ok('vmadm', ['stop', uuid]);
    assert.equal((await get()).state, 'stopped');
    const r = await cli('vmadm', ['rollback-snapshot', uuid, 's3']);
    assert.equal(r.code, 0, r.stderr);
    const vm = await get();
    assert.equal(vm.state, 'running');
    assert.equal(vm.autoboot, true);
  });

  it('deletes snapshots', async () => {
    for (const s of ['s3', 's1']) {
      const r = await cli('vmadm', ['delete-snapshot', uuid, s]);
      assert.deepEqual([r.code, r.stderr], [0, `Deleted snapshot ${s} for VM ${uuid}\n`]);
    }
    assert.deepEqual(await snaps(), []);
    assert.equal((await get()).state, 'running');
  });
});
