import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Reverter } from './reverter.ts';

describe('Reverter', () => {
  it('runs undos newest first, awaiting each before the next', async () => {
    const log: string[] = [];
    const r = new Reverter();
    r.add(() => log.push('1'));
    r.add(async () => {
      await sleep(20);
      log.push('2');
    });
    r.add(() => log.push('3'));
    await r.fail();
    assert.deepEqual(log, ['3', '2', '1']);
  });

  it('runs nothing after success()', async () => {
    const log: string[] = [];
    const r = new Reverter();
    r.add(() => log.push('undo'));
    r.success();
    await r.fail();
    assert.deepEqual(log, []);
  });

  it('runs each undo only once when fail() is called again', async () => {
    let n = 0;
    const r = new Reverter();
    r.add(() => n++);
    await r.fail();
    await r.fail();
    assert.equal(n, 1);
  });

  it('reports a failing undo to onError and still runs the others', async () => {
    const log: string[] = [];
    const errors: unknown[] = [];
    const r = new Reverter((err) => errors.push(err));
    const sync = new Error('sync undo failed');
    const async = new Error('async undo failed');
    r.add(() => log.push('1'));
    r.add(() => {
      throw sync;
    });
    r.add(() => log.push('3'));
    r.add(async () => {
      await sleep(1);
      throw async;
    });
    await r.fail();
    assert.deepEqual(log, ['3', '1']);
    assert.deepEqual(errors, [async, sync]);
  });

  it('swallows undo errors when no onError is given', async () => {
    const log: string[] = [];
    const r = new Reverter();
    r.add(() => log.push('1'));
    r.add(() => Promise.reject(new Error('x')));
    await r.fail();
    assert.deepEqual(log, ['1']);
  });
});
