import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { niceNum, parseSize } from './units.ts';

const K = 1024;
const M = K * K;
const G = M * K;
const T = G * K;

describe('parseSize', () => {
  it('reads sizes with binary suffixes in any case', () => {
    const cases: [string, number][] = [
      ['4096', 4096],
      ['0', 0],
      ['512b', 512],
      ['512B', 512],
      ['1K', K],
      ['1k', K],
      ['1KB', K],
      ['100KiB', 100 * K],
      ['512m', 512 * M],
      ['1G', G],
      ['1g', G],
      ['1.5T', 1.5 * T],
      ['.5G', G / 2],
      ['2P', 2 * T * K],
      ['1E', T * M],
    ];
    for (const [text, want] of cases) assert.equal(parseSize(text), want, text);
  });

  it('returns undefined for anything that is not a size', () => {
    for (const text of [
      '',
      ' ',
      'abc',
      'G',
      '-1',
      '1X',
      '1Z',
      '1KK',
      '1iB',
      '1.2.3',
      '1e3',
      '0x10',
      'none',
    ]) {
      assert.equal(parseSize(text), undefined, JSON.stringify(text));
    }
  });

  it("rejects 'BB' and 'BiB' suffixes, as zfs_nicestrtonum does", () => {
    for (const text of ['1BB', '1bb', '1BiB']) assert.equal(parseSize(text), undefined, text);
  });

  it('truncates fractional bytes as zfs_nicestrtonum does', () => {
    // zfs_nicestrtonum computes a double and casts it to uint64_t: 0.7K = 716.8 bytes -> 716.
    assert.equal(parseSize('0.7K'), 716);
    assert.equal(parseSize('1.9'), 1);
  });
});

describe('niceNum', () => {
  it('prints like illumos zfs_nicenum', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [1, '1'],
      [512, '512'],
      [1023, '1023'],
      [1024, '1K'],
      [1536, '1.50K'],
      [10239, '10.0K'],
      [100 * K + 300, '100K'],
      [M - 1, '1024K'],
      [64 * M, '64M'],
      [1000 * G, '1000G'],
      [1.5 * G, '1.50G'],
      [Math.round(12.34 * G), '12.3G'],
      [Math.round(123.4 * G), '123G'],
      [Math.round(999.9 * G), '1000G'],
      [T, '1T'],
      [2.25 * T, '2.25T'],
      [3 * T * K, '3P'],
      [T * M, '1E'],
    ];
    for (const [n, want] of cases) assert.equal(niceNum(n), want, String(n));
  });

  it('fits every value of 1K and more into five characters', () => {
    for (let n = 1025; n < 1e15; n = Math.floor(n * 1.37) + 1) {
      const s = niceNum(n);
      assert.match(s, /^\d+(\.\d+)?[KMGTPE]$/, String(n));
      assert.ok(s.length <= 5, `${n} -> ${s}`);
    }
  });
});
