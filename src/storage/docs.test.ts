import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DocStore } from './docs.ts';

describe('DocStore', () => {
  it('puts, gets, lists and deletes documents; putMany stores many with one sync and leaves no temp file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zonix-docs-'));
    try {
      const d = new DocStore(join(dir, 'ns'));
      assert.deepEqual(d.keys(), []);
      d.put('a', { n: 1 });
      await d.putMany([
        ['b', { n: 2 }],
        ['c', { n: 3 }],
        ['a', { n: 4 }],
      ]);
      assert.deepEqual(d.keys(), ['a', 'b', 'c']);
      assert.deepEqual(d.get('a'), { n: 4 });
      assert.deepEqual(readdirSync(join(dir, 'ns')).sort(), ['a.json', 'b.json', 'c.json']);
      d.delete('b');
      assert.equal(d.get('b'), undefined);
      await assert.rejects(
        () =>
          d.putMany([
            ['ok', 1],
            ['bad key/..', 2],
          ]),
        /invalid document key/,
      );
      assert.deepEqual(readdirSync(join(dir, 'ns')).sort(), ['a.json', 'c.json']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
