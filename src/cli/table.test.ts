import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatTable, type Column } from './table.ts';

const COLS: Column[] = [
  { header: 'NAME' },
  { header: 'USED', right: true },
  { header: 'AVAIL', right: true },
  { header: 'MOUNTPOINT' },
];
const ROWS = [
  ['zones', '1.50G', '10G', '/zones'],
  ['zones/a', '512', '9.99G', '-'],
];

describe('formatTable', () => {
  it('pads columns, two spaces apart, with numbers right-aligned like zfs list', () => {
    assert.equal(
      formatTable(COLS, ROWS),
      [
        'NAME      USED  AVAIL  MOUNTPOINT',
        'zones    1.50G    10G  /zones',
        'zones/a    512  9.99G  -',
        '',
      ].join('\n'),
    );
  });

  it('trims trailing spaces when the last cells are empty', () => {
    const cols: Column[] = [{ header: 'NAME' }, { header: 'PROPERTY' }, { header: 'VALUE' }];
    const out = formatTable(cols, [
      ['zones/a', 'quota', ''],
      ['zones/long-name', '', ''],
    ]);
    assert.equal(out, 'NAME             PROPERTY  VALUE\nzones/a          quota\nzones/long-name\n');
  });

  it('widens a column to its longest cell and right-aligns the header of a numeric column', () => {
    const out = formatTable([{ header: 'SIZE', right: true }, { header: 'NAME' }], [['123.4G', 'zones']]);
    assert.equal(out, '  SIZE  NAME\n123.4G  zones\n');
  });

  it('prints tab-separated rows without a header when scripted (-H)', () => {
    assert.equal(
      formatTable(COLS, ROWS, { scripted: true }),
      'zones\t1.50G\t10G\t/zones\nzones/a\t512\t9.99G\t-\n',
    );
    assert.equal(formatTable(COLS, [['zones', '', '', '']], { scripted: true }), 'zones\t\t\t\n');
    assert.equal(formatTable(COLS, [], { scripted: true }), '');
  });

  it('prints only the header when there are no rows', () => {
    assert.equal(formatTable(COLS, []), 'NAME  USED  AVAIL  MOUNTPOINT\n');
  });
});
