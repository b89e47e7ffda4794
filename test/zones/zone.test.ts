/**
 * A real zone from the minimal image: busybox init as PID 1 under runc and conmon, its resource
 * limits visible from inside, the host out of sight, and nothing left once it is deleted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { zoneTestSkip, leaks, makeTestEnv, ok, teardown } from '../helpers/host.ts';

const skip = zoneTestSkip();

describe('a zone under runc and conmon', { skip, timeout: 120_000 }, () => {
  const env = makeTestEnv('zn');
  const P = `${env.prefix}p`;
  const id = `${env.prefix}-zone`;
  const mnt = join(env.dir, 'mnt');
  let runtime: import('../../src/zones/index.ts').OciRuntime;
  let root = '';

  const inZone = (...args: string[]) =>
    spawnSync('runc', ['--root', join(env.dir, 'run', 'runc'), 'exec', id, ...args], { encoding: 'utf8' });

  before(async () => {
    await ok('zpool', ['create', '-m', mnt, '-o', 'size=512M', P, join(env.dir, 'pool.img')]);
    await ok('imgadm', ['import', '-P', P, 'minimal']);
    const uuid = (await ok('imgadm', ['list', '-P', P, '-H', '-o', 'uuid'])).trim();
    await ok('zfs', ['clone', `${P}/${uuid}@final`, `${P}/${id}`]);
    root = join(mnt, id, 'root');
    const { OciRuntime, buildOciSpec } = await import('../../src/zones/index.ts');
    runtime = new OciRuntime('runc');
    const spec = buildOciSpec({
      id,
      rootfs: root,
      hostname: 'zone1',
      cgroupsPath: `/zonix-${env.prefix}/${id}`,
      resources: { memoryBytes: 128 << 20, swapBytes: 256 << 20, cpuCap: 50, cpuShares: 200, pids: 100 },
      tmpfsBytes: 64 << 20,
    });
    await runtime.create(id, spec);
    await runtime.start(id);
  });

  after(async () => {
    await runtime?.delete(id, { force: true }).catch(() => undefined);
    await teardown(env, [P]);
    assert.deepEqual(leaks(env), []);
  });

  it('runs busybox init as PID 1, alone in its pid namespace, with its own hostname', async () => {
    const st = await runtime.state(id);
    assert.equal(st?.status, 'running');
    assert.ok(st.pid > 1);
    const ps = inZone('ps', '-o', 'pid,comm');
    assert.equal(ps.status, 0, ps.stderr);
    const procs = ps.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/));
    assert.deepEqual(procs[0], ['1', 'init']);
    assert.ok(procs.length <= 3, ps.stdout);
    assert.equal(inZone('hostname').stdout, 'zone1\n');
  });

  it('shows its resource limits from inside', () => {
    const read = (f: string) => inZone('cat', f).stdout.trim();
    assert.equal(read('/sys/fs/cgroup/memory/memory.limit_in_bytes'), String(128 << 20));
    assert.equal(read('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes'), String(256 << 20));
    assert.equal(read('/sys/fs/cgroup/pids/pids.max'), '100');
    assert.equal(
      read('/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us') || read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us'),
      '50000',
    );
    const df = inZone('df', '-k', '/tmp').stdout.trim().split('\n')[1]!.split(/\s+/);
    assert.equal(df[1], String(64 * 1024));
  });

  it('keeps the host out of reach', () => {
    const fails = (args: string[], what: string) => assert.notEqual(inZone(...args).status, 0, what);
    fails(['mount', '-t', 'tmpfs', 'none', '/mnt'], 'mount');
    fails(['mknod', '/tmp/sda', 'b', '8', '0'], 'mknod of a disk');
    fails(['sh', '-c', 'echo 1 > /proc/sys/kernel/panic'], 'writing /proc/sys');
    fails(['sh', '-c', 'echo x > /sys/kernel/uevent_helper'], 'writing /sys');
    fails(['insmod', '/nonexistent.ko'], 'insmod');
    inZone('date', '-s', '2001-01-01');
    assert.notEqual(inZone('date', '+%Y').stdout.trim(), '2001', 'setting the clock');
    assert.notEqual(new Date().getFullYear(), 2001);
    const links = inZone('ip', '-o', 'link').stdout.trim().split('\n');
    assert.deepEqual(
      links.map((l) => l.split(':')[1]!.trim()),
      ['lo'],
      'only loopback',
    );
    assert.equal(existsSync(join(root, 'proc', '1')), false, 'host /proc is not in the zone tree');
  });

  it("records init's exit status when the zone stops, and leaves nothing when deleted", async () => {
    await runtime.kill(id, 'USR2');
    let exit: number | undefined;
    for (let i = 0; i < 100 && exit === undefined; i++) {
      await sleep(50);
      exit = await runtime.exitStatus(id);
    }
    assert.equal(exit, 0);
    assert.equal((await runtime.state(id))?.status, 'stopped');
    await runtime.delete(id);
    assert.equal(await runtime.state(id), undefined);
    const conmons = spawnSync('pgrep', ['-f', `conmon.*${id}`], { encoding: 'utf8' }).stdout.trim();
    assert.equal(conmons, '');
    assert.equal(existsSync(`/sys/fs/cgroup/memory/zonix-${env.prefix}/${id}`), false);
  });
});
