import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../common/index.ts';
import { getopt, has, last, values } from './getopt.ts';

// zfs list's flags: -H, -p, -r take nothing; -o, -s, -t, -d take an argument.
const SPEC = 'Hprd:o:s:t:';

describe('getopt', () => {
  it('parses flags and option arguments as illumos getopt does', () => {
    const cases: [string[], [string, string][], string[]][] = [
      [[], [], []],
      [['zones'], [], ['zones']],
      [
        ['-Hp', 'zones'],
        [
          ['H', ''],
          ['p', ''],
        ],
        ['zones'],
      ],
      [
        ['-H', '-p'],
        [
          ['H', ''],
          ['p', ''],
        ],
        [],
      ],
      [['-oname,used', 'zones'], [['o', 'name,used']], ['zones']],
      [['-o', 'name,used', 'zones'], [['o', 'name,used']], ['zones']],
      [
        ['-Hro', 'name'],
        [
          ['H', ''],
          ['r', ''],
          ['o', 'name'],
        ],
        [],
      ],
      [
        ['-Honame', '-d1'],
        [
          ['H', ''],
          ['o', 'name'],
          ['d', '1'],
        ],
        [],
      ],
      [['-oH'], [['o', 'H']], []],
      [['-o', '-H'], [['o', '-H']], []],
      [['-o', '--', 'x'], [['o', '--']], ['x']],
      [['-H', '--', '-p', 'zones'], [['H', '']], ['-p', 'zones']],
      [['--'], [], []],
      [['zones', '-H'], [], ['zones', '-H']],
      [['-H', '-', '-p'], [['H', '']], ['-', '-p']],
      [
        ['-s', 'used', '-s', 'name'],
        [
          ['s', 'used'],
          ['s', 'name'],
        ],
        [],
      ],
    ];
    for (const [argv, opts, rest] of cases) {
      assert.deepEqual(getopt(argv, SPEC), { opts, rest }, argv.join(' '));
    }
  });

  it('rejects an unknown flag with a usage error (exit 2)', () => {
    for (const argv of [['-z'], ['-Hz'], ['-H', '-z', 'zones']]) {
      assert.throws(
        () => getopt(argv, SPEC, 'usage: zfs list'),
        (err: unknown) => {
          assert.ok(err instanceof UsageError);
          assert.equal(err.message, "invalid option 'z'");
          assert.equal(err.exitCode, 2);
          assert.equal(err.usage, 'usage: zfs list');
          return true;
        },
      );
    }
  });

  it('rejects an option missing its argument', () => {
    for (const argv of [['-o'], ['-Ho'], ['-H', '-o']]) {
      assert.throws(() => getopt(argv, SPEC), {
        name: 'UsageError',
        message: "missing argument for 'o' option",
        exitCode: 2,
      });
    }
  });

  it('has, values and last read the parsed options', () => {
    const p = getopt(['-H', '-s', 'used', '-oname', '-s', 'name', 'zones'], SPEC);
    assert.equal(has(p, 'H'), true);
    assert.equal(has(p, 'p'), false);
    assert.deepEqual(values(p, 's'), ['used', 'name']);
    assert.deepEqual(values(p, 't'), []);
    assert.equal(last(p, 's'), 'name');
    assert.equal(last(p, 'o'), 'name');
    assert.equal(last(p, 't'), undefined);
  });
});
