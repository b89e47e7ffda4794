/**
 * The vmadm core on a real zone: start, get, list, kill, stop and delete, with SmartOS's answers
 * for a VM already in the asked-for state.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cli, zoneTestSkip, leaks, makeTestEnv, ok, teardown } from '../helpers/host.ts';

const skip = zoneTestSkip();

describe('vmadm core', { skip, timeout: 120_000 }, () => {
  const env = makeTestEnv('vc');
  const P = `${env.prefix}p`;
  const mnt = join(env.dir, 'mnt');
  const uuid = randomUUID();
  let core: import('../../src/vm/core.ts').VmCore;

  before(async () => {
    await ok('zpool', ['create', '-m', mnt, '-o', 'size=512M', P, join(env.dir, 'pool.img')]);
    await ok('imgadm', ['import', '-P', P, 'minimal']);
    const image = (await ok('imgadm', ['list', '-P', P, '-H', '-o', 'uuid'])).trim();
    const { openPool } = await import('../../src/storage/index.ts');
    const { VmCore } = await import('../../src/vm/core.ts');
    const { VM_PROP } = await import('../../src/vm/store.ts');
    core = new VmCore(openPool(P));
    await core.pool.clone(`${P}/${image}@final`, `${P}/${uuid}`, { props: { [VM_PROP]: 'creating' } });
    await core.store.write({
      uuid,
      brand: 'joyent-minimal',
      alias: 'core1',
      max_physical_memory: 64,
      autoboot: false,
    });
    await core.store.setPhase(uuid, 'ready');
  });

  after(async () => {
    await core?.runtime.delete(uuid, { force: true }).catch(() => undefined);
    await teardown(env, [P]);
    assert.deepEqual(leaks(env), []);
  });

  it('starts a stopped VM; starting it again is not an error', async () => {
    assert.equal((await core.get(uuid)).state, 'stopped');
    await core.start(uuid);
    const vm = await core.get(uuid);
    assert.equal(vm.state, 'running');
    assert.equal(vm.zone_state, 'running');
    assert.ok(typeof vm.pid === 'number' && vm.pid > 1);
    assert.equal(vm.autoboot, true);
    assert.equal(vm.zonepath, join(mnt, uuid));
    assert.equal(vm.zfs_filesystem, `${P}/${uuid}`);
    await assert.rejects(core.start(uuid), {
      code: 'EALREADYRUNNING',
      exitCode: 0,
      message: `VM ${uuid} is already 'running'`,
    });
    assert.deepEqual(
      (await core.list()).map((v) => [v.uuid, v.state]),
      [[uuid, 'running']],
    );
  });

  it('kill signals init; stop halts it and records how it ended', async () => {
    await core.kill(uuid, 'SIGHUP');
    assert.equal((await core.get(uuid)).state, 'running');
    await core.stop(uuid, { timeoutMs: 10_000 });
    const vm = await core.get(uuid);
    assert.equal(vm.state, 'stopped');
    assert.equal(vm.exit_status, 0);
    assert.equal(vm.autoboot, false);
    assert.equal(vm.pid, undefined);
    await assert.rejects(core.stop(uuid), {
      code: 'ENOTRUNNING',
      exitCode: 0,
      message: `VM ${uuid} is already not 'running' (currently: stopped)`,
    });
    await assert.rejects(core.kill(uuid), { message: `Cannot find running init PID for VM ${uuid}` });
  });

  it('zlogin runs a command inside the zone and passes its exit status through', async () => {
    await core.start(uuid);
    const r = await cli('zlogin', [uuid, 'sh', '-c', 'echo in-zone $(hostname); exit 7']);
    assert.equal(r.code, 7);
    assert.equal(r.stdout, `in-zone ${uuid}\n`);
    const ps = await cli('zlogin', [uuid, 'ps', '-o', 'pid,comm']);
    assert.match(ps.stdout, /^\s*1 init$/m);
    const none = await cli('zlogin', [randomUUID(), 'true']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /No such zone configured/);
  });

  it('delete removes the VM and its dataset; an unknown VM says so as zoneadm does', async () => {
    await core.delete(uuid);
    assert.equal(existsSync(join(mnt, uuid)), false);
    await assert.rejects(core.get(uuid), {
      exitCode: 1,
      message: `zoneadm: ${uuid}: No such zone configured`,
    });
    assert.deepEqual(await core.list(), []);
  });
});
