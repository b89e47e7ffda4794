/**
 * The host core in-process: a VM keeps the runtime it was made with, lifecycle hooks run at their
 * points of a VM's life, a cancelled create leaves nothing behind, and `info` is the brand's answer.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { zoneTestSkip, leaks, makeTestEnv, ok, teardown } from '../helpers/host.ts';

const skip = zoneTestSkip();

describe('host core', { skip, timeout: 180_000 }, () => {
  const env = makeTestEnv('hc');
  const P = `${env.prefix}p`;
  process.env.ZONIX_SYSTEM_POOL = P;
  const mnt = join(env.dir, 'mnt');
  let image = '';
  const seen: string[] = [];
  let host: import('../../src/host/index.ts').Host;

  before(async () => {
    await ok('zpool', ['create', '-m', mnt, '-o', 'size=512M', P, join(env.dir, 'pool.img')]);
    await ok('imgadm', ['import', '-P', P, 'minimal']);
    image = (await ok('imgadm', ['list', '-P', P, '-H', '-o', 'uuid'])).trim();
    const { Host } = await import('../../src/host/index.ts');
    host = new Host({ runtime: 'runc' });
    host.hooks.add({
      name: 'probe',
      prepare: async (vm, ctx) => void seen.push(`prepare ${vm.uuid} ${ctx.zonepath}`),
      attach: async (vm, ctx) => void seen.push(`attach ${vm.uuid} ${ctx.pid > 1}`),
      detach: async (vm) => void seen.push(`detach ${vm.uuid}`),
      release: async (vm) => void seen.push(`release ${vm.uuid}`),
    });
  });

  after(async () => {
    const { openRuntime } = await import('../../src/zones/index.ts');
    for (const vm of await host.list().catch(() => [])) {
      await openRuntime('runc')
        .delete(vm.uuid, { force: true })
        .catch(() => undefined);
    }
    await teardown(env, [P]);
    assert.deepEqual(leaks(env), []);
  });

  const payload = (extra: Record<string, unknown> = {}) => ({
    brand: 'joyent-minimal',
    image_uuid: image,
    max_physical_memory: 64,
    ...extra,
  });

  it('runs the lifecycle hooks at prepare, attach, detach and release', async () => {
    const { uuid } = await host.create(payload({ alias: 'hooks' }));
    // Stopped at once after its start: a halt signal that came before init listened is sent again.
    const t = Date.now();
    await host.stop(uuid);
    assert.ok(Date.now() - t < 10_000, `stop took ${Date.now() - t} ms`);
    await host.delete(uuid);
    assert.deepEqual(seen, [
      `prepare ${uuid} ${join(mnt, uuid)}`,
      `attach ${uuid} true`,
      `detach ${uuid}`,
      `release ${uuid}`,
    ]);
  });

  it('records the runtime a VM was made with, and keeps using it whatever new VMs get', async () => {
    const { uuid } = await host.create(payload({ alias: 'rt', autoboot: false }));
    assert.equal(
      (await ok('zfs', ['get', '-H', '-o', 'value', 'com.zonix:runtime', `${P}/${uuid}`])).trim(),
      'runc',
    );
    // A host whose new VMs get crun (which cannot run a container on this machine kind) still
    // starts and stops this VM with runc.
    const { Host } = await import('../../src/host/index.ts');
    const other = new Host({ runtime: 'crun' });
    assert.equal(other.runtime().info.name, 'crun');
    await other.start(uuid);
    assert.equal((await other.get(uuid)).state, 'running');
    await other.stop(uuid);
    assert.equal((await other.get(uuid)).state, 'stopped');
    await other.delete(uuid);
  });

  it('a cancelled create leaves nothing behind and says it was cancelled', async () => {
    const ac = new AbortController();
    const phases: string[] = [];
    const created = host.create(payload({ alias: 'cancelled' }), {
      signal: ac.signal,
      progress: (p) => {
        phases.push(p.phase);
        if (p.phase === 'cloning') ac.abort();
      },
    });
    await assert.rejects(created, { code: 'ECANCELED' });
    assert.deepEqual(phases, ['cloning']);
    assert.deepEqual(await host.list(), []);
    const datasets = (await ok('zfs', ['list', '-H', '-o', 'name', '-r', P])).trim().split('\n');
    assert.deepEqual(datasets.sort(), [P, `${P}/${image}`].sort());
  });

  it('reports progress through a create that boots', async () => {
    const phases: string[] = [];
    const { uuid } = await host.create(payload({ alias: 'progress' }), {
      progress: (p) => phases.push(p.phase),
    });
    assert.deepEqual(phases, ['cloning', 'booting']);
    await host.delete(uuid);
  });

  it('info is the brand driver answer: zones have no hypervisor to ask', async () => {
    const { uuid } = await host.create(payload({ alias: 'info', autoboot: false }));
    await assert.rejects(host.info(uuid), {
      code: 'ENOTSUP',
      message: `Unable to get VM info for VM ${uuid}: info is not supported for joyent-minimal VMs`,
    });
    const { uuid: kvm } = await host.create({ brand: 'kvm', ram: 256, autoboot: false });
    await assert.rejects(host.info(kvm), /info is not supported for kvm VMs that are not running/);
    await host.delete(kvm);
    await host.delete(uuid);
  });

  it('a pool made anew under the same name gets a new core', async () => {
    const Q = `${env.prefix}q`;
    const make = async (driver: string) => {
      process.env.ZONIX_STORAGE_DRIVER = driver;
      try {
        const dev = join(env.dir, driver === 'dir' ? 'q-dir' : 'q.img');
        await ok('zpool', ['create', '-m', join(env.dir, 'q'), '-o', 'size=256M', Q, dev]);
      } finally {
        delete process.env.ZONIX_STORAGE_DRIVER;
      }
    };
    await make('btrfs');
    const first = host.core(Q);
    assert.equal(host.core(Q), first);
    await ok('zpool', ['destroy', Q]);
    await make('dir');
    const second = host.core(Q);
    assert.notEqual(second, first);
    assert.equal(second.pool.rec.driver, 'dir');
    assert.deepEqual(await host.list({ pool: Q }), []);
    await ok('zpool', ['destroy', Q]);
  });
});
