/**
 * Brands and the zone's life as SmartOS users see it: an lx zone boots its own init and is halted by
 * its own shutdown command; every zone has the platform's tools read-only under /native; reboot;
 * init ending on its own is recorded (exit_status, exit_timestamp); max_locked_memory is the zone's
 * RLIMIT_MEMLOCK; a zone that calls reboot(2) ends only itself.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import {
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
  existsSync,
  mkdirSync,
  chmodSync,
} from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { cli, createVm, zoneTestSkip, leaks, makeTestEnv, ok, teardown } from '../helpers/host.ts';
import { hardLimit } from '../../src/zones/spec.ts';

const skip = zoneTestSkip();

describe('brands and zone life', { skip, timeout: 180_000 }, () => {
  const env = makeTestEnv('br');
  const P = `${env.prefix}p`;
  process.env.ZONIX_SYSTEM_POOL = P;
  const mnt = join(env.dir, 'zones');
  let minimal = '';
  let lxImage = '';
  let altImage = '';
  const made: string[] = [];
  const payloadFile = (body: Record<string, unknown>) => {
    const f = join(env.dir, `${randomUUID()}.json`);
    writeFileSync(f, JSON.stringify(body));
    return f;
  };
  const create = async (body: Record<string, unknown>): Promise<string> => {
    const uuid = await createVm(env.dir, body);
    made.push(uuid);
    return uuid;
  };
  const get = async (uuid: string) => JSON.parse(await ok('vmadm', ['get', uuid])) as Record<string, unknown>;

  before(async () => {
    await ok('zpool', ['create', '-m', mnt, '-o', 'size=1G', P, join(env.dir, 'pool.img')]);
    await ok('imgadm', ['import', '-P', P, 'minimal']);
    minimal = (await ok('imgadm', ['list', '-P', P, '-H', '-o', 'uuid'])).trim();
    // An lx-dataset image: the minimal root with a distribution-style /sbin/shutdown that leaves a mark.
    const root = join(env.dir, 'lxroot');
    await ok('zfs', ['clone', `${P}/${minimal}@final`, `${P}/lxsrc`]);
    const src = join(mnt, 'lxsrc', 'root');
    mkdirSync(root);
    const shutdown = join(src, 'sbin', 'shutdown');
    writeFileSync(
      shutdown,
      '#!/bin/sh\necho "$@" > /var/shutdown-called\n[ "$1" = -r ] && exec /bin/busybox reboot\nexec /bin/busybox poweroff\n',
    );
    chmodSync(shutdown, 0o755);
    const tarball = join(env.dir, 'lx.tar.gz');
    execFileSync('tar', ['-C', src, '-czf', tarball, '.']);
    const data = readFileSync(tarball);
    lxImage = randomUUID();
    const manifest = join(env.dir, 'lx.json');
    writeFileSync(
      manifest,
      JSON.stringify({
        v: 2,
        uuid: lxImage,
        owner: '00000000-0000-0000-0000-000000000000',
        name: 'lx-busybox',
        version: '1.0.0',
        type: 'lx-dataset',
        os: 'linux',
        state: 'active',
        disabled: false,
        public: true,
        requirements: { brand: 'lx' },
        files: [
          {
            sha1: createHash('sha1').update(data).digest('hex'),
            size: data.length,
            compression: 'gzip',
          },
        ],
      }),
    );
    await ok('imgadm', ['install', '-P', P, '-m', manifest, '-f', tarball]);
    // The same root as a zone-dataset image with a mark of its own, to reprovision onto.
    writeFileSync(join(src, 'etc', 'alt-marker'), 'alt\n');
    const altTarball = join(env.dir, 'alt.tar.gz');
    execFileSync('tar', ['-C', src, '-czf', altTarball, '.']);
    const alt = readFileSync(altTarball);
    altImage = randomUUID();
    const altManifest = join(env.dir, 'alt.json');
    const m = JSON.parse(readFileSync(manifest, 'utf8')) as Record<string, unknown>;
    writeFileSync(
      altManifest,
      JSON.stringify({
        ...m,
        uuid: altImage,
        name: 'alt',
        type: 'zone-dataset',
        os: 'other',
        requirements: {},
        files: [
          { sha1: createHash('sha1').update(alt).digest('hex'), size: alt.length, compression: 'gzip' },
        ],
      }),
    );
    await ok('imgadm', ['install', '-P', P, '-m', altManifest, '-f', altTarball]);
    await ok('zfs', ['destroy', `${P}/lxsrc`]);
  });

  after(async () => {
    await teardown(env, [P], made);
    assert.deepEqual(leaks(env), []);
  });

  it('lx needs kernel_version and an lx image, boots its own init, and halts through its shutdown', async () => {
    let r = await cli('vmadm', ['create', '-f', payloadFile({ brand: 'lx', image_uuid: lxImage })]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /kernel_version/);
    r = await cli('vmadm', [
      'create',
      '-f',
      payloadFile({ brand: 'lx', image_uuid: minimal, kernel_version: '4.4.0' }),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /image/);
    const uuid = await create({ brand: 'lx', image_uuid: lxImage, kernel_version: '4.4.0', alias: 'lx1' });
    assert.match(await ok('vmadm', ['list', '-H', '-o', 'type,alias', `uuid=${uuid}`]), /^LX\s+lx1\n$/);
    assert.equal((await ok('zlogin', [uuid, 'cat', '/proc/1/cmdline'])).split('\0')[0], 'init');
    const r2 = await cli('vmadm', ['stop', uuid]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(readFileSync(join(mnt, uuid, 'root', 'var', 'shutdown-called'), 'utf8'), '-h now\n');
    const vm = await get(uuid);
    assert.equal(vm.state, 'stopped');
    assert.equal(typeof vm.exit_timestamp, 'string');
  });

  it('shows the platform tools read-only under /native', async () => {
    const uuid = await create({ brand: 'joyent-minimal', image_uuid: minimal, max_locked_memory: 4 });
    assert.match(await ok('zlogin', [uuid, 'cat', '/native/README']), /platform's own tools/);
    const r = await cli('zlogin', [uuid, 'touch', '/native/x']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /Read-only file system/);
    // max_locked_memory (MiB) is the zone's RLIMIT_MEMLOCK (KiB in ulimit), never above the host's.
    const host = hardLimit('Max locked memory');
    const want = Math.min(4 * 1024 * 1024, host ?? Infinity) / 1024;
    assert.equal(await ok('zlogin', [uuid, 'sh', '-c', 'ulimit -l']), `${want}\n`);
  });

  it('reboots: a new init and boot_timestamp, still running', async () => {
    const uuid = made[1]!;
    const before = await get(uuid);
    const r = await cli('vmadm', ['reboot', uuid]);
    assert.deepEqual([r.code, r.stderr], [0, `Successfully completed reboot for VM ${uuid}\n`]);
    const now = await get(uuid);
    assert.equal(now.state, 'running');
    assert.notEqual(now.pid, before.pid);
    assert.notEqual(now.boot_timestamp, before.boot_timestamp);
    const stopped = await create({ brand: 'joyent-minimal', image_uuid: minimal, autoboot: false });
    const r2 = await cli('vmadm', ['reboot', stopped]);
    assert.deepEqual([r2.code, r2.stderr], [1, 'Cannot reboot vm from state "stopped", must be "running"\n']);
    const r3 = await cli('vmadm', ['info', uuid]);
    assert.equal(r3.code, 1);
    assert.match(r3.stderr, /^Unable to get VM info for VM /);
  });

  it('reprovisions onto another image, keeping the VM and its manifest', async () => {
    const uuid = await create({
      brand: 'joyent-minimal',
      image_uuid: minimal,
      alias: 'rp',
      quota: 3,
      customer_metadata: { role: 'web' },
    });
    await ok('zlogin', [uuid, 'sh', '-c', 'echo old > /root/old-file']);
    let r = await cli('vmadm', ['reprovision', uuid, '-f', payloadFile({ image_uuid: lxImage })]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`^Failed to reprovision VM ${uuid}: image ${lxImage} is of type lx-dataset`),
    );
    r = await cli('vmadm', ['reprovision', uuid, '-f', payloadFile({})]);
    assert.deepEqual(
      [r.code, r.stderr],
      [1, `Failed to reprovision VM ${uuid}: payload is missing image_uuid\n`],
    );
    r = await cli('vmadm', ['reprovision', uuid, '-f', payloadFile({ image_uuid: altImage })]);
    assert.deepEqual([r.code, r.stderr], [0, `Successfully reprovisioned VM ${uuid}\n`]);
    const vm = await get(uuid);
    assert.equal(vm.image_uuid, altImage);
    assert.equal(vm.alias, 'rp');
    assert.deepEqual(vm.customer_metadata, { role: 'web' });
    assert.equal(vm.state, 'running');
    assert.equal(await ok('zlogin', [uuid, 'cat', '/etc/alt-marker']), 'alt\n');
    assert.notEqual((await cli('zlogin', [uuid, 'cat', '/root/old-file'])).code, 0);
    assert.equal(
      await ok('zfs', ['get', '-H', '-o', 'value', 'origin', `${P}/${uuid}`]),
      `${P}/${altImage}@final\n`,
    );
    assert.equal(await ok('zfs', ['get', '-H', '-o', 'value', 'quota', `${P}/${uuid}`]), '3G\n');
  });

  it("records init's end when it ends on its own; reboot(2) in a zone ends only that zone", async () => {
    const uuid = made[1]!;
    const { pid } = await get(uuid);
    // The zone's init must be PID 1 of its own PID namespace for reboot(2) to be contained.
    assert.notEqual(readlinkSync(`/proc/${String(pid)}/ns/pid`), readlinkSync('/proc/self/ns/pid'));
    const r = await cli('zlogin', [uuid, 'busybox', 'reboot', '-f']);
    assert.ok(r.code === 0 || r.code === 137 || r.code === 255, `${r.code} ${r.stderr}`);
    let vm = await get(uuid);
    for (let i = 0; i < 100 && vm.state !== 'stopped'; i++) {
      await sleep(50);
      vm = await get(uuid);
    }
    assert.equal(vm.state, 'stopped');
    assert.equal(typeof vm.exit_status, 'number');
    assert.ok(Date.now() - Date.parse(String(vm.exit_timestamp)) < 60_000);
    assert.ok(statSync('/proc/1').isDirectory() && existsSync(mnt));
    assert.equal((await get(made[2]!)).state, 'stopped');
    assert.equal((await get(made[3]!)).state, 'running');
  });
});
