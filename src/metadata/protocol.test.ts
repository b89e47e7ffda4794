import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { answer, getKey, listKeys, sdcRoutes, type MetaVm } from './keys.ts';
import {
  decodeFrame,
  encodeAnswer,
  encodeFrame,
  LineSplitter,
  parseLine,
  tooLarge,
  type Request,
} from './protocol.ts';

// The reference's test frames (smartos.md 5.3), checked there against zlib's CRC-32.
const VECTORS = [
  'V2 21 265ae1d8 dc4fae17 SUCCESS W10=',
  'V2 25 c0eeb3c6 0a1b2c3d GET c2RjOnV1aWQ=',
  'V2 17 d4f4ebcc 0a1b2c3d NOTFOUND',
  'V2 25 f0c2f837 0a1b2c3d PUT Wm05diBZbUZ5',
  'V2 21 0599de6f 0a1b2c3d SUCCESS T0s=',
  'V2 13 b1df2f94 0a1b2c3d KEYS',
  'V2 20 0b92a7e8 0a1b2c3d DELETE Zm9v',
  'V2 65 1c380fae 0a1b2c3d FAILURE Q2Fubm90IHVwZGF0ZSB0aGUgInNkYyIgTmFtZXNwYWNlLg==',
];

describe('metadata protocol', () => {
  it('round-trips the reference frames byte for byte', () => {
    for (const v of VECTORS) {
      const f = decodeFrame(v);
      assert.ok(f, `decodes ${v}`);
      assert.equal(encodeFrame(f), `${v}\n`);
    }
    // A request frame is the request it carries.
    assert.deepEqual(parseLine('V2 25 c0eeb3c6 0a1b2c3d GET c2RjOnV1aWQ=\n'), {
      version: 2,
      command: 'GET',
      arg: 'sdc:uuid',
      reqid: '0a1b2c3d',
    });
  });

  it('answers in the frames the reference gives', async () => {
    const vm: MetaVm = { uuid: 'u', customer_metadata: {} };
    const req = (line: string) => parseLine(line) as Request;
    let put: Record<string, unknown> | undefined;
    const update = (p: Record<string, unknown>) => {
      put = p;
      return Promise.resolve();
    };
    const a = await answer(vm, req('V2 25 f0c2f837 0a1b2c3d PUT Wm05diBZbUZ5'), update);
    assert.equal(encodeAnswer(req('V2 25 f0c2f837 0a1b2c3d PUT Wm05diBZbUZ5'), a), `${VECTORS[4]}\n`);
    assert.deepEqual(put, { set_customer_metadata: { foo: 'bar' } });
    const nf = req('V2 25 c0eeb3c6 0a1b2c3d GET c2RjOnV1aWQ=');
    assert.equal(encodeAnswer(nf, { code: 'NOTFOUND' }), `${VECTORS[2]}\n`);
    const sdcPut = { version: 2 as const, command: 'PUT', arg: 'c2RjOnV1aWQ= eA==', reqid: '0a1b2c3d' };
    assert.equal(encodeAnswer(sdcPut, await answer(vm, sdcPut, update)), `${VECTORS[7]}\n`);
    const del = req('V2 20 0b92a7e8 0a1b2c3d DELETE Zm9v');
    assert.equal(encodeAnswer(del, await answer(vm, del, update)), `${VECTORS[4]}\n`);
    assert.deepEqual(put, { remove_customer_metadata: ['foo'] });
  });

  it('drops frames whose length or CRC is wrong, and answers an empty line as invalid', () => {
    assert.equal(parseLine('V2 26 c0eeb3c6 0a1b2c3d GET c2RjOnV1aWQ='), undefined);
    assert.equal(parseLine('V2 25 c0eeb3c7 0a1b2c3d GET c2RjOnV1aWQ='), undefined);
    assert.equal(parseLine('V2 garbage'), undefined);
    assert.equal(parseLine(''), 'invalid');
    assert.equal(encodeAnswer(undefined, { code: 'INVALID' }), 'invalid command\n');
  });

  it('speaks V1: NEGOTIATE, GET with dot-stuffing, NOTFOUND, and no PUT', async () => {
    const vm: MetaVm = { uuid: 'u', customer_metadata: { a: '.x\nline2' } };
    const none = () => Promise.reject(new Error('no'));
    const r = (l: string) => parseLine(l) as Request;
    assert.equal(encodeAnswer(r('NEGOTIATE V2'), await answer(vm, r('NEGOTIATE V2'), none)), 'V2_OK\n');
    assert.equal(encodeAnswer(r('NEGOTIATE V3'), await answer(vm, r('NEGOTIATE V3'), none)), 'FAILURE\n');
    assert.equal(encodeAnswer(r('NEGOTIATE'), await answer(vm, r('NEGOTIATE'), none)), 'invalid command\n');
    assert.equal(encodeAnswer(r('GET a'), await answer(vm, r('GET a'), none)), 'SUCCESS\n..x\nline2\n.\n');
    assert.equal(encodeAnswer(r('GET b'), await answer(vm, r('GET b'), none)), 'NOTFOUND\n');
    assert.equal(encodeAnswer(r('PUT a'), await answer(vm, r('PUT a'), none)), 'FAILURE\n');
  });

  it('routes keys to internal metadata as SmartOS does (the reference scenario)', async () => {
    const vm: MetaVm = {
      uuid: 'u',
      internal_metadata_namespaces: ['baz', 'foo'],
      customer_metadata: { 'bar:foo': 'customer', 'user-script': '#!/bin/sh' },
      internal_metadata: { 'foo:bar': 'internal', x_pw: 'secret', hidden: 'h' },
    };
    assert.deepEqual(getKey(vm, 'foo:bar'), { code: 'SUCCESS', value: 'internal' });
    assert.deepEqual(getKey(vm, 'bar:foo'), { code: 'SUCCESS', value: 'customer' });
    assert.deepEqual(getKey(vm, 'x_pw'), { code: 'SUCCESS', value: 'secret' });
    assert.deepEqual(getKey(vm, 'hidden'), { code: 'NOTFOUND' });
    assert.deepEqual(listKeys(vm), ['bar:foo', 'user-script', 'foo:bar', 'x_pw']);
    const calls: unknown[] = [];
    const update = (p: Record<string, unknown>) => {
      calls.push(p);
      return Promise.resolve();
    };
    const put = (k: string, v: string): Request => ({
      version: 2,
      command: 'PUT',
      arg: `${Buffer.from(k).toString('base64')} ${Buffer.from(v).toString('base64')}`,
      reqid: '00000000',
    });
    assert.deepEqual(await answer(vm, put('foo:qux', 'v'), update), {
      code: 'FAILURE',
      message: 'Cannot update the "foo" Namespace.',
    });
    assert.deepEqual(await answer(vm, put('quux:qux', 'value'), update), { code: 'SUCCESS', value: 'OK' });
    assert.deepEqual(await answer(vm, put('a_pw', 'p'), update), { code: 'SUCCESS', value: 'OK' });
    assert.deepEqual(await answer(vm, put('k', ''), update), { code: 'SUCCESS', value: 'OK' });
    assert.deepEqual(calls, [
      { set_customer_metadata: { 'quux:qux': 'value' } },
      { set_internal_metadata: { a_pw: 'p' } },
      { remove_customer_metadata: ['k'] },
    ]);
  });

  it('serves sdc: keys from the VM: JSON where SmartOS gives JSON, routes resolved', () => {
    const vm: MetaVm = {
      uuid: '2d4f7c28-1111-4222-8333-444455556666',
      alias: 'web',
      max_physical_memory: 256,
      nics: [{ interface: 'net0', mac: '02:00:00:00:00:01', ips: ['10.0.0.5/24'], ip: '10.0.0.5' }],
      resolvers: ['8.8.8.8'],
      tags: { role: 'db', n: 3 },
      routes: { '10.9.0.0/16': '10.0.0.1', '10.8.0.0/16': 'nics[0]' },
      internal_metadata: { 'operator-script': 'echo op' },
    };
    assert.deepEqual(getKey(vm, 'sdc:uuid'), { code: 'SUCCESS', value: vm.uuid });
    assert.deepEqual(getKey(vm, 'sdc:max_physical_memory'), { code: 'SUCCESS', value: '256' });
    assert.deepEqual(getKey(vm, 'sdc:nics.0.ip'), { code: 'SUCCESS', value: '10.0.0.5' });
    assert.equal((getKey(vm, 'sdc:nics') as { value: string }).value, JSON.stringify(vm.nics));
    assert.deepEqual(getKey(vm, 'sdc:resolvers'), { code: 'SUCCESS', value: '["8.8.8.8"]' });
    assert.deepEqual(getKey(vm, 'sdc:tags.n'), { code: 'SUCCESS', value: '3' });
    assert.deepEqual(getKey(vm, 'sdc:operator-script'), { code: 'SUCCESS', value: 'echo op' });
    assert.deepEqual(getKey(vm, 'sdc:nope'), { code: 'NOTFOUND' });
    assert.deepEqual(sdcRoutes(vm), [
      { linklocal: false, dst: '10.9.0.0/16', gateway: '10.0.0.1' },
      { linklocal: true, dst: '10.8.0.0/16', gateway: '10.0.0.5' },
    ]);
  });

  it('splits lines, dropping whole any line over the limit', () => {
    const s = new LineSplitter(8);
    assert.deepEqual(s.push(Buffer.from('ab')), { lines: [], dropped: [] });
    assert.deepEqual(s.push(Buffer.from('c\n0123456789xx\nok\n')), {
      lines: ['abc', 'ok'],
      dropped: ['0123456789xx'],
    });
    assert.deepEqual(s.push(Buffer.from('0123')), { lines: [], dropped: [] });
    assert.deepEqual(s.push(Buffer.from('45678')), { lines: [], dropped: [] });
    assert.deepEqual(s.push(Buffer.from('\nz\n')), { lines: ['z'], dropped: ['012345678'] });
  });

  it('answers a V2 frame dropped for its size with FAILURE to its request id', () => {
    const f = decodeFrame(tooLarge('V2 2000000 0123abcd 0a1b2c3d PUT Zm9v', 1048576)!.trimEnd());
    assert.deepEqual(f && { reqid: f.reqid, code: f.code }, { reqid: '0a1b2c3d', code: 'FAILURE' });
    assert.equal(Buffer.from(f!.payload!, 'base64').toString(), 'Request too large (over 1048576 bytes)');
    assert.equal(tooLarge('AAAAAAAA', 8), undefined);
  });
});
