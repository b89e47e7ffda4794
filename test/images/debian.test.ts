/**
 * The built-in debian-12 image, built for real with debootstrap (about 90 s and 80 MiB from the
 * host's Debian mirror). Outside the default test run: ZONIX_LONG_TESTS=1 npm test runs it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRoot, leaks, makeTestEnv, ok, teardown } from '../helpers/host.ts';

const skip = !isRoot
  ? 'needs root'
  : !process.env.ZONIX_LONG_TESTS
    ? 'long test: set ZONIX_LONG_TESTS=1'
    : false;

describe('the debian-12 built-in image', { skip }, () => {
  const env = makeTestEnv('db');
  const P = `${env.prefix}p`;
  const mnt = join(env.dir, 'mnt');

  before(async () => {
    await ok('zpool', ['create', '-m', mnt, '-o', 'size=2G', P, join(env.dir, 'pool.img')]);
  });

  after(async () => {
    await teardown(env, [P]);
    assert.deepEqual(leaks(env), []);
  });

  it('builds with debootstrap into an lx-dataset image with its own init and its package list', async () => {
    const out = await ok('imgadm', ['import', '-P', P, 'debian-12']);
    assert.match(out, /^Imported image \S+ \(debian-12@12-\d+\) from "builtin"\n$/);
    const uuid = out.split(' ')[2]!;
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
});
