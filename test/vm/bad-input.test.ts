/**
 * Bad input to vmadm: unknown UUIDs, wrong states, a missing image, an image of the wrong type for
 * the brand, a full pool. Each gets a clear message and SmartOS's exit code, and changes nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, zoneTestSkip, leaks, makeTestEnv, ok, teardown } from '../helpers/host.ts';

const skip = zoneTestSkip();

describe('vmadm bad input', { skip, timeout: 180_000 }, () => {
  const env = makeTestEnv('bi');
  const P = `${env.prefix}p`;
  process.env.ZONIX_SYSTEM_POOL = P;
  const mnt = join(env.dir, 'zones');
  let image = '';
  let vm = '';
  const payload = (extra: Record<string, unknown>) => {
    const f = join(env.dir, `${randomUUID()}.json`);
    writeFileSync(f, JSON.stringify({ brand: 'joyent-minimal', image_uuid: image, ...extra }));
    return f;
  };
  /** Everything a command could have changed: datasets with properties, and every VM as get shows it. */
  const state = async () =>
    (await ok('zfs', ['get', '-H', '-r', '-o', 'name,property,value', 'all', P])).replace(
      /^\S+\s+(used|available|referenced|usedbydataset|logicalused|logicalreferenced|written)\s.*\n/gm,
      '',
    ) + (await ok('vmadm', ['lookup', '-j']));

  before(async () => {
    await ok('zpool', ['create', '-m', mnt, '-o', 'size=400M', P, join(env.dir, 'pool.img')]);
    await ok('imgadm', ['import', '-P', P, 'minimal']);
    image = (await ok('imgadm', ['list', '-P', P, '-H', '-o', 'uuid'])).trim();
    vm = randomUUID();
    await ok('vmadm', ['create', '-f', payload({ uuid: vm, autoboot: false, quota: 0 })]);
  });

  after(async () => {
    await cli('vmadm', ['delete', vm]);
    await teardown(env, [P]);
    assert.deepEqual(leaks(env), []);
  });

  it('unknown UUIDs: the zoneadm message, exit 1, for every command that takes one', async () => {
    const before = await state();
    const nobody = randomUUID();
    for (const args of [
      ['get', nobody],
      ['start', nobody],
      ['stop', nobody],
      ['reboot', nobody],
      ['kill', nobody],
      ['delete', nobody],
      ['update', nobody, 'alias=x'],
      ['info', nobody],
    ]) {
      const r = await cli('vmadm', args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`${nobody}: No such zone configured`), args.join(' '));
    }
    assert.equal(await state(), before);
  });

  it('wrong states: SmartOS messages; already in the asked-for state exits 0', async () => {
    const before = await state();
    let r = await cli('vmadm', ['stop', vm]);
    assert.deepEqual([r.code, r.stderr], [0, `VM ${vm} is already not 'running' (currently: stopped)\n`]);
    r = await cli('vmadm', ['reboot', vm]);
    assert.deepEqual([r.code, r.stderr], [1, 'Cannot reboot vm from state "stopped", must be "running"\n']);
    r = await cli('vmadm', ['kill', vm]);
    assert.deepEqual([r.code, r.stderr], [1, `Cannot find running init PID for VM ${vm}\n`]);
    r = await cli('vmadm', ['stop', '-t', '5', vm]);
    assert.deepEqual(
      [r.code, r.stderr],
      [1, 'Timeout option is only supported for bhyve, KVM and docker containers.\n'],
    );
    assert.equal(await state(), before);
  });

  it('a missing image, or one of the wrong type for the brand: invalid image_uuid, nothing made', async () => {
    const before = await state();
    for (const p of [
      payload({ image_uuid: randomUUID() }),
      payload({ brand: 'lx', kernel_version: '4.4.0' }),
    ]) {
      const r = await cli('vmadm', ['create', '-f', p]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /image_uuid/);
    }
    const r = await cli('vmadm', ['create', '-f', payload({ brand: 'joyent' }), '-x']);
    assert.equal(r.code, 2);
    assert.equal(await state(), before);
  });

  it('a full pool: create fails saying so and leaves nothing; the pool recovers once space is freed', async (t) => {
    // Fill the pool through the stopped VM's root, as a zone filling its disk would.
    const fill = join(mnt, vm, 'root', 'fill');
    const { spawnSync } = await import('node:child_process');
    spawnSync('dd', ['if=/dev/urandom', `of=${fill}`, 'bs=1M', 'count=1000'], { stdio: 'ignore' });
    spawnSync('sync');
    const before = await state();
    const uuid = randomUUID();
    const r = await cli('vmadm', ['create', '-f', payload({ uuid })]);
    t.diagnostic(`create on the full pool: exit ${r.code} ${r.stderr.trim()}`);
    if (r.code === 0) {
      // btrfs may still fit a clone and a manifest in its metadata space: then the VM is whole.
      const got = JSON.parse(await ok('vmadm', ['get', uuid])) as { state: string };
      assert.ok(['running', 'stopped'].includes(got.state));
      await ok('vmadm', ['delete', uuid]);
    } else {
      assert.equal(r.code, 1);
      assert.match(r.stderr, /space|ENOSPC/i, r.stderr);
      assert.equal(await state(), before);
    }
    const { rmSync } = await import('node:fs');
    rmSync(fill);
    await ok('vmadm', ['update', vm, 'alias=after-full']);
    const after = JSON.parse(await ok('vmadm', ['get', vm])) as { alias: string };
    assert.equal(after.alias, 'after-full');
  });
});
