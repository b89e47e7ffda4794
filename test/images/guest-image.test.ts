/**
 * The built-in zonix-guest disk: built for real (Debian's kernel package, cached), booted with bare
 * QEMU under TCG, its ttyS1 answered as the host's metadata server would, powered off by ACPI.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findTool } from '../../src/platform/index.ts';
import { buildGuestDisk, guestAvailable } from '../../src/images/builtin/guest.ts';
import { encodeAnswer, parseLine, type Answer } from '../../src/metadata/protocol.ts';

const MDATA = new URL('../../native/usr/sbin/mdata-get', import.meta.url).pathname;
const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : !findTool('qemu-system-x86_64')
      ? 'qemu-system-x86_64 missing'
      : !guestAvailable()
        ? 'guest image tools missing (syslinux, mtools, dosfstools, fdisk, busybox-static)'
        : false;

async function connectRetry(path: string, ms = 10_000): Promise<Socket> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const s = connect(path);
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      });
    } catch (err) {
      if (Date.now() > end) throw err;
      await sleep(50);
    }
  }
}

async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

describe('the zonix-guest built-in disk', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), `ztguest${randomBytes(3).toString('hex')}-`));
  let qemu: ChildProcess | undefined;
  const sockets: Socket[] = [];
  let exit: number | null | undefined;

  after(() => {
    for (const s of sockets) s.destroy();
    if (qemu && qemu.exitCode === null && qemu.signalCode === null) qemu.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('boots to init under TCG, answers metadata on ttyS1 and powers off on the ACPI button', async () => {
    const disk = join(dir, 'guest.img');
    const built = await buildGuestDisk(disk, { mdataClient: MDATA });
    assert.equal(statSync(disk).size, built.sizeBytes);
    assert.match(built.kernelVersion, /^\d+\.\d+\.\d+-\d+-amd64$/);

    const s0 = join(dir, 's0');
    const s1 = join(dir, 's1');
    const qmp = join(dir, 'qmp');
    const started = Date.now();
    qemu = spawn(
      'qemu-system-x86_64',
      [
        '-accel',
        'tcg',
        '-machine',
        'pc',
        '-m',
        '256',
        '-nodefaults',
        '-no-user-config',
        '-display',
        'none',
        '-drive',
        `file=${disk},if=virtio,format=raw`,
        '-chardev',
        `socket,id=s0,path=${s0},server=on,wait=off`,
        '-serial',
        'chardev:s0',
        '-chardev',
        `socket,id=s1,path=${s1},server=on,wait=off`,
        '-serial',
        'chardev:s1',
        '-qmp',
        `unix:${qmp},server=on,wait=off`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    qemu.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) =>
      qemu!.on('exit', (code) => resolve((exit = code))),
    );

    let console0 = '';
    const c0 = await connectRetry(s0);
    sockets.push(c0);
    c0.on('data', (d: Buffer) => (console0 += d.toString('latin1')));

    // ttyS1: the metadata server.
    const uuid = randomUUID();
    let raw1 = '';
    let buf1 = '';
    const requests: string[] = [];
    let booted: string | undefined;
    const c1 = await connectRetry(s1);
    sockets.push(c1);
    c1.on('data', (d: Buffer) => {
      raw1 += d.toString('latin1');
      buf1 += d.toString('utf8');
      for (let nl = buf1.indexOf('\n'); nl >= 0; nl = buf1.indexOf('\n')) {
        const line = buf1.slice(0, nl);
        buf1 = buf1.slice(nl + 1);
        const req = parseLine(line);
        if (req === undefined) continue;
        if (req === 'invalid') {
          c1.write(encodeAnswer(undefined, { code: 'INVALID' }));
          continue;
        }
        requests.push(`${req.command} ${req.arg}`);
        let a: Answer;
        if (req.command === 'NEGOTIATE') a = { code: 'V2_OK' };
        else if (req.command === 'GET' && req.arg === 'sdc:uuid') a = { code: 'SUCCESS', value: uuid };
        else if (req.command === 'GET' && req.arg === 'sdc:hostname') a = { code: 'SUCCESS', value: 'gtest' };
        else if (req.command === 'PUT') {
          const [k, v] = req.arg.split(' ');
          if (Buffer.from(k ?? '', 'base64').toString() === 'guest-booted')
            booted = Buffer.from(v ?? '', 'base64').toString();
          a = { code: 'SUCCESS' };
        } else a = { code: 'NOTFOUND' };
        c1.write(encodeAnswer(req, a));
      }
    });

    await waitFor(() => console0.includes('zonix-guest: init'), 60_000, `"zonix-guest: init" (${stderr})`);
    const toInit = Date.now() - started;
    await waitFor(() => raw1.includes('NEGOTIATE V2\n'), 60_000, 'a metadata request on ttyS1');
    await waitFor(() => booted !== undefined, 60_000, `guest-booted (requests: ${requests.join(', ')})`);
    assert.equal(booted, uuid);
    await waitFor(() => console0.includes(`zonix-guest: metadata ${uuid}`), 30_000, 'the metadata line');
    await waitFor(() => console0.includes('guest# '), 30_000, 'the shell prompt');
    process.stderr.write(`# zonix-guest: init after ${toInit} ms under TCG\n`);

    const q = await connectRetry(qmp);
    sockets.push(q);
    let qout = '';
    q.on('data', (d: Buffer) => (qout += d.toString()));
    await waitFor(() => qout.includes('"QMP"'), 10_000, 'the QMP greeting');
    q.write('{"execute":"qmp_capabilities"}\n');
    await waitFor(() => qout.includes('"return"'), 10_000, 'qmp_capabilities');
    q.write('{"execute":"system_powerdown"}\n');
    const code = await Promise.race([
      exited,
      sleep(60_000, undefined, { ref: false }).then(() => 'timeout' as const),
    ]);
    assert.equal(code, 0, `qemu did not exit 0 after system_powerdown (console: ${console0.slice(-500)})`);
    assert.equal(exit, 0);
  });
});
