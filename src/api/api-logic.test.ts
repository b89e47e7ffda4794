/**
 * The API's pure logic: error bodies and statuses, jobs (an immediate failure is the request's, a job
 * once it reported progress; cancel; wait), and the events stream's resume rules.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledError, checkCancelled, UsageError, ZonixError } from '../common/index.ts';
import type { Host } from '../host/index.ts';
import { payloadError, vmNotFound, type VmEvent, type WatchOptions } from '../vm/index.ts';
import { ApiError, errorResponse } from './errors.ts';
import { EventHub } from './events.ts';
import { Jobs } from './jobs.ts';

describe('API errors', () => {
  it("gives vmadm's message, its exit code, the fields and a 4xx for bad input", () => {
    const r = errorResponse(payloadError('InvalidValues', ['cpu_cap', 'quota']), 'req-1');
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, {
      code: 'InvalidValues',
      message: 'Invalid value(s) for: cpu_cap,quota',
      exit_code: 1,
      fields: ['cpu_cap', 'quota'],
      request_id: 'req-1',
    });
    assert.deepEqual(errorResponse(payloadError('InvalidValue', 'ram', 'x'), 'r').body.fields, ['ram']);
    const u = '6d5a1a6c-0000-4000-8000-000000000001';
    const nf = errorResponse(vmNotFound(u), 'r');
    assert.equal(nf.status, 404);
    assert.equal(nf.body.message, `zoneadm: ${u}: No such zone configured`);
    assert.equal(errorResponse(new UsageError('bad'), 'r').status, 400);
    assert.equal(errorResponse(new ZonixError('EINVAL', 'nic tag name is invalid'), 'r').status, 400);
    assert.equal(errorResponse(new ZonixError('EEXIST', 'x'), 'r').status, 409);
    assert.equal(errorResponse(new ApiError(409, 'EBUSY', 'in use', ['name']), 'r').body.fields?.[0], 'name');
  });

  it("maps fastify's own errors: validation (fields), too large, bad JSON; unknown errors are 500", () => {
    const v = errorResponse(
      {
        message: 'must match pattern',
        validation: [{ instancePath: '/uuid', params: {} }],
        validationContext: 'params',
      },
      'r',
    );
    assert.equal(v.status, 400);
    assert.deepEqual(v.body.fields, ['uuid']);
    const missing = errorResponse(
      {
        message: "must have required property 'name'",
        validation: [{ instancePath: '', params: { missingProperty: 'name' } }],
      },
      'r',
    );
    assert.deepEqual(missing.body.fields, ['name']);
    const big = errorResponse(
      { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE', message: 'too large' },
      'r',
    );
    assert.deepEqual([big.status, big.body.code], [413, 'RequestTooLarge']);
    const json = errorResponse(
      { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY', message: 'bad' },
      'r',
    );
    assert.deepEqual([json.status, json.body.code], [400, 'InvalidJson']);
    assert.equal(errorResponse(new Error('boom'), 'r').status, 500);
  });
});

describe('jobs', () => {
  it('a failure before any progress is the request’s; after it, the job’s', async () => {
    const jobs = new Jobs();
    const early = await jobs.start('create', undefined, async () => {
      throw payloadError('MissingProperties', ['image_uuid']);
    });
    assert.ok('error' in early);
    assert.equal(jobs.list().length, 0);
    const late = await jobs.start('create', undefined, async (op) => {
      op.progress?.({ phase: 'cloning', subject: 'vm-1' });
      await sleep(10);
      throw new ZonixError('EIO', 'disk gone');
    });
    assert.ok('job' in late);
    assert.equal(late.job.subject, 'vm-1');
    await jobs.wait(late.job);
    assert.equal(late.job.state, 'failed');
    assert.equal(late.job.error?.message, 'disk gone');
    assert.equal(jobs.errorStatus(late.job), 500);
  });

  it('a job is cancelled through its signal; a finished job cannot be', async () => {
    const jobs = new Jobs();
    const r = await jobs.start('create', 'x', async (op) => {
      op.progress?.({ phase: 'cloning' });
      while (!op.signal?.aborted) await sleep(5);
      checkCancelled(op, 'create VM x');
    });
    assert.ok('job' in r);
    assert.equal(jobs.cancel(r.job.uuid), true);
    await jobs.wait(r.job);
    assert.equal(r.job.state, 'cancelled');
    assert.equal(r.job.error?.code, new CancelledError('x').code);
    assert.equal(jobs.cancel(r.job.uuid), false);
    const quick = await jobs.start('import', 'img', async () => 42);
    assert.ok('job' in quick);
    await jobs.drain();
    assert.deepEqual([quick.job.state, quick.job.result], ['succeeded', 42]);
  });
});

describe('events stream', () => {
  /** A hub over a watcher this test drives. */
  async function hub(size: number) {
    let emit: (ev: VmEvent) => void = () => undefined;
    let touch: (u: string) => void = () => undefined;
    const host = {
      watch: async (o: WatchOptions) => {
        emit = o.onEvent;
        touch = o.onTouch ?? (() => undefined);
        return { start: async () => [], close: () => undefined };
      },
    } as unknown as Host;
    const h = new EventHub(host, { size });
    await h.start();
    const ev = (n: number): VmEvent => ({
      type: 'modify',
      date: new Date(0),
      uuid: `u${n}`,
      zonename: `u${n}`,
    });
    return { h, emit: (n: number) => emit(ev(n)), touch: (u: string) => touch(u) };
  }

  it('replays what a client missed, and tells it to list again when the buffer no longer has it', async () => {
    const { h, emit } = await hub(3);
    assert.deepEqual(h.resume(undefined), { kind: 'ready', id: `${h.stream}-0` });
    for (let i = 1; i <= 5; i++) emit(i);
    const r = h.resume(`${h.stream}-3`);
    assert.equal(r.kind, 'replay');
    assert.deepEqual(
      r.kind === 'replay' ? r.messages.map((m) => (JSON.parse(m.text) as { uuid: string }).uuid) : [],
      ['u4', 'u5'],
    );
    assert.deepEqual(h.resume(`${h.stream}-5`), { kind: 'replay', messages: [] });
    assert.equal(h.resume(`${h.stream}-2`).kind, 'replay'); // 3, 4, 5 are all there
    assert.equal(h.resume(`${h.stream}-1`).kind, 'reset');
    assert.equal(h.resume(`${h.stream}-9`).kind, 'reset');
    assert.equal(h.resume('feedf00d-2').kind, 'reset');
    assert.equal(h.resume('garbage').kind, 'reset');
    h.close();
  });

  it('its generation changes whenever a VM may have changed, and is unknown once closed', async () => {
    const { h, emit, touch } = await hub(10);
    const g0 = h.generation();
    assert.notEqual(g0, undefined);
    touch('u1');
    const g1 = h.generation();
    assert.notEqual(g1, g0);
    emit(1);
    assert.notEqual(h.generation(), g1);
    h.close();
    assert.equal(h.generation(), undefined);
  });
});
