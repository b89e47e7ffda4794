/**
 * vmadm send and receive, as on SmartOS: a running VM sent to a file is stopped; the bundle (its JSON,
 * then its dataset with every snapshot) is received into another pool that lacks the VM's image, and
 * the VM starts there with its files, metadata and snapshots. A truncated or damaged bundle, or a
 * receive killed halfway, leaves no VM behind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { cli, createVm, ROOT, zoneTestSkip, leaks, makeTestEnv, ok, teardown } from '../helpers/host.ts';

const skip = zoneTestSkip();
const MAGIC = 'ZONIX-VMBUNDLE-1\n';

/** Where each chunk of a bundle starts, walking the framing documented in src/vm/transfer.ts. */
function chunks(buf: Buffer): { type: string; snapshot?: string; start: number; end: number }[] {
  assert.equal(buf.subarray(0, MAGIC.length).toString(), MAGIC);
  const out = [];
  for (let off = MAGIC.length; ;) {
    const start = off;
    const hl = buf.readUInt32BE(off);
    const h = JSON.parse(buf.subarray(off + 4, off + 4 + hl).toString()) as {
      type: string;
      snapshot?: string;
    };
    off += 4 + hl;
    if (h.type !== 'end')
      for (let len = buf.readUInt32BE(off); ; len = buf.readUInt32BE(off)) {
        off += 4 + (len === 0 ? 4 : len);
        if (len === 0) break;
      }
    out.push({ ...h, start, end: off });
    if (h.type === 'end') return out;
  }
}

describe('vmadm send and receive', { skip, timeout: 120_000 }, () => {
  const env = makeTestEnv('vt');
  const A = `${env.prefix}a`;
  const B = `${env.prefix}b`;
  const bundle = join(env.dir, 'vm.bundle');
  let uuid = '';

  const on = (pool: string) => (process.env.ZONIX_SYSTEM_POOL = pool);
  const get = async () => JSON.parse(await ok('vmadm', ['get', uuid])) as Record<string, unknown>;
  const tree = async (pool: string) => ok('zfs', ['list', '-H', '-o', 'name', '-t', 'all', '-r', pool]);

  before(async () => {
    for (const p of [A, B])
      await ok('zpool', ['create', '-m', join(env.dir, p), '-o', 'size=512M', p, join(env.dir, `${p}.img`)]);
    // The image is installed on A only: the receive must not need it.
    await ok('imgadm', ['import', '-P', A, 'minimal']);
    const image = (await ok('imgadm', ['list', '-P', A, '-H', '-o', 'uuid'])).trim();
    on(A);
    uuid = await createVm(env.dir, {
      brand: 'joyent-minimal',
      image_uuid: image,
      alias: 'mover',
      max_physical_memory: 64,
      quota: 1,
      customer_metadata: { colour: 'blue' },
    });
    await ok('zlogin', [uuid, 'sh', '-c', 'echo x > /root/f']);
    await ok('vmadm', ['create-snapshot', uuid, 's1']);
    await ok('zlogin', [uuid, 'sh', '-c', 'echo y > /root/g']);
  });

  after(async () => {
    await teardown(env, [A, B], uuid ? [uuid] : []);
    assert.deepEqual(leaks(env), []);
  });

  it('refuses to send to a terminal or receive from one', async () => {
    const { main } = await import('../../src/cli/vmadm.ts');
    const tty = Object.assign(new PassThrough(), { isTTY: true });
    const io = { stdout: tty, stderr: new PassThrough(), stdin: process.stdin };
    await assert.rejects(main(['send', uuid], io), { message: 'Cannot send VM to a TTY.', exitCode: 1 });
    await assert.rejects(main(['receive'], { ...io, stdin: tty as unknown as NodeJS.ReadStream }), {
      message: 'Will not receive from stdin when stdin is a tty.',
      exitCode: 2,
    });
    assert.equal((await get()).state, 'running');
  });

  it('sends a running VM to a file: it is stopped, and the stream holds its JSON then its snapshots', async () => {
    const r = await cli('vmadm', ['send', uuid], { stdoutFile: bundle });
    assert.deepEqual([r.code, r.stderr], [0, `Successfully sent VM ${uuid}\n`]);
    const vm = await get();
    assert.equal(vm.state, 'stopped');
    assert.equal(vm.autoboot, false);
    assert.equal(await tree(A).then((t) => t.includes('@sending')), false, 'no @sending is left');
    const buf = readFileSync(bundle);
    const parts = chunks(buf);
    assert.deepEqual(
      parts.map((c) => [c.type, c.snapshot]),
      [
        ['json', undefined],
        ['dataset', 'vmsnap-s1'],
        ['dataset', 'sending'],
        ['end', undefined],
      ],
    );
    assert.equal(parts.at(-1)!.end, buf.length);
    const json = buf.subarray(parts[0]!.start, parts[0]!.end).toString();
    assert.match(json, new RegExp(`"uuid": "${uuid}"`));
    assert.match(json, /"state": "running"/, 'the JSON is the VM as it was before the stop');
    // The VM moves: it goes from A before it arrives on B (a UUID names one zone on a host).
    await ok('vmadm', ['delete', uuid]);
  });

  it('a truncated or damaged stream leaves no VM behind', async () => {
    on(B);
    const empty = await tree(B);
    const buf = readFileSync(bundle);
    const parts = chunks(buf);
    const cuts = [
      10,
      parts[1]!.start - 3,
      parts[1]!.start + 100,
      parts[1]!.start + Math.floor((parts[1]!.end - parts[1]!.start) / 2),
      parts[2]!.start + 40,
      parts[3]!.start,
    ];
    // One byte flipped in the middle of the first dataset's stream.
    const damaged = Buffer.from(buf);
    const at = parts[1]!.start + Math.floor((parts[1]!.end - parts[1]!.start) / 2);
    damaged.writeUInt8(damaged.readUInt8(at) ^ 0xff, at);
    const inputs = [...cuts.map((n) => buf.subarray(0, n)), damaged];
    for (const [i, input] of inputs.entries()) {
      const f = join(env.dir, `bad-${i}.bundle`);
      writeFileSync(f, input);
      const r = await cli('vmadm', ['receive'], { stdinFile: f });
      assert.equal(r.code, 1, `input ${i}: ${r.stderr}`);
      assert.match(r.stderr, /^unable to receive VM: /, `input ${i}`);
      assert.equal(await tree(B), empty, `input ${i} left nothing`);
    }
    const r = await cli('vmadm', ['receive', '-f', join(env.dir, 'missing')]);
    assert.deepEqual([r.code, r.stderr], [1, `File: ${join(env.dir, 'missing')} does not exist.\n`]);
    assert.equal(await ok('vmadm', ['list', '-H']), '');
  });

  it('a receive killed halfway is gone at the next look', async () => {
    on(B);
    const empty = await tree(B);
    const buf = readFileSync(bundle);
    // The first dataset (the full stream of @vmsnap-s1) is in; the receive waits for the second.
    const cut = chunks(buf)[2]!.start + 40;
    const child = spawn(join(ROOT, 'bin', 'vmadm'), ['recv'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.stdin.write(buf.subarray(0, cut));
    let phase = '';
    for (let i = 0; i < 200 && phase !== 'creating'; i++) {
      await sleep(50);
      const r = await cli('zfs', ['get', '-H', '-o', 'value', 'com.zonix:vm', `${B}/${uuid}`]);
      phase = r.stdout.trim();
    }
    assert.equal(phase, 'creating', 'the half-received VM is marked as being created');
    assert.equal(await ok('vmadm', ['list', '-H']), '', 'and is not listed while it is received');
    child.kill('SIGKILL');
    await exited;
    child.stdin.destroy();
    assert.equal(await ok('vmadm', ['list', '-H']), '');
    assert.equal(await tree(B), empty);
  });

  it('receives into another pool without the image: the VM starts with its files, metadata and snapshots', async () => {
    on(B);
    const r = await cli('vmadm', ['recv', '-f', bundle]);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, '', `Successfully received VM ${uuid}\n`]);
    assert.equal(await ok('imgadm', ['list', '-P', B, '-H', '-o', 'uuid']), '', 'no image on B');
    assert.deepEqual((await tree(B)).split('\n').filter(Boolean), [
      B,
      `${B}/${uuid}`,
      `${B}/${uuid}@vmsnap-s1`,
    ]);
    assert.equal(await ok('zfs', ['get', '-H', '-o', 'value', 'origin,quota', `${B}/${uuid}`]), '-\n1G\n');
    let vm = await get();
    assert.equal(vm.zpool, B);
    assert.equal(vm.zonepath, join(env.dir, B, uuid));
    assert.equal(vm.state, 'stopped');
    assert.equal(vm.alias, 'mover');
    assert.equal(vm.max_physical_memory, 64);
    assert.deepEqual(vm.customer_metadata, { colour: 'blue' });

    await ok('vmadm', ['start', uuid]);
    vm = await get();
    assert.equal(vm.state, 'running');
    assert.equal(await ok('zlogin', [uuid, 'cat', '/root/f', '/root/g']), 'x\ny\n');
    await ok('vmadm', ['rollback-snapshot', uuid, 's1']);
    assert.equal(await ok('zlogin', [uuid, 'cat', '/root/f']), 'x\n');
    assert.equal((await cli('zlogin', [uuid, 'test', '-e', '/root/g'])).code, 1, 'the snapshot came along');

    const again = await cli('vmadm', ['recv', '-f', bundle]);
    assert.deepEqual([again.code, again.stderr], [1, `VM with UUID ${uuid} already exists\n`]);
  });
});
