/**
 * The jail of a hardware VM: a process in a kvm VM's zone (its namespaces and root, no capabilities,
 * NoNewPrivs, as QEMU runs there) reads its own disk, and cannot see or reach another VM's disk or
 * the host's files, nor make device nodes or mounts to get at them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  cli,
  createVm,
  leaks,
  makeTestEnv,
  makeZonePool,
  stopMetadata,
  teardown,
  zoneTestSkip,
} from '../helpers/host.ts';

const skip =
  zoneTestSkip() ||
  (existsSync('/usr/bin/qemu-system-x86_64') ? false : 'qemu missing') ||
  (existsSync('/usr/bin/nsenter') && existsSync('/usr/bin/setpriv') ? false : 'nsenter/setpriv missing');

describe('kvm brand: the jail around QEMU', { skip, timeout: 300_000 }, () => {
  const env = makeTestEnv('kj');
  const P = `${env.prefix}p`;
  process.env.ZONIX_SYSTEM_POOL = P;
  const uuids: string[] = [];
  let a = '';
  let b = '';
  let bFile = '';
  const marker = join(env.dir, 'host-secret');
  const SECRET = 'zonix-host-secret-0123456789';
  const DISK_MARK = 'zonix-disk-of-b-9876543210';

  const pidOf = (u: string) => {
    const got = JSON.parse(spawnSync(join(process.cwd(), 'bin/vmadm'), ['get', u]).stdout.toString()) as {
      pid?: number;
    };
    return Number(got.pid);
  };

  /** Run `script` with sh in A's zone: its namespaces and root, uid 0 without any capability. */
  const inZone = (script: string) => {
    const pid = pidOf(a);
    assert.ok(pid > 0, 'A runs');
    const r = spawnSync(
      'nsenter',
      [
        ...['-t', String(pid), '-m', '-p', '-n', '-i', '-u', '-r', '-w'],
        ...['setpriv', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs'],
        ...['/usr/bin/sh', '-c', script],
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  before(async () => {
    await makeZonePool(env, P);
    writeFileSync(marker, SECRET);
    const vm = { brand: 'kvm', ram: 64, vcpus: 1, disks: [{ boot: true, size: 16, model: 'virtio' }] };
    a = await createVm(env.dir, { ...vm, alias: 'jail-a' });
    uuids.push(a);
    b = await createVm(env.dir, { ...vm, alias: 'jail-b' });
    uuids.push(b);
    // A marker in B's disk, written through its backing file on the host.
    const { openPool } = await import('../../src/storage/index.ts');
    bFile = openPool(P).volumeFile(`${P}/${b}/disk0`);
    const fd = openSync(bFile, 'r+');
    writeSync(fd, DISK_MARK, 0);
    closeSync(fd);
  });

  after(async () => {
    for (const u of uuids) await cli('vmadm', ['delete', u]);
    await stopMetadata(env);
    await teardown(env, [P], uuids);
    assert.deepEqual(leaks(env), []);
  });

  it('runs the probe as the zone runs QEMU: no capabilities, NoNewPrivs, the zone root', () => {
    const r = inZone('grep -E "^(CapEff|CapBnd|NoNewPrivs):" /proc/self/status; readlink /proc/1/exe');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^CapEff:\s+0+$/m);
    assert.match(r.stdout, /^CapBnd:\s+0+$/m);
    assert.match(r.stdout, /^NoNewPrivs:\s+1$/m);
    // PID 1 of the zone's PID namespace is QEMU itself.
    assert.match(r.stdout, /qemu-system-x86_64/);
  });

  it('reads its own disk (the probe is not blind)', () => {
    const own = `/dev/zvol/rdsk/${P}/${a}/disk0`;
    const r = inZone(`test -r ${own} && dd if=${own} bs=512 count=1 2>/dev/null | wc -c`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '512');
  });

  it("cannot see or reach the other VM's disk", () => {
    const other = `/dev/zvol/rdsk/${P}/${b}/disk0`;
    // Control: B's own zone has it there, marker and all (so the paths below are the right ones).
    assert.ok(
      readFileSync(`/proc/${pidOf(b)}/root${other}`)
        .subarray(0, DISK_MARK.length)
        .toString() === DISK_MARK,
    );
    for (const path of [other, bFile, `/proc/1/root${other}`, `/proc/1/root${bFile}`]) {
      const r = inZone(`cat ${path}`);
      assert.notEqual(r.code, 0, `${path} readable in the zone`);
      assert.match(r.stderr, /No such file or directory/, path);
      assert.ok(!r.stdout.includes(DISK_MARK));
    }
    // Nowhere in the zone's file tree is B's disk, by name or by content of files that look like disks.
    const r = inZone(
      `find / -xdev -name disk0 2>/dev/null; grep -rl ${DISK_MARK} /dev /tmp 2>/dev/null; echo done`,
    );
    assert.ok(!r.stdout.includes(b), r.stdout);
    assert.match(r.stdout, /done\s*$/);
    assert.ok(!r.stdout.split('\n').some((l) => l && l !== 'done' && !l.includes(a)), r.stdout);
  });

  it("cannot read the host's files", () => {
    const hostShadow = readFileSync('/etc/shadow', 'utf8');
    for (const path of [marker, `/proc/1/root${marker}`, join(env.dir, 'zones'), '/etc/shadow', '/root']) {
      const r = inZone(`cat ${path} 2>&1 || ls ${path} 2>&1; exit 0`);
      assert.ok(!r.stdout.includes(SECRET), `${path}: the host's secret`);
      assert.ok(!r.stdout.includes(hostShadow.split('\n')[0]!), `${path}: the host's shadow`);
      assert.match(r.stdout, /No such file or directory/, path);
    }
    // /usr is the host's, read-only: nothing can be written there.
    const w = inZone('echo x > /usr/zonix-jail-probe');
    assert.notEqual(w.code, 0);
    assert.match(w.stderr, /Read-only file system|Permission denied/);
    assert.ok(!existsSync('/usr/zonix-jail-probe'));
  });

  it('comes back with the host when its QEMU died (autoboot), in a jail again', async () => {
    const before = pidOf(a);
    process.kill(before, 'SIGKILL');
    for (let i = 0; i < 100 && spawnSync('kill', ['-0', String(before)]).status === 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    const boot = await cli('zonix', ['boot', '-q']);
    assert.equal(boot.code, 0, boot.stderr);
    assert.match(boot.stderr, new RegExp(`started VM ${a}`));
    const after = pidOf(a);
    assert.ok(after > 0 && after !== before, 'a new QEMU');
    assert.match(readFileSync(`/proc/${after}/status`, 'utf8'), /^CapEff:\s+0+$/m);
  });

  it('cannot make device nodes or mounts to get at other disks', () => {
    const mk = inZone('mknod /tmp/sda b 8 0');
    assert.notEqual(mk.code, 0);
    assert.match(mk.stderr, /Operation not permitted/);
    const mnt = inZone('mkdir -p /tmp/m && mount -t tmpfs none /tmp/m');
    assert.notEqual(mnt.code, 0);
    assert.match(mnt.stderr, /permission denied|must be superuser|Operation not permitted/i);
    const cg = inZone('echo 1 > /sys/fs/cgroup/cgroup.procs 2>&1 || echo refused');
    assert.match(cg.stdout, /refused|No such file|Read-only/);
  });
});
