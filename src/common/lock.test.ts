import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { acquireLock, processStartTime, withLock, type LockHolder } from './lock.ts';

describe('FileLock', () => {
  let tmp = '';
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'zonix-lock-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('serialises two takers in one process and records the holder', async () => {
    const path = join(tmp, 'serial.lock');
    const events: string[] = [];
    const first = withLock(
      path,
      async () => {
        events.push('a:start');
        const rec = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
        assert.equal(rec.pid, process.pid);
        assert.equal(rec.start, processStartTime(process.pid));
        assert.deepEqual(rec.intent, { op: 'a' });
        await sleep(50);
        events.push('a:end');
      },
      { intent: { op: 'a' } },
    );
    const second = withLock(path, async () => {
      events.push('b:start');
      await sleep(5);
      events.push('b:end');
      return 'b';
    });
    assert.equal(await second, 'b');
    await first;
    assert.deepEqual(events, ['a:start', 'a:end', 'b:start', 'b:end']);
    assert.equal(existsSync(path), false);
  });

  it('takes over a lock left by a dead process and hands its intent to onStale', async () => {
    const path = join(tmp, 'stale.lock');
    const dead = spawnSync(process.execPath, ['-e', '']);
    assert.equal(dead.status, 0);
    const intent = { op: 'destroy', cleanup: ['.zonix/tmp-1'] };
    writeFileSync(path, JSON.stringify({ pid: dead.pid, start: '1', intent }));
    const seen: LockHolder[] = [];
    const lock = await acquireLock(path, { timeoutMs: 1000, onStale: (h) => void seen.push(h) });
    try {
      assert.deepEqual(seen, [{ pid: dead.pid, start: '1', intent }]);
      assert.equal((JSON.parse(readFileSync(path, 'utf8')) as LockHolder).pid, process.pid);
    } finally {
      lock.release();
    }
    assert.equal(existsSync(path), false);
  });

  it('times out with EBUSY while a live process holds the lock, then lets others in', async () => {
    const path = join(tmp, 'busy.lock');
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      const pid = child.pid!;
      const start = processStartTime(pid);
      assert.ok(start !== undefined);
      writeFileSync(path, JSON.stringify({ pid, start, intent: { op: 'send' } }));
      let staleCalled = false;
      await assert.rejects(
        acquireLock(path, { timeoutMs: 150, onStale: () => void (staleCalled = true) }),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'EBUSY');
          assert.equal(err.message, `timed out waiting for lock ${path} held by pid ${pid}`);
          return true;
        },
      );
      assert.equal(staleCalled, false);
      assert.equal(existsSync(path), true, 'the live holder keeps its lock file');
    } finally {
      child.kill();
    }
    rmSync(path);
    const lock = await acquireLock(path, { timeoutMs: 500 });
    lock.release();
  });

  it('times out with EBUSY while another taker in this process holds the lock', async () => {
    const path = join(tmp, 'busy-local.lock');
    const holder = await acquireLock(path);
    const released = sleep(1000).then(() => holder.release());
    const t0 = Date.now();
    const outcome = await acquireLock(path, { timeoutMs: 100 }).then(
      (lock) => {
        lock.release();
        return `acquired after ${Date.now() - t0} ms instead of timing out`;
      },
      (err: unknown) => err,
    );
    assert.equal((outcome as { code?: string }).code, 'EBUSY', String(outcome));
    await released;
    (await acquireLock(path, { timeoutMs: 100 })).release();
  });

  it('withLock releases the lock when the work throws', async () => {
    const path = join(tmp, 'throw.lock');
    await assert.rejects(
      withLock(path, async () => {
        throw new Error('boom');
      }),
      { message: 'boom' },
    );
    assert.equal(existsSync(path), false);
    assert.equal(await withLock(path, async () => 42, { timeoutMs: 200 }), 42);
  });
});
