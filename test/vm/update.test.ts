/**
 * `vmadm update` on a real zone, as a SmartOS user types it: live caps (memory, CPU, processes, locked
 * memory, quota) seen from inside the running zone, tags and metadata, a read-only lofs filesystem
 * that appears at the next start, resolv.conf kept by the host, `key=value` pairs, and refused
 * payloads that change nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hardLimit } from '../../src/zones/spec.ts';
import { cli, zoneTestSkip, leaks, makeTestEnv, ok, teardown } from '../helpers/host.ts';

const skip = zoneTestSkip();

describe('vmadm update', { skip, timeout: 120_000 }, () => {
  const env = makeTestEnv('vu');
  const P = `${env.prefix}p`;
  process.env.ZONIX_SYSTEM_POOL = P;
  const mnt = join(env.dir, 'zones');
  const shared = join(env.dir, 'shared');
  let uuid = '';
  const file = (payload: unknown) => {
    const f = join(env.dir, `${randomUUID()}.json`);
    writeFileSync(f, JSON.stringify(payload));
    return f;
  };
  const get = async () => JSON.parse(await ok('vmadm', ['get', uuid])) as Record<string, unknown>;
  const inZone = (...args: string[]) => ok('zlogin', [uuid, ...args]);
  const cgroup = () =>
    inZone(
      'cat',
      '/sys/fs/cgroup/memory/memory.limit_in_bytes',
      '/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes',
      '/sys/fs/cgroup/cpu/cpu.cfs_quota_us',
      '/sys/fs/cgroup/pids/pids.max',
    );
  const updated = () => `Successfully updated VM ${uuid}\n`;

  before(async () => {
    mkdirSync(shared);
    writeFileSync(join(shared, 'hello.txt'), 'from the host\n');
    await ok('zpool', ['create', '-m', mnt, '-o', 'size=1G', P, join(env.dir, 'pool.img')]);
    await ok('imgadm', ['import', '-P', P, 'minimal']);
    const image = (await ok('imgadm', ['list', '-P', P, '-H', '-o', 'uuid'])).trim();
    const r = await cli('vmadm', [
      'create',
      '-f',
      file({
        brand: 'joyent-minimal',
        image_uuid: image,
        alias: 'upd1',
        max_physical_memory: 96,
        cpu_cap: 25,
        max_lwps: 64,
        quota: 2,
      }),
    ]);
    assert.equal(r.code, 0, r.stderr);
    uuid = /^Successfully created VM ([0-9a-f-]{36})\n$/.exec(r.stderr)![1]!;
  });

  after(async () => {
    if (uuid) await cli('vmadm', ['delete', uuid]);
    await teardown(env, [P], uuid ? [uuid] : []);
    assert.deepEqual(leaks(env), []);
  });

  it('changes memory, CPU, process and locked-memory caps and the quota of the running zone', async () => {
    const pid = (await get()).pid;
    const r = await cli('vmadm', [
      'update',
      uuid,
      '-f',
      file({ max_physical_memory: 160, cpu_cap: 150, max_lwps: 100, quota: 3, max_locked_memory: 4 }),
    ]);
    assert.deepEqual([r.code, r.stderr, r.stdout], [0, updated(), '']);
    const vm = await get();
    assert.equal(vm.pid, pid, 'the zone kept running');
    assert.deepEqual(
      [vm.max_physical_memory, vm.cpu_cap, vm.max_lwps, vm.quota, vm.max_locked_memory],
      [160, 150, 100, 3, 4],
    );
    // The swap cap kept its distance from memory (256 - 96).
    assert.equal(vm.max_swap, 320);
    assert.equal(await cgroup(), `${160 << 20}\n${320 << 20}\n150000\n100\n`);
    // Locked memory is RLIMIT_MEMLOCK, capped at our own hard limit as when the zone started.
    const memlock = Math.min(4 << 20, hardLimit('Max locked memory') ?? Infinity);
    const limits = await inZone('cat', '/proc/1/limits');
    assert.match(limits, new RegExp(`^Max locked memory\\s+${memlock}\\s+${memlock}\\s+bytes\\s*$`, 'm'));
    assert.equal(await ok('zfs', ['get', '-H', '-o', 'value', 'quota', `${P}/${uuid}`]), '3G\n');
  });

  it('takes key=value pairs: cpu_cap=0 removes the cap, quota=0 removes the quota', async () => {
    const r = await cli('vmadm', [
      'update',
      uuid,
      'cpu_cap=0',
      'quota=0',
      'max_lwps=80',
      'cpu_shares=50',
      'alias=web-1',
    ]);
    assert.deepEqual([r.code, r.stderr], [0, updated()]);
    const vm = await get();
    assert.equal(Object.hasOwn(vm, 'cpu_cap'), false);
    assert.deepEqual([vm.quota, vm.max_lwps, vm.cpu_shares, vm.alias], [0, 80, 50, 'web-1']);
    assert.equal((await cgroup()).split('\n').slice(2).join('\n'), '-1\n80\n');
    assert.equal(await inZone('cat', '/sys/fs/cgroup/cpu/cpu.shares'), '50\n');
    assert.equal(await ok('zfs', ['get', '-H', '-o', 'value', 'quota', `${P}/${uuid}`]), 'none\n');
    // On the command line null is a string, not an unset; JSON null unsets.
    await ok('vmadm', ['update', uuid, 'alias=null']);
    assert.equal((await get()).alias, 'null');
    await ok('vmadm', ['update', uuid], { input: JSON.stringify({ alias: null }) });
    assert.equal(Object.hasOwn(await get(), 'alias'), false);
  });

  it('sets and removes tags and customer metadata', async () => {
    await ok('vmadm', [
      'update',
      uuid,
      '-f',
      file({ set_tags: { role: 'db', n: 1, on: true }, set_customer_metadata: { 'user-script': 'true' } }),
    ]);
    let vm = await get();
    assert.deepEqual(vm.tags, { role: 'db', n: 1, on: true });
    assert.deepEqual(vm.customer_metadata, { 'user-script': 'true' });
    assert.equal(await ok('vmadm', ['lookup', 'tags.role=db']), `${uuid}\n`);
    await ok('vmadm', ['update', uuid, 'remove_tags=role,n', 'remove_customer_metadata=user-script']);
    vm = await get();
    assert.deepEqual(vm.tags, { on: true });
    assert.deepEqual(vm.customer_metadata, {});
  });

  it('rewrites resolv.conf in the running zone when maintain_resolvers is set', async () => {
    await ok('vmadm', ['update', uuid, '-f', file({ maintain_resolvers: true, resolvers: ['192.0.2.53'] })]);
    assert.equal(await inZone('cat', '/etc/resolv.conf'), 'nameserver 192.0.2.53\n');
    assert.deepEqual((await get()).resolvers, ['192.0.2.53']);
  });

  it('adds a read-only lofs filesystem that appears at the next start, and removes it', async () => {
    const fs = { type: 'lofs', source: shared, target: '/shared', options: ['ro'] };
    await ok('vmadm', ['update', uuid, '-f', file({ add_filesystems: [fs] })]);
    assert.deepEqual((await get()).filesystems, [fs]);
    assert.equal((await cli('zlogin', [uuid, 'cat', '/shared/hello.txt'])).code === 0, false);
    await ok('vmadm', ['stop', uuid, '-F']);
    // A stopped VM's update is stored, and made at the next start.
    await ok('vmadm', ['update', uuid, 'max_lwps=70']);
    await ok('vmadm', ['start', uuid]);
    assert.equal(await inZone('cat', '/shared/hello.txt'), 'from the host\n');
    const w = await cli('zlogin', [uuid, 'touch', '/shared/new']);
    assert.notEqual(w.code, 0, 'the mount is read-only');
    // Caps set by update survive the restart (the zone is made from the manifest).
    assert.equal(await cgroup(), `${160 << 20}\n${320 << 20}\n-1\n70\n`);
    await ok('vmadm', ['update', uuid, 'remove_filesystems=/shared']);
    assert.equal(Object.hasOwn(await get(), 'filesystems'), false);
    await ok('vmadm', ['stop', uuid, '-F']);
    await ok('vmadm', ['start', uuid]);
    assert.notEqual((await cli('zlogin', [uuid, 'cat', '/shared/hello.txt'])).code, 0);
  });

  it('refuses bad values with SmartOS messages and changes nothing', async () => {
    const before = await ok('vmadm', ['get', uuid]);
    const cases: [string[], string][] = [
      [['max_lwps=-5'], 'Invalid value(s) for: max_lwps\n'],
      [['cpu_cap=abc'], 'Invalid value for cpu_cap: null:number\n'],
      [['max_lwps=90', 'max_swap=100'], 'Invalid value(s) for: max_swap\n'],
      [
        ['-f', file({ add_filesystems: [{ type: 'lofs', source: '/nope/zonix', target: '/x' }] })],
        'missing requested filesystem: /nope/zonix\n',
      ],
      [
        ['-f', file({ update_nics: [{ mac: '02:00:00:00:00:09', vlan_id: 3 }] })],
        'There is no existing NIC with that mac address\n',
      ],
    ];
    for (const [args, message] of cases) {
      const r = await cli('vmadm', ['update', uuid, ...args]);
      assert.deepEqual([r.code, r.stderr], [1, message], args.join(' '));
    }
    assert.equal(await ok('vmadm', ['get', uuid]), before);
    assert.equal((await cgroup()).split('\n')[3], '70');
  });

  it('answers for unknown VMs, bad UUIDs and bad arguments', async () => {
    const other = randomUUID();
    let r = await cli('vmadm', ['update', other, 'alias=x']);
    assert.deepEqual([r.code, r.stderr], [1, `zoneadm: ${other}: No such zone configured\n`]);
    r = await cli('vmadm', ['update', 'nope', 'alias=x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^Invalid or missing UUID for update\n/);
    r = await cli('vmadm', ['update', uuid, 'alias']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^Bad arguments: unable to split alias\n/);
    r = await cli('vmadm', ['update', uuid, '-f', join(env.dir, 'missing.json')]);
    assert.deepEqual([r.code, r.stderr], [1, `File: ${join(env.dir, 'missing.json')} does not exist.\n`]);
  });
});
