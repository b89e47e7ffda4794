/**
 * The zone console on a real zone: `vmadm console` and `zlogin -C` reach what runs on init's terminal
 * (a shell, respawned by busybox init), Ctrl-] (or zlogin's `~.`) leaves with the zone still running,
 * the window size reaches the zone's terminal, init's output still goes to console.log, and a VM that
 * is not running answers as SmartOS does.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, createVm, leaks, makeTestEnv, ok, ROOT, teardown, zoneTestSkip } from '../helpers/host.ts';

const skip = zoneTestSkip();

/** A CLI with piped stdio, its output gathered, and a way to wait for some of it. */
function start(tool: string, args: string[]) {
  const child: ChildProcessWithoutNullStreams = spawn(join(ROOT, 'bin', tool), args, {
    env: process.env,
    stdio: 'pipe',
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const waitFor = async (text: string, ms = 15_000) => {
    for (const deadline = Date.now() + ms; !stdout.includes(text);) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`no ${JSON.stringify(text)} from ${tool}: stdout ${stdout}, stderr ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const exit = async (ms = 10_000) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  return { child, waitFor, exit, out: () => stdout, err: () => stderr };
}

describe('vmadm console', { skip, timeout: 60_000 }, () => {
  const env = makeTestEnv('co');
  const P = `${env.prefix}p`;
  process.env.ZONIX_SYSTEM_POOL = P;
  const mnt = join(env.dir, 'zones');
  const token = randomBytes(6).toString('hex');
  let uuid = '';

  before(async () => {
    await ok('zpool', ['create', '-m', mnt, '-o', 'size=512M', P, join(env.dir, 'pool.img')]);
    await ok('imgadm', ['import', '-P', P, 'minimal']);
    const image = (await ok('imgadm', ['list', '-P', P, '-H', '-o', 'uuid'])).trim();
    uuid = await createVm(env.dir, {
      brand: 'joyent-minimal',
      image_uuid: image,
      alias: 'con1',
      autoboot: false,
    });
  });

  after(async () => {
    await teardown(env, [P], uuid ? [uuid] : []);
    assert.deepEqual(leaks(env), []);
  });

  it('refuses a VM that is not running, as SmartOS does', async () => {
    let r = await cli('vmadm', ['console', uuid]);
    assert.deepEqual(
      [r.code, r.stderr],
      [1, 'cannot connect to console when state is "stopped" must be "running".\n'],
    );
    r = await cli('vmadm', ['console', randomUUID()]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /No such zone configured/);
    r = await cli('vmadm', ['console', 'nope']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^Invalid or missing UUID for console\n/);
  });

  it('reaches the shell on the zone console; Ctrl-] detaches and the zone runs on', async () => {
    await ok('vmadm', ['start', uuid]);
    const c = start('vmadm', ['console', uuid]);
    await c.waitFor(`[Connected to zone '${uuid}' console]\n`);
    // The shell computes 6*7: what comes back is its answer, not the terminal echoing what was typed.
    c.child.stdin.write(`echo hello-$((6*7))-${token}\n`);
    await c.waitFor(`hello-42-${token}\r\n`);
    // ^C on the console (init's terminal) must not halt the zone, as busybox's ctrlaltdel would.
    c.child.stdin.write('\x03');
    await new Promise((r) => setTimeout(r, 300));
    c.child.stdin.write(`echo after-int-$((1+1))-${token}\n`);
    await c.waitFor(`after-int-2-${token}\r\n`);
    c.child.stdin.write('\x1d');
    assert.equal(await c.exit(), 0, c.err());
    assert.ok(c.out().endsWith(`\n[Connection to zone '${uuid}' console closed]\n`), c.out());
    const vm = JSON.parse(await ok('vmadm', ['get', uuid])) as { state: string };
    assert.equal(vm.state, 'running');
    // The monitor still logs what the zone's terminal shows.
    const log = readFileSync(join(env.dir, 'run', 'zones', uuid, 'console.log'), 'utf8');
    assert.match(log, new RegExp(`hello-42-${token}`));
  });

  it('copies a script on stdin and what comes back, then leaves when input ends', async () => {
    const { resizeConsole } = await import('../../src/vm/console.ts');
    resizeConsole(uuid, 33, 101);
    const r = await cli('vmadm', ['console', uuid], { input: `stty size; echo eof-$((1+2))-${token}\n` });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\r\n33 101\r\n/);
    assert.match(r.stdout, new RegExp(`eof-3-${token}`));
    assert.equal((JSON.parse(await ok('vmadm', ['get', uuid])) as { state: string }).state, 'running');
  });

  it('zlogin -C: ~. at the start of a line detaches; -e picks the escape character', async () => {
    const z = start('zlogin', ['-C', uuid]);
    await z.waitFor(`[Connected to zone '${uuid}' console]\n`);
    z.child.stdin.write(`echo zl-$((2+3))-${token}\n`);
    await z.waitFor(`zl-5-${token}\r\n`);
    z.child.stdin.write('~.');
    assert.equal(await z.exit(), 0, z.err());
    assert.ok(z.out().endsWith(`\n[Connection to zone '${uuid}' console closed]\n`));
    const q = start('zlogin', ['-C', '-Q', '-e', '#', uuid]);
    q.child.stdin.write(`echo q-$((3+4))-${token}\n`);
    await q.waitFor(`q-7-${token}\r\n`);
    q.child.stdin.write('#.');
    assert.equal(await q.exit(), 0, q.err());
    assert.doesNotMatch(q.out(), /Connected to zone/);
    const r = await cli('zlogin', ['-C', uuid, 'ls']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^zlogin: Commands may not be specified for console login\.\n/);
    assert.equal((JSON.parse(await ok('vmadm', ['get', uuid])) as { state: string }).state, 'running');
  });

  it('a zone with a terminal still stops and starts', async () => {
    await ok('vmadm', ['stop', uuid]);
    assert.equal((JSON.parse(await ok('vmadm', ['get', uuid])) as { state: string }).state, 'stopped');
    const r = await cli('zlogin', ['-C', uuid]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /login allowed only to running zones/);
    await ok('vmadm', ['start', uuid]);
    assert.equal((JSON.parse(await ok('vmadm', ['get', uuid])) as { state: string }).state, 'running');
    await ok('vmadm', ['delete', uuid]);
    uuid = '';
  });
});
