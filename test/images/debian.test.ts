/**
 * The built-in debian-12 image, built for real with debootstrap (about 90 s and 80 MiB from the
 * host's Debian mirror), then booted as an lx zone. Outside the default test run: ZONIX_LONG_TESTS=1 npm test runs it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { cli, createVm, isRoot, leaks, makeTestEnv, ok, teardown } from '../helpers/host.ts';

const skip = !isRoot
  ? 'needs root'
  : !process.env.ZONIX_LONG_TESTS
    ? 'long test: set ZONIX_LONG_TESTS=1'
    : false;

describe('the debian-12 built-in image', { skip }, () => {
  const env = makeTestEnv('db');
  const P = `${env.prefix}p`;
  const mnt = join(env.dir, 'mnt');
  process.env.ZONIX_SYSTEM_POOL = P;
  let image = '';
  let vm = '';

  before(async () => {
    await ok('zpool', ['create', '-m', mnt, '-o', 'size=2G', P, join(env.dir, 'pool.img')]);
  });

  after(async () => {
    if (vm) await cli('vmadm', ['delete', vm]);
    await teardown(env, [P]);
    assert.deepEqual(leaks(env), []);
  });

  it('builds with debootstrap into an lx-dataset image with its own init and its package list', async () => {
    const out = await ok('imgadm', ['import', '-P', P, 'debian-12']);
    assert.match(out, /^Imported image \S+ \(debian-12@12-\d+\) from "builtin"\n$/);
    const uuid = out.split(' ')[2]!;
    image = uuid;
    const img = JSON.parse(await ok('imgadm', ['get', '-P', P, uuid])) as {
      manifest: { type: string; tags: Record<string, unknown> };
    };
    assert.equal(img.manifest.type, 'lx-dataset');
    const packages = img.manifest.tags['zonix:packages'] as string[];
    assert.ok(packages.some((p) => p.startsWith('sysvinit-core=')));
    assert.ok(packages.some((p) => p.startsWith('apt=')));
    const root = join(mnt, uuid, 'root');
    assert.ok(existsSync(join(root, 'sbin/init')));
    assert.match(readFileSync(join(root, 'etc/debian_version'), 'utf8'), /^12\./);
    const r = spawnSync('chroot', [root, '/bin/bash', '-c', 'dpkg -l | grep -c ^ii'], { encoding: 'utf8' });
    assert.equal(Number(r.stdout.trim()), packages.length);
  });

  it('boots as an lx zone with its own init (sysvinit), and halts through its own shutdown', async () => {
    vm = await createVm(env.dir, { brand: 'lx', image_uuid: image, kernel_version: '4.4.0', alias: 'deb' });
    // sysvinit runs its rc scripts to runlevel 2; then `runlevel` answers.
    let level = '';
    for (let i = 0; i < 100 && !/ 2$/.test(level); i++) {
      await sleep(200);
      level = (await cli('zlogin', [vm, '/sbin/runlevel'])).stdout.trim();
    }
    assert.match(level, / 2$/);
    assert.equal((await ok('zlogin', [vm, 'cat', '/proc/1/comm'])).trim(), 'init');
    assert.match(await ok('zlogin', [vm, 'cat', '/etc/debian_version']), /^12\./);
    const t0 = Date.now();
    const stop = await cli('vmadm', ['stop', vm]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.ok(Date.now() - t0 < 30_000, `stop took ${Date.now() - t0} ms`);
    const got = JSON.parse(await ok('vmadm', ['get', vm])) as { state: string; exit_status: number };
    assert.deepEqual([got.state, got.exit_status], ['stopped', 0]);
  });
});
