/**
 * The pool's record: a base and a journal of changes; torn lines, folding into a new base, the cache
 * and its key, and pools written before journals.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  commitMeta,
  diffMeta,
  metaKey,
  readMeta,
  readMetaCopy,
  writeMeta,
  type DatasetMeta,
  type PoolMeta,
} from './meta.ts';

// Frozen records, as under the test runner, whichever way this file is run.
process.env.ZONIX_CHECKS = '1';

function fresh(): { top: string; done: () => void } {
  const top = mkdtempSync(join(tmpdir(), 'zonix-meta-'));
  mkdirSync(join(top, 'meta'));
  const meta: PoolMeta = {
    version: 1,
    name: 'tank',
    guid: '1',
    creation: 1,
    driver: 'dir',
    txg: 1,
    datasets: { tank: ds('root', 1) },
  };
  writeMeta(top, meta);
  return { top, done: () => rmSync(top, { recursive: true, force: true }) };
}

function ds(path: string, txg: number): DatasetMeta {
  return {
    guid: String(txg),
    type: 'filesystem',
    creation: 1,
    createtxg: txg,
    props: {},
    snapshots: {},
    path,
  };
}

/** Make one change as a pool transaction does: copy, change, diff, commit. */
function change(top: string, fn: (m: PoolMeta) => void): void {
  const before = readMetaCopy(top);
  const after = structuredClone(before);
  fn(after);
  commitMeta(top, diffMeta(before, after));
}

describe('pool record', () => {
  it('a change appends one line naming only what it changed', () => {
    const { top, done } = fresh();
    try {
      change(top, (m) => {
        m.txg = 2;
        m.datasets['tank/a'] = ds('root/a', 2);
      });
      change(top, (m) => {
        m.txg = 3;
        m.datasets['tank/a']!.props.quota = '100';
      });
      const lines = readFileSync(join(top, 'meta', 'journal.0'), 'utf8')
        .trimEnd()
        .split('\n');
      assert.equal(lines.length, 2);
      assert.deepEqual(Object.keys((JSON.parse(lines[1]!) as { set: object }).set), ['tank/a']);
      const meta = readMeta(top);
      assert.equal(meta.txg, 3);
      assert.equal(meta.datasets['tank/a']!.props.quota, '100');
      change(top, (m) => {
        m.txg = 4;
        delete m.datasets['tank/a'];
      });
      assert.deepEqual(Object.keys(readMeta(top).datasets), ['tank']);
    } finally {
      done();
    }
  });

  it('a line torn by a crash was never committed, and the next change starts clean', () => {
    const { top, done } = fresh();
    try {
      change(top, (m) => {
        m.txg = 2;
        m.datasets['tank/a'] = ds('root/a', 2);
      });
      appendFileSync(join(top, 'meta', 'journal.0'), '{"txg":3,"set":{"tank/b":{"gu');
      assert.deepEqual(Object.keys(readMeta(top).datasets).sort(), ['tank', 'tank/a']);
      change(top, (m) => {
        m.txg = 3;
        m.datasets['tank/c'] = ds('root/c', 3);
      });
      assert.deepEqual(Object.keys(readMeta(top).datasets).sort(), ['tank', 'tank/a', 'tank/c']);
      assert.doesNotMatch(readFileSync(join(top, 'meta', 'journal.0'), 'utf8'), /tank\/b/);
    } finally {
      done();
    }
  });

  it('the journal folds into a new base, and the record reads the same', () => {
    const { top, done } = fresh();
    try {
      for (let i = 0; i < 300; i++)
        change(top, (m) => {
          m.txg = i + 2;
          m.datasets[`tank/d${i}`] = ds(`root/d${i}`, i + 2);
        });
      const files = readdirSync(join(top, 'meta')).filter((f) => f.startsWith('journal.'));
      assert.deepEqual(files, ['journal.2']);
      const base = JSON.parse(readFileSync(join(top, 'meta', 'pool.json'), 'utf8')) as { gen: number };
      assert.equal(base.gen, 2);
      const meta = readMeta(top);
      assert.equal(Object.keys(meta.datasets).length, 301);
      assert.equal(meta.txg, 301);
    } finally {
      done();
    }
  });

  it('reads are cached and frozen; the key changes with every change', () => {
    const { top, done } = fresh();
    try {
      const k0 = metaKey(top);
      const m0 = readMeta(top);
      assert.equal(readMeta(top), m0, 'the same record while nothing changed');
      assert.ok(Object.isFrozen(m0.datasets.tank!.props));
      assert.throws(() => {
        (m0.datasets as Record<string, unknown>)['tank/x'] = 1;
      }, TypeError);
      const copy = readMetaCopy(top);
      copy.datasets['tank/x'] = ds('root/x', 2);
      assert.equal(readMeta(top).datasets['tank/x'], undefined);
      change(top, (m) => {
        m.txg = 2;
        m.datasets['tank/y'] = ds('root/y', 2);
      });
      assert.notEqual(metaKey(top), k0);
      assert.ok(readMeta(top).datasets['tank/y']);
    } finally {
      done();
    }
  });

  it('reads a pool written before journals (a base without a generation)', () => {
    const { top, done } = fresh();
    try {
      const old = {
        version: 1,
        name: 'tank',
        guid: '1',
        creation: 1,
        driver: 'dir',
        txg: 7,
        datasets: { tank: ds('root', 1) },
      };
      writeFileSync(join(top, 'meta', 'pool.json'), JSON.stringify(old));
      assert.equal(readMeta(top).txg, 7);
      change(top, (m) => {
        m.txg = 8;
        m.datasets['tank/a'] = ds('root/a', 8);
      });
      assert.deepEqual(Object.keys(readMeta(top).datasets).sort(), ['tank', 'tank/a']);
    } finally {
      done();
    }
  });

  it('a renamed pool is carried by the change', () => {
    const { top, done } = fresh();
    try {
      change(top, (m) => {
        m.name = 'other';
        m.txg = 2;
      });
      assert.equal(readMeta(top).name, 'other');
    } finally {
      done();
    }
  });
});
