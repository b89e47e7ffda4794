/**
 * imgadm create for real: a VM made from minimal is changed, stopped and made into an image; the image
 * installs (into the same pool and another one) and a new VM made from it has the change. Incremental
 * images install where their origin is; running VMs and bad manifests leave nothing, and what a killed
 * create left is removed by the next one.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, leaks, makeTestEnv, ok, teardown, zoneTestSkip, ROOT } from '../helpers/host.ts';

const skip = zoneTestSkip();

describe('imgadm create', { skip, timeout: 180_000 }, () => {
  const env = makeTestEnv('ic');
  const P = `${env.prefix}p`;
  const Q = `${env.prefix}q`;
  // The test's pool is this host's system pool: vmadm and zlogin work on it.
  process.env.ZONIX_SYSTEM_POOL = P;
  const mnt = join(env.dir, 'zones');
  const qmnt = join(env.dir, 'q');
  const out = join(env.dir, 'out');
  let minimal = '';
  let vm1 = '';
  let vm2 = '';
  const vms: string[] = [];

  const sha1 = (file: string) => createHash('sha1').update(readFileSync(file)).digest('hex');
  const all = async (pool: string) =>
    (await ok('zfs', ['list', '-H', '-o', 'name', '-t', 'all', '-r', pool])).trim().split('\n');
  const leftovers = async () => (await all(P)).filter((n) => n.includes('imgadm-create'));
  const vmFrom = async (image: string, autoboot = true) => {
    const f = join(env.dir, `${randomUUID()}.json`);
    writeFileSync(f, JSON.stringify({ brand: 'joyent-minimal', image_uuid: image, autoboot }));
    const r = await cli('vmadm', ['create', '-f', f]);
    assert.equal(r.code, 0, r.stderr);
    const uuid = /^Successfully created VM ([0-9a-f-]{36})\n$/.exec(r.stderr)![1]!;
    vms.push(uuid);
    return uuid;
  };
  const readManifest = (prefix: string) =>
    JSON.parse(readFileSync(`${prefix}.imgmanifest`, 'utf8')) as Record<string, unknown> & {
      uuid: string;
      files: { sha1: string; size: number; compression: string }[];
    };

  before(async () => {
    mkdirSync(out);
    await ok('zpool', ['create', '-m', mnt, '-o', 'size=1G', P, join(env.dir, 'p.img')]);
    await ok('zpool', ['create', '-m', qmnt, '-o', 'size=1G', Q, join(env.dir, 'q.img')]);
    await ok('imgadm', ['import', '-P', P, 'minimal']);
    minimal = (await ok('imgadm', ['list', '-P', P, '-H', '-o', 'uuid'])).trim();
    vm1 = await vmFrom(minimal);
    await ok('zlogin', [vm1, 'sh', '-c', 'echo hello > /marker']);
  });

  after(async () => {
    const { OciRuntime } = await import('../../src/zones/index.ts');
    for (const uuid of vms) await new OciRuntime('runc').delete(uuid, { force: true }).catch(() => undefined);
    await teardown(env, [P, Q]);
    assert.deepEqual(leaks(env), []);
  });

  it('refuses a running VM, a missing name or version, and -s, writing nothing', async () => {
    const before = await all(P);
    let r = await cli('imgadm', ['create', '-o', join(out, 'img'), vm1, 'name=myimg', 'version=1.0.0']);
    assert.deepEqual(
      [r.code, r.stdout, r.stderr],
      [1, '', `imgadm: error (VmNotStopped): vm "${vm1}" is not stopped\n`],
    );
    await ok('vmadm', ['stop', vm1]);
    r = await cli('imgadm', ['create', '-o', join(out, 'img'), vm1, 'version=1.0.0']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'imgadm: error (ManifestValidation): invalid manifest: name (MissingParameter)\n');
    r = await cli('imgadm', ['create', vm1]);
    assert.equal(
      r.stderr,
      'imgadm: error (ManifestValidation): invalid manifest: name (MissingParameter), version (MissingParameter)\n',
    );
    const nobody = randomUUID();
    r = await cli('imgadm', ['create', nobody, 'name=a', 'version=1']);
    assert.deepEqual([r.code, r.stderr], [1, `imgadm: error (VmNotFound): vm "${nobody}" was not found\n`]);
    r = await cli('imgadm', ['create', 'nope']);
    assert.deepEqual([r.code, r.stderr], [1, 'imgadm: error (InvalidUUID): invalid uuid: "nope"\n']);
    r = await cli('imgadm', ['create', '-i', vm1, 'name']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^imgadm: error \(Usage\): invalid manifest field arg "name": must match/);
    r = await cli('imgadm', ['create', '-s', '/bin/true', vm1, 'name=a', 'version=1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^imgadm: error \(NotSupported\): -s \(prepare-image script\) is not supported/);
    // An output folder that does not exist: the error, and the VM's snapshot and clone are gone again.
    r = await cli('imgadm', ['create', '-o', join(out, 'none', 'img'), vm1, 'name=a', 'version=1']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^imgadm: error \(InternalError\): error writing image file ".*\/none\/img\.zfs": ENOENT/,
    );
    assert.deepEqual(readdirSync(out), []);
    assert.deepEqual(await all(P), before);
  });

  let full = '';
  it('makes an image of the stopped VM: the zone root without its config, with a SmartOS manifest', async () => {
    const prefix = join(out, 'img');
    const r = await cli('imgadm', ['create', '-c', 'gzip', '-o', prefix, vm1, 'name=myimg', 'version=1.0.0']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const m = readManifest(prefix);
    full = m.uuid;
    assert.notEqual(full, minimal);
    const lines = r.stdout.split('\n');
    assert.match(lines[0]!, new RegExp(`^Inheriting from origin image ${minimal} \\(minimal \\S+\\)$`));
    assert.equal(lines[1], 'Manifest:');
    assert.deepEqual(lines.slice(-4), [
      `Snapshotting to "${P}/${vm1}@imgadm-create-${full}"`,
      `Sending image file to "${prefix}.zfs.gz"`,
      `Saving manifest to "${prefix}.imgmanifest"`,
      '',
    ]);
    assert.equal(m.v, 2);
    assert.equal(m.name, 'myimg');
    assert.equal(m.version, '1.0.0');
    assert.equal(m.type, 'zone-dataset');
    assert.equal(m.os, 'other');
    assert.equal(m.origin, undefined);
    assert.match(String(m.published_at), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    // SmartOS images need at least the platform they were made on.
    const req = m.requirements as { min_platform: Record<string, string> };
    assert.match(req.min_platform['7.0']!, /^\d{8}T\d{6}Z$/);
    assert.deepEqual(m.files, [
      { sha1: sha1(`${prefix}.zfs.gz`), size: statSync(`${prefix}.zfs.gz`).size, compression: 'gzip' },
    ]);
    assert.deepEqual(readdirSync(out).sort(), ['img.imgmanifest', 'img.zfs.gz']);
    assert.deepEqual(await leftovers(), []);

    const inst = await ok('imgadm', [
      'install',
      '-P',
      P,
      '-m',
      `${prefix}.imgmanifest`,
      '-f',
      `${prefix}.zfs.gz`,
    ]);
    assert.equal(inst, `Installed image ${full} (myimg@1.0.0)\n`);
    assert.deepEqual(readdirSync(join(mnt, full)), ['root']);
    assert.equal(readFileSync(join(mnt, full, 'root', 'marker'), 'utf8'), 'hello\n');
    vm2 = await vmFrom(full);
    assert.equal(await ok('zlogin', [vm2, 'cat', '/marker']), 'hello\n');
    // The VM made from the new image has its own config, and the image none.
    const config = JSON.parse(readFileSync(join(mnt, vm2, 'config', 'vm.json'), 'utf8')) as {
      image_uuid: string;
    };
    assert.equal(config.image_uuid, full);
  });

  it('-i makes an incremental image that installs where its origin is installed', async () => {
    await ok('zlogin', [vm2, 'sh', '-c', 'echo two > /marker2']);
    await ok('vmadm', ['stop', vm2]);
    const prefix = join(out, 'inc');
    const r = await cli('imgadm', [
      'create',
      '-i',
      '-c',
      'xz',
      '-o',
      prefix,
      vm2,
      'name=myinc',
      'version=2.0.0',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const m = readManifest(prefix);
    assert.equal(m.origin, full);
    assert.equal(m.files[0]!.compression, 'xz');
    assert.ok(
      m.files[0]!.size < statSync(join(out, 'img.zfs.gz')).size / 20,
      'much smaller than the full image',
    );
    const args = ['-m', `${prefix}.imgmanifest`, '-f', `${prefix}.zfs.xz`];

    // Another pool: refused while the origin is missing (and nothing is left), then installed on it.
    const q0 = await all(Q);
    const missing = await cli('imgadm', ['install', '-P', Q, ...args]);
    assert.equal(missing.code, 3);
    assert.match(
      missing.stderr,
      new RegExp(`^imgadm: error \\(OriginNotInstalled\\): origin image "${full}"`),
    );
    assert.deepEqual(await all(Q), q0);
    await ok('imgadm', [
      'install',
      '-P',
      Q,
      '-m',
      join(out, 'img.imgmanifest'),
      '-f',
      join(out, 'img.zfs.gz'),
    ]);
    assert.equal(
      await ok('imgadm', ['install', '-P', Q, ...args]),
      `Installed image ${m.uuid} (myinc@2.0.0)\n`,
    );
    assert.equal(
      await ok('zfs', ['get', '-H', '-o', 'value', 'origin', `${Q}/${m.uuid}`]),
      `${Q}/${full}@final\n`,
    );
    assert.equal(readFileSync(join(qmnt, m.uuid, 'root', 'marker2'), 'utf8'), 'two\n');
    assert.equal(readFileSync(join(qmnt, m.uuid, 'root', 'marker'), 'utf8'), 'hello\n');

    // The same pool: a VM made from it has both changes; the origin cannot go while it is there.
    await ok('imgadm', ['install', '-P', P, ...args]);
    const vm3 = await vmFrom(m.uuid);
    assert.equal(await ok('zlogin', [vm3, 'cat', '/marker', '/marker2']), 'hello\ntwo\n');
    const del = await cli('imgadm', ['delete', '-P', P, full]);
    assert.equal(del.code, 1);
    assert.match(del.stderr, /ImageHasDependentClones/);
    await ok('vmadm', ['delete', vm3]);
  });

  it('a create killed midway leaves its snapshot and clone only until the next create', async () => {
    // Enough incompressible data that xz is still busy when the process is killed.
    await ok('vmadm', ['start', vm1]);
    await ok('zlogin', [vm1, 'dd', 'if=/dev/urandom', 'of=/big', 'bs=1M', 'count=24']);
    await ok('vmadm', ['stop', vm1]);
    const child = spawn(
      join(ROOT, 'bin', 'imgadm'),
      ['create', '-c', 'xz', '-o', join(out, 'killed'), vm1, 'name=k', 'version=1'],
      { stdio: 'ignore' },
    );
    const closed = new Promise((r) => child.on('close', r));
    const killed = () => readdirSync(out).filter((f) => f.includes('killed'));
    // Killed while it writes the image file (it has its snapshot and clone by then).
    for (let i = 0; i < 1000 && killed().length === 0 && child.exitCode === null; i++) await sleep(5);
    child.kill('SIGKILL');
    await closed;
    assert.match(killed().join(' '), /^\.killed\.zfs\.xz\.\d+\.partial$/);
    // The VM's snapshot, and the clone with its @final.
    const left = await leftovers();
    assert.equal(left.length, 3, left.join(' '));
    assert.ok(left.some((n) => n.startsWith(`${P}/${vm1}@imgadm-create-`)));
    // The next create on the pool (even one that fails) removes them; then the VM can go.
    const r = await cli('imgadm', ['create', vm1, 'version=1']);
    assert.equal(r.code, 1);
    assert.deepEqual(await leftovers(), []);
    assert.deepEqual(killed(), []);
    assert.deepEqual(await cli('vmadm', ['delete', vm1]).then((x) => [x.code, x.stderr]), [
      0,
      `Successfully deleted VM ${vm1}\n`,
    ]);
    await ok('vmadm', ['delete', vm2]);
  });
});
