import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_NAME_LEN,
  datasetNameProblem,
  isDescendant,
  parentName,
  parseName,
  poolNameProblem,
} from './names.ts';

const EMPTY = "empty component or misplaced '@' or '#' delimiter in name";

describe('datasetNameProblem', () => {
  it('accepts valid dataset names', () => {
    for (const name of ['zones', 'zones/a', 'zones/a-b_c.d:e/F9', 'z/' + 'a'.repeat(MAX_NAME_LEN - 2)]) {
      assert.equal(datasetNameProblem(name), undefined, name);
    }
  });

  it('words each problem as zfs does', () => {
    const cases: [string, string][] = [
      ['', EMPTY],
      ['z/' + 'a'.repeat(MAX_NAME_LEN - 1), 'name is too long'],
      ['zones/a@snap', "snapshot delimiter '@' is not expected here"],
      ['/zones/a', 'leading slash in name'],
      ['zones/a/', 'trailing slash in name'],
      ['zones//a', EMPTY],
      ['zones/./a', "invalid component '.' in name"],
      ['zones/..', "invalid component '..' in name"],
      ['zones/my data', "invalid character ' ' in name"],
      ['zones/a*b', "invalid character '*' in name"],
      ['1zones/a', 'name must begin with a letter'],
      ['mirror/a', 'name is reserved'],
      ['c0t0d0/a', 'pool name is reserved'],
    ];
    for (const [name, problem] of cases) assert.equal(datasetNameProblem(name), problem, name);
  });

  it('applies the snapshot mode', () => {
    const cases: [string, 'forbid' | 'require' | 'allow', string | undefined][] = [
      ['zones/a@snap', 'require', undefined],
      ['zones/a@snap', 'allow', undefined],
      ['zones/a', 'allow', undefined],
      ['zones/a', 'require', "missing '@' delimiter in snapshot name"],
      ['zones/a@', 'require', EMPTY],
      ['@snap', 'require', EMPTY],
      ['zones/a@b@c', 'allow', "multiple '@' delimiters in name"],
      ['zones/a@sn/ap', 'require', "invalid character '/' in name"],
      ['zones/a@sn ap', 'require', "invalid character ' ' in name"],
      ['zones/a/@snap', 'require', 'trailing slash in name'],
    ];
    for (const [name, snapshot, problem] of cases) {
      assert.equal(datasetNameProblem(name, { snapshot }), problem, `${name} (${snapshot})`);
    }
  });
});

describe('poolNameProblem', () => {
  it('words each problem as zpool does', () => {
    const cases: [string, string | undefined][] = [
      ['zones', undefined],
      ['tank-1.a_b:c', undefined],
      ['', 'name is too short'],
      ['a'.repeat(MAX_NAME_LEN + 1), 'name is too long'],
      ['9tank', 'name must begin with a letter'],
      ['_tank', 'name must begin with a letter'],
      ['tank/a', "invalid character '/' in pool name"],
      ['ta nk', "invalid character ' ' in pool name"],
      ['mirror', 'name is reserved'],
      ['raidz2', 'name is reserved'],
      ['log', 'name is reserved'],
      ['mirrored', 'name is reserved'],
      ['spares', 'name is reserved'],
      ['draid3', 'name is reserved'],
      ['c1', 'pool name is reserved'],
      ['c0t0d0', 'pool name is reserved'],
      ['cache1', undefined],
      ['logs', undefined],
    ];
    for (const [name, problem] of cases) assert.equal(poolNameProblem(name), problem, name);
  });
});

describe('name helpers', () => {
  it('parseName splits pool, dataset and snapshot', () => {
    assert.deepEqual(parseName('zones'), { pool: 'zones', dataset: 'zones' });
    assert.deepEqual(parseName('zones/a/b'), { pool: 'zones', dataset: 'zones/a/b' });
    assert.deepEqual(parseName('zones/a@s1'), { pool: 'zones', dataset: 'zones/a', snapshot: 's1' });
    assert.deepEqual(parseName('zones@s1'), { pool: 'zones', dataset: 'zones', snapshot: 's1' });
  });

  it('parentName walks up one level and stops at the pool', () => {
    assert.equal(parentName('zones/a/b'), 'zones/a');
    assert.equal(parentName('zones/a'), 'zones');
    assert.equal(parentName('zones'), undefined);
  });

  it('isDescendant matches whole components only', () => {
    const cases: [string, string, boolean][] = [
      ['zones/a', 'zones', true],
      ['zones/a/b/c', 'zones/a', true],
      ['zones/a', 'zones/a', false],
      ['zones/ab', 'zones/a', false],
      ['zones', 'zones/a', false],
      ['zonesx/a', 'zones', false],
    ];
    for (const [name, anc, want] of cases) assert.equal(isDescendant(name, anc), want, `${name} < ${anc}`);
  });
});
