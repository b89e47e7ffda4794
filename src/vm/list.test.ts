import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatVmList, sortVms, type ListField } from './list.ts';

const FIELDS: ListField[] = [
  { name: 'uuid', header: 'UUID', width: 36 },
  { name: 'type', header: 'TYPE', width: 4 },
  { name: 'ram', header: 'RAM', width: 7 },
  { name: 'state', header: 'STATE', width: 16 },
  { name: 'alias', header: 'ALIAS', width: 10 },
];
const a = {
  uuid: '54f1cc77-68f1-42ab-acac-5c4f64f5d6e0',
  type: 'OS',
  ram: 256,
  state: 'running',
  alias: 'zone70',
};
const b = { uuid: '11111111-68f1-42ab-acac-5c4f64f5d6e0', type: 'LX', ram: 1024, state: 'stopped' };

describe('vmadm list format', () => {
  it('prints SmartOS columns exactly (reference header and row)', () => {
    const out = formatVmList([a], FIELDS);
    assert.equal(
      out,
      'UUID                                  TYPE  RAM      STATE             ALIAS\n' +
        '54f1cc77-68f1-42ab-acac-5c4f64f5d6e0  OS    256      running           zone70\n',
    );
  });

  it('shows - for missing values, no header with -H, and : separated fields with -p', () => {
    assert.match(formatVmList([b], FIELDS, { header: false }), /stopped {11}-\n$/);
    assert.equal(formatVmList([b], FIELDS, { parsable: true }), `${b.uuid}:LX:1024:stopped:\n`);
  });

  it('sorts by ram then uuid by default, - for descending, missing values last', () => {
    assert.deepEqual(
      sortVms([b, a], 'ram,uuid').map((v) => v.ram),
      [256, 1024],
    );
    assert.deepEqual(
      sortVms([a, b], '-ram').map((v) => v.ram),
      [1024, 256],
    );
    assert.deepEqual(
      sortVms([a, b], 'alias').map((v) => v.uuid),
      [a.uuid, b.uuid],
    );
  });
});
