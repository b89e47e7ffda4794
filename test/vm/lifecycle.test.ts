/**
 * The VM layer below vmadm: a VM's dataset and manifest, its zone started and stopped from the
 * manifest, and creates or deletes that died halfway removed by the next look.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { zoneTestSkip, leaks, makeTestEnv, ok, teardown } from '../helpers/host.ts';

const skip = zoneTestSkip();

describe('VM store and zone lifecycle', { skip, timeout: 120_000 }, () => {
  const env = makeTestEnv('vm');
  const P = `${env.prefix}p`;
  const mnt = join(env.dir, 'mnt');
  let image = '';
  const uuid = randomUUID();

  const load = async () => {
    const storage = await import('../../src/storage/index.ts');
    const { VmStore, VM_PROP, lockVm } = await import('../../src/vm/store.ts');
    const zone = await import('../../src/vm/zone.ts');
    const { OciRuntime } = await import('../../src/zones/index.ts');
    const store = new VmStore(storage.openPool(P));
    return { store, VM_PROP, lockVm, zone, runtime: new OciRuntime('runc') };
  };

  before(async () => {
    await ok('zpool', ['create', '-m', mnt, '-o', 'size=512M', P, join(env.dir, 'pool.img')]);
    await ok('imgadm', ['import', '-P', P, 'minimal']);
    image = (await ok('imgadm', ['list', '-P', P, '-H', '-o', 'uuid'])).trim();
  });

  after(async () => {
    const { runtime } = await load().catch(() => ({ runtime: undefined }));
    await runtime?.delete(uuid, { force: true }).catch(() => undefined);
    await teardown(env, [P]);
    assert.deepEqual(leaks(env), []);
  });

  it('keeps a VM as a cloned dataset with its manifest inside, and lists it once complete', async () => {
    const { store, VM_PROP } = await load();
    const lock = await (await load()).lockVm(uuid, 'create');
    try {
      await store.pool.clone(`${P}/${image}@final`, `${P}/${uuid}`, { props: { [VM_PROP]: 'creating' } });
      assert.deepEqual(store.uuids(), []);
      await store.write({
        uuid,
        brand: 'joyent-minimal',
        hostname: 'vm1',
        max_physical_memory: 64,
        max_swap: 128,
        max_lwps: 50,
        tmpfs: 16,
        resolvers: ['192.0.2.53'],
      });
      await store.setPhase(uuid, 'ready');
    } finally {
      lock.release();
    }
    assert.deepEqual(store.uuids(), [uuid]);
    assert.equal(store.read(uuid)?.hostname, 'vm1');
    assert.equal(store.zonepath(uuid), join(mnt, uuid));
  });

  it('starts the zone from the manifest, and stops it with its exit status recorded', async () => {
    const { store, zone, runtime } = await load();
    const vm = store.read(uuid)!;
    const pid = await zone.startZone(runtime, vm, store.zonepath(uuid));
    assert.ok(pid > 1);
    assert.deepEqual(await zone.liveState(runtime, uuid), { state: 'running', zone_state: 'running', pid });
    assert.equal(readFileSync(join(mnt, uuid, 'root/etc/resolv.conf'), 'utf8'), 'nameserver 192.0.2.53\n');
    const exec = spawnSync(
      'runc',
      ['--root', join(env.dir, 'run', 'runc'), 'exec', uuid, 'cat', '/sys/fs/cgroup/pids/pids.max'],
      { encoding: 'utf8' },
    );
    assert.equal(exec.stdout.trim(), '50');
    await zone.stopZone(runtime, uuid, { haltSignal: 'USR2', timeoutMs: 10_000 });
    // conmon records how init ended just after reaping it.
    let live = await zone.liveState(runtime, uuid);
    for (let i = 0; i < 100 && live.exit_timestamp === undefined; i++) {
      await new Promise((r) => setTimeout(r, 10));
      live = await zone.liveState(runtime, uuid);
    }
    assert.ok(Date.now() - Date.parse(live.exit_timestamp ?? '') < 60_000, live.exit_timestamp);
    assert.deepEqual(live, {
      state: 'stopped',
      zone_state: 'installed',
      exit_status: 0,
      exit_timestamp: live.exit_timestamp,
    });
    // A stopped zone starts again.
    await zone.startZone(runtime, vm, store.zonepath(uuid));
    assert.equal((await zone.liveState(runtime, uuid)).state, 'running');
    await zone.stopZone(runtime, uuid, { force: true });
    assert.equal((await zone.liveState(runtime, uuid)).state, 'stopped');
    await runtime.delete(uuid, { force: true });
  });

  it('removes a create that died halfway, and leaves VMs whose creator is alive alone', async () => {
    const { store, VM_PROP, lockVm } = await load();
    const dead = randomUUID();
    await store.pool.clone(`${P}/${image}@final`, `${P}/${dead}`, { props: { [VM_PROP]: 'creating' } });
    const live = randomUUID();
    const lock = await lockVm(live, 'create');
    try {
      await store.pool.clone(`${P}/${image}@final`, `${P}/${live}`, { props: { [VM_PROP]: 'creating' } });
      assert.deepEqual(await store.reconcile(), [dead]);
      assert.equal(store.exists(dead), false);
      assert.equal(store.exists(live), true);
    } finally {
      lock.release();
    }
    assert.deepEqual(await store.reconcile(), [live]);
    assert.deepEqual(store.uuids(), [uuid]);
  });
});
