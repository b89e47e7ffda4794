import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { isIP, isIPv4, isIPv6 } from './ip.ts';

/** Addresses and near misses, and random strings over the characters addresses are made of. */
function corpus(): string[] {
  const fixed = [
    '0.0.0.0',
    '10.0.0.1',
    '255.255.255.255',
    '256.1.1.1',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '1.2.3.04',
    '1.2.3.4 ',
    ' 1.2.3.4',
    '1..2.3',
    '',
    '::',
    '::1',
    '1::',
    'fe80::1%eth0',
    'fe80::1%',
    '2001:db8::1',
    '2001:0db8:0000:0000:0000:ff00:0042:8329',
    '2001:db8:::1',
    '1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7::',
    '::ffff:10.0.0.1',
    '::ffff:10.0.0.256',
    '1:2:3:4:5:6:1.2.3.4',
    'g::1',
    '12345::1',
    'dhcp',
    'addrconf',
    '1.2.3.4/24',
    '[::1]',
    'localhost',
  ];
  const alphabet = '0123456789abcdefg.:%';
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  const random = Array.from({ length: 20_000 }, () =>
    Array.from({ length: 1 + rand(20) }, () => alphabet[rand(alphabet.length)]).join(''),
  );
  const v4 = Array.from({ length: 2_000 }, () => Array.from({ length: 4 }, () => rand(300)).join('.'));
  return [...fixed, ...random, ...v4];
}

describe('address checks', () => {
  it('agree with node:net on every address and near miss', () => {
    for (const s of corpus()) {
      assert.equal(isIPv4(s), net.isIPv4(s), `isIPv4(${JSON.stringify(s)})`);
      assert.equal(isIPv6(s), net.isIPv6(s), `isIPv6(${JSON.stringify(s)})`);
      assert.equal(isIP(s), net.isIP(s), `isIP(${JSON.stringify(s)})`);
    }
  });
});
