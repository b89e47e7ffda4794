import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { matchesAll, parseFilter, valuesAt } from './filters.ts';

const vm = {
  uuid: '54f1cc77-68f1-42ab-acac-5c4f64f5d6e0',
  alias: 'Zone70',
  ram: 256,
  autoboot: true,
  nics: [
    { mac: '02:08:20:0a:0b:0c', ip: '10.0.0.5', nic_tag: 'admin' },
    { mac: 'b2:db:d2:3f:36:d9', ip: '192.0.2.9', nic_tag: 'external' },
  ],
  tags: { role: 'db' },
};
const any = () => true;
const f = (arg: string) => parseFilter(arg, any);

describe('vmadm filters', () => {
  it('compare String(value) exactly', () => {
    assert.ok(matchesAll(vm, [f('ram=256'), f('autoboot=true'), f('alias=Zone70')]));
    assert.ok(!matchesAll(vm, [f('alias=zone70')]));
    assert.ok(!matchesAll(vm, [f('ram=256'), f('alias=other')]));
  });

  it('~ is a case-insensitive, unanchored regular expression', () => {
    assert.ok(matchesAll(vm, [f('alias=~one7')]));
    assert.ok(matchesAll(vm, [f('alias=~^zone\\d+$')]));
    assert.ok(!matchesAll(vm, [f('alias=~^one')]));
  });

  it('nics.*.x matches when any nic does, and indexes pick one', () => {
    assert.ok(matchesAll(vm, [f('nics.*.nic_tag=external')]));
    assert.ok(matchesAll(vm, [f('nics.1.ip=192.0.2.9')]));
    assert.ok(!matchesAll(vm, [f('nics.0.ip=192.0.2.9')]));
    assert.ok(matchesAll(vm, [f('tags.role=db')]));
    assert.deepEqual(valuesAt(vm, ['nics', '*', 'ip']), ['10.0.0.5', '192.0.2.9']);
  });

  it('normalises MAC addresses', () => {
    assert.ok(matchesAll(vm, [f('nics.*.mac=2:8:20:a:b:c')]));
    assert.ok(matchesAll(vm, [f('nics.*.mac=B2:DB:D2:3F:36:D9')]));
  });

  it('refuses bad keys and malformed filters with vmadm usage errors', () => {
    assert.throws(() => parseFilter('bogus=1', (k) => k !== 'bogus'), {
      message: 'Invalid filter key: "bogus"',
      exitCode: 2,
    });
    assert.throws(() => parseFilter('novalue', any), { exitCode: 2 });
  });
});
