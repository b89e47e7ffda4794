import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { diffVm, formatEvent, formatReady, prettyPath, type VmEvent } from './events.ts';

const uuid = '54f1cc77-68f1-42ab-acac-5c4f64f5d6e0';
const date = new Date('2026-03-14T09:26:53.589Z');

describe('diffVm', () => {
  it('reports added, removed and changed keys, in that order of discovery', () => {
    const a = { state: 'running', pid: 42, alias: 'web', autoboot: true };
    const b = { state: 'stopped', alias: 'web', autoboot: true, exit_status: 0 };
    assert.deepEqual(diffVm(a, b), [
      { prettyPath: 'state', path: ['state'], action: 'changed', oldValue: 'running', newValue: 'stopped' },
      { prettyPath: 'pid', path: ['pid'], action: 'removed', oldValue: 42 },
      { prettyPath: 'exit_status', path: ['exit_status'], action: 'added', newValue: 0 },
    ]);
    assert.deepEqual(diffVm(a, { ...a }), []);
  });

  it('goes into objects, and compares arrays as sets of members', () => {
    const a = { tags: { role: 'db', 'a.b': 1 }, resolvers: ['8.8.8.8', '1.1.1.1'] };
    const b = { tags: { role: 'web', 'a.b': 2 }, resolvers: ['1.1.1.1', '9.9.9.9'] };
    assert.deepEqual(
      diffVm(a, b).map((c) => [c.prettyPath, c.action, c.oldValue, c.newValue]),
      [
        ['tags.role', 'changed', 'db', 'web'],
        ['tags[a.b]', 'changed', 1, 2],
        ['resolvers.*', 'removed', '8.8.8.8', undefined],
        ['resolvers.*', 'added', undefined, '9.9.9.9'],
      ],
    );
    // A reordered array is no change.
    assert.deepEqual(diffVm({ r: [1, 2] }, { r: [2, 1] }), []);
  });

  it('pairs nics by mac and disks by path, and names the member changed', () => {
    const nic = { mac: '02:00:00:00:00:01', ips: ['10.0.0.2/24'], nic_tag: 'admin' };
    const other = { mac: '02:00:00:00:00:02', ips: ['10.0.0.3/24'], nic_tag: 'admin' };
    const a = { nics: [nic, other] };
    const b = { nics: [{ ...nic, ips: ['10.0.0.5/24'] }] };
    assert.deepEqual(diffVm(a, b), [
      {
        prettyPath: 'nics.*',
        path: ['nics', null],
        action: 'removed',
        oldValue: other,
      },
      {
        prettyPath: 'nics.*.ips.*',
        path: ['nics', null, 'ips', null],
        action: 'removed',
        oldValue: '10.0.0.2/24',
        ident: nic.mac,
      },
      {
        prettyPath: 'nics.*.ips.*',
        path: ['nics', null, 'ips', null],
        action: 'added',
        newValue: '10.0.0.5/24',
        ident: nic.mac,
      },
    ]);
  });

  it('treats a change of kind (value to object, array to object, null) as a plain change', () => {
    assert.deepEqual(
      diffVm({ x: null, y: [1], z: 1 }, { x: { a: 1 }, y: { a: 1 }, z: '1' }).map((c) => c.action),
      ['changed', 'changed', 'changed'],
    );
  });
});

describe('prettyPath', () => {
  it('writes array members as * and brackets keys with dots or brackets', () => {
    assert.equal(prettyPath(['nics', null, 'ips']), 'nics.*.ips');
    assert.equal(prettyPath(['customer_metadata', 'user-script']), 'customer_metadata.user-script');
    assert.equal(prettyPath(['tags', 'a[1]', 'b']), 'tags[a\\[1\\]].b');
  });
});

describe('formatEvent', () => {
  const vm = { uuid, zonename: uuid, alias: 'zone70' };

  it('prints one line per event, `[time] <uuid part> <alias> <type>`', () => {
    const ev: VmEvent = { type: 'create', date, zonename: uuid, uuid, vm };
    assert.deepEqual(formatEvent(ev), ['[09:26:53.589Z] 54f1cc77 zone70 create']);
    assert.deepEqual(formatEvent(ev, { full: true }), [`[2026-03-14T09:26:53.589Z] ${uuid} zone70 create`]);
    assert.deepEqual(formatEvent({ type: 'delete', date, zonename: uuid, uuid }), [
      '[09:26:53.589Z] 54f1cc77 - delete',
    ]);
    const long = { ...vm, alias: 'a-very-long-alias-that-goes-on-and-on' };
    assert.deepEqual(formatEvent({ type: 'create', date, zonename: uuid, uuid, vm: long }), [
      '[09:26:53.589Z] 54f1cc77 a-very-long-alias-that-goes... create',
    ]);
  });

  it('prints a modify as one line per change, values as JSON', () => {
    const ev: VmEvent = {
      type: 'modify',
      date,
      zonename: uuid,
      uuid,
      vm,
      changes: diffVm({ state: 'running', pid: 7 }, { state: 'stopped', exit_status: 0 }),
    };
    assert.deepEqual(formatEvent(ev), [
      '[09:26:53.589Z] 54f1cc77 zone70 modify: state changed :: "running" -> "stopped"',
      '[09:26:53.589Z] 54f1cc77 zone70 modify: pid removed :: 7 -> undefined',
      '[09:26:53.589Z] 54f1cc77 zone70 modify: exit_status added :: undefined -> 0',
    ]);
  });

  it('prints the ready line', () => {
    assert.equal(formatReady(date, uuid), '[09:26:53.589Z] ready');
    assert.equal(formatReady(date, uuid, { full: true }), `[2026-03-14T09:26:53.589Z] ready (uuid ${uuid})`);
  });
});
