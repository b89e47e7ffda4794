import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  COMPRESSION_VALUES,
  formatCreation,
  formatValue,
  isUserProp,
  parseAssignment,
  resolveProp,
} from './props.ts';

const DS = 'zones/a';
/** Seconds since the epoch of a local wall-clock time (so tests do not depend on TZ). */
const local = (y: number, mo: number, d: number, h: number, mi: number, s = 0) =>
  new Date(y, mo - 1, d, h, mi, s).getTime() / 1000;
const setError = (reason: string) => ({
  name: 'ZfsError',
  code: 'EINVAL',
  exitCode: 1,
  message: `cannot set property for '${DS}': ${reason}`,
});

describe('resolveProp', () => {
  it('maps names, column aliases and user properties to canonical names', () => {
    const cases: [string, string | undefined][] = [
      ['name', 'name'],
      ['used', 'used'],
      ['avail', 'available'],
      ['available', 'available'],
      ['refer', 'referenced'],
      ['rdonly', 'readonly'],
      ['compress', 'compression'],
      ['ratio', 'compressratio'],
      ['usedsnap', 'usedbysnapshots'],
      ['usedds', 'usedbydataset'],
      ['usedchild', 'usedbychildren'],
      ['com.joyent:owner-uuid', 'com.joyent:owner-uuid'],
      ['bogus', undefined],
      ['reservation', undefined],
      ['', undefined],
    ];
    for (const [name, want] of cases) assert.equal(resolveProp(name), want, name);
  });
});

describe('isUserProp', () => {
  it('accepts module:name with lowercase letters, digits and _-.:', () => {
    for (const name of ['com.joyent:uuid', 'a:b', 'a:', 'a:b:c', 'org.smartos_1-x:owner.uuid-2']) {
      assert.equal(isUserProp(name), true, name);
    }
  });

  it('rejects names without a module, with bad characters, or too long', () => {
    for (const name of ['', 'nocolon', ':b', 'a b:c', 'a/b:c', 'a@b:c', 'a:b=c', 'a:' + 'x'.repeat(300)]) {
      assert.equal(isUserProp(name), false, name);
    }
  });

  it('rejects uppercase letters, as zprop_valid_char does', () => {
    for (const name of ['Com.Joyent:uuid', 'com.joyent:UUID']) assert.equal(isUserProp(name), false, name);
  });
});

describe('parseAssignment', () => {
  it('stores user properties verbatim on any type, refusing overlong values', () => {
    assert.equal(parseAssignment('com.example:note', 'any text = ok', DS, 'snapshot'), 'any text = ok');
    assert.equal(parseAssignment('com.example:note', 'x'.repeat(8000), DS, 'filesystem').length, 8000);
    assert.throws(
      () => parseAssignment('com.example:note', 'x'.repeat(9000), DS, 'filesystem'),
      setError("'com.example:note' is too long"),
    );
  });

  it('rejects unknown, readonly and inapplicable properties', () => {
    const cases: [string, 'filesystem' | 'volume', string][] = [
      ['bogus', 'filesystem', "invalid property 'bogus'"],
      ['used', 'filesystem', "'used' is readonly"],
      ['creation', 'filesystem', "'creation' is readonly"],
      ['volsize', 'filesystem', "'volsize' does not apply to datasets of this type"],
      ['quota', 'volume', "'quota' does not apply to datasets of this type"],
      ['mountpoint', 'volume', "'mountpoint' does not apply to datasets of this type"],
    ];
    for (const [prop, type, reason] of cases) {
      assert.throws(() => parseAssignment(prop, 'on', DS, type), setError(reason), prop);
    }
  });

  it('parses quota sizes, with none and 0 meaning no quota', () => {
    const cases: [string, string][] = [
      ['none', 'none'],
      ['0', 'none'],
      ['0G', 'none'],
      ['10G', String(10 * 1024 ** 3)],
      ['1.5M', String(1.5 * 1024 ** 2)],
      ['4096', '4096'],
    ];
    for (const [v, want] of cases) assert.equal(parseAssignment('quota', v, DS, 'filesystem'), want, v);
    for (const v of ['lots', '-1', '', '10X']) {
      assert.throws(
        () => parseAssignment('quota', v, DS, 'filesystem'),
        setError(`bad numeric value '${v}'`),
      );
    }
  });

  it('accepts only the compression algorithms zfs knows', () => {
    for (const v of ['on', 'off', 'lzjb', 'gzip', 'gzip-1', 'gzip-9', 'zle', 'lz4', 'zstd', 'zstd-19']) {
      assert.equal(parseAssignment('compression', v, DS, 'volume'), v);
    }
    const all = `'compression' must be one of '${COMPRESSION_VALUES.join(' | ')}'`;
    assert.ok(all.startsWith("'compression' must be one of 'on | off | lzjb | gzip | gzip-1 | gzip-2"));
    for (const v of ['gzip-0', 'gzip-10', 'zstd-20', 'LZ4', 'yes', '']) {
      assert.throws(() => parseAssignment('compression', v, DS, 'filesystem'), setError(all), v);
    }
  });

  it('accepts only on and off for readonly', () => {
    assert.equal(parseAssignment('readonly', 'on', DS, 'filesystem'), 'on');
    assert.equal(parseAssignment('readonly', 'off', DS, 'volume'), 'off');
    for (const v of ['yes', 'true', '1', 'ON']) {
      assert.throws(
        () => parseAssignment('readonly', v, DS, 'filesystem'),
        setError("'readonly' must be one of 'on | off'"),
      );
    }
  });

  it('requires an absolute mountpoint, none or legacy, without trailing slashes', () => {
    const cases: [string, string][] = [
      ['/data', '/data'],
      ['/data/zones/', '/data/zones'],
      ['/data//', '/data'],
      ['/', '/'],
      ['none', 'none'],
      ['legacy', 'legacy'],
    ];
    for (const [v, want] of cases) assert.equal(parseAssignment('mountpoint', v, DS, 'filesystem'), want, v);
    for (const v of ['data', './data', '', 'None']) {
      assert.throws(
        () => parseAssignment('mountpoint', v, DS, 'filesystem'),
        setError("'mountpoint' must be an absolute path, 'none', or 'legacy'"),
        v,
      );
    }
  });

  it("normalises mountpoint '//' to '/' rather than to an empty path", () => {
    assert.equal(parseAssignment('mountpoint', '//', DS, 'filesystem'), '/');
  });

  it('checks volsize is a positive size', () => {
    assert.equal(parseAssignment('volsize', '1G', DS, 'volume'), String(1024 ** 3));
    assert.throws(() => parseAssignment('volsize', 'big', DS, 'volume'), setError("bad numeric value 'big'"));
    assert.throws(() => parseAssignment('volsize', '0', DS, 'volume'), { code: 'EINVAL' });
  });
});

describe('formatCreation', () => {
  it('prints local time as zfs does', () => {
    assert.equal(formatCreation(local(2026, 11, 26, 16, 2, 59)), 'Thu Nov 26 16:02 2026');
    assert.equal(formatCreation(local(2025, 12, 31, 23, 59)), 'Wed Dec 31 23:59 2025');
    // %e pads the day of the month with a space.
    assert.equal(formatCreation(local(2026, 3, 1, 10, 5)), 'Sun Mar  1 10:05 2026');
  });

  it('pads the hour with a space, as strftime %k in zfs_prop_get does', () => {
    assert.equal(formatCreation(local(2026, 3, 1, 9, 5)), 'Sun Mar  1  9:05 2026');
    assert.equal(formatCreation(local(2024, 2, 29, 0, 0)), 'Thu Feb 29  0:00 2024');
  });
});

describe('formatValue', () => {
  it('prints sizes and dates for humans, raw values with -p', () => {
    const creation = String(local(2026, 11, 26, 16, 2));
    const cases: [string, string, boolean, string][] = [
      ['used', '1610612736', false, '1.50G'],
      ['used', '1610612736', true, '1610612736'],
      ['available', '512', false, '512'],
      ['referenced', '65536', false, '64K'],
      ['quota', 'none', false, 'none'],
      ['quota', 'none', true, '0'],
      ['quota', '10737418240', false, '10G'],
      ['creation', creation, false, 'Thu Nov 26 16:02 2026'],
      ['creation', creation, true, creation],
      ['mountpoint', 'none', true, 'none'],
      ['mountpoint', '/zones/a', false, '/zones/a'],
      ['compressratio', '1.00x', false, '1.00x'],
      ['com.example:size', '1024', false, '1024'],
      ['used', '-', false, '-'],
    ];
    for (const [prop, raw, parsable, want] of cases) {
      assert.equal(formatValue(prop, raw, parsable), want, `${prop}=${raw} parsable=${parsable}`);
    }
  });
});
