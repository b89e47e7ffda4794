import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRule, ruleText } from './fwrule.ts';
import { compile, fullScript, makeRecord, ruleScript, type FwRuleRecord } from './firewall.ts';

const err = (text: string) => {
  try {
    parseRule(text);
  } catch (e) {
    return (e as Error).message;
  }
  return assert.fail(`${text} parsed`);
};

test('syntax errors name the character where they start, as fwrule does', () => {
  const cases: [string, string][] = [
    [
      'FROM ip 10.99.99.99.254 TO tag smartdc_role ALLOW tcp port 22',
      "Error at character 19: '.254 TO tag smartdc_', found: unexpected text",
    ],
    [
      'FROM foo TO ip 8.8.8.8 ALLOW udp port 53',
      "Error at character 4: 'foo', expected: '(', 'all', 'any', 'ip', 'subnet', 'vm', 'tag', found: word",
    ],
    [
      'FROM (all vms OR tag one) TO ip 10.0.0.1 ALLOW udp port 53',
      "Error at character 13: 'OR', expected: ')', found: OR",
    ],
    [
      'FROM tag one TO (all vms OR tag two) ALLOW udp port 53',
      "Error at character 24: 'OR', expected: ')', found: OR",
    ],
    [
      'FROM (any OR tag one) TO ip 10.0.0.1 ALLOW udp port 53',
      "Error at character 9: 'OR', expected: ')', found: OR",
    ],
    ['invalid', "Error at character 0: 'invalid', expected: 'FROM', found: word"],
  ];
  for (const [rule, msg] of cases) assert.equal(err(rule), msg, rule);
});

test('values are checked with SmartOS messages', () => {
  assert.equal(
    err('FROM tag foo TO subnet 10.8.0.0/33 ALLOW udp port 53'),
    'Subnet "10.8.0.0/33" is invalid (must be in CIDR format)',
  );
  assert.equal(err('FROM tag foo TO subnet 10.8.0.0/24 ALLOW udp port 0'), 'Port number "0" is invalid');
  assert.equal(
    err('FROM tag foo TO subnet 10.8.0.0/24 ALLOW udp port 65537'),
    'Port number "65537" is invalid',
  );
  assert.equal(err('FROM vm asdf TO subnet 10.8.0.0/24 ALLOW udp port 50'), 'UUID "asdf" is invalid');
  assert.equal(err('FROM any TO any ALLOW tcp port 22'), 'rule does not affect VMs');
  assert.equal(err('FROM any TO all vms ALLOW icmp TYPE 256'), 'ICMP type "256" is invalid');
  assert.equal(
    err('FROM any TO all vms ALLOW tcp PORT 22 PRIORITY 101'),
    'Priority "101" is invalid (must be a number between 0 and 100)',
  );
});

test('the canonical text: keywords in capitals, targets and ports in order, quotes where needed', () => {
  const canon = (s: string) => ruleText(parseRule(s));
  assert.equal(canon('from any to all vms allow tcp port 22'), 'FROM any TO all vms ALLOW tcp PORT 22');
  assert.equal(
    canon(
      'FROM (tag www OR ip 172.30.0.250 OR ip 10.0.0.1 OR tag www) TO tag db ALLOW tcp (PORT 5432 AND port 80)',
    ),
    'FROM (ip 10.0.0.1 OR ip 172.30.0.250 OR tag www) TO tag db ALLOW tcp (PORT 80 AND PORT 5432)',
  );
  assert.equal(
    canon('FROM tag www TO any ALLOW tcp ports 443, 80, 8000 - 8100'),
    'FROM tag www TO any ALLOW tcp PORTS 80, 443, 8000-8100',
  );
  assert.equal(
    canon('FROM all vms TO tag "VM type" = "LDAP server" ALLOW tcp PORT 389'),
    'FROM all vms TO tag "VM type" = "LDAP server" ALLOW tcp PORT 389',
  );
  assert.equal(
    canon('FROM any TO all vms ALLOW icmp (TYPE 8 CODE 0 AND TYPE 0)'),
    'FROM any TO all vms ALLOW icmp (TYPE 0 AND TYPE 8 CODE 0)',
  );
  assert.equal(
    canon('FROM all vms TO any BLOCK tcp PORT all PRIORITY 1'),
    'FROM all vms TO any BLOCK tcp PORT all PRIORITY 1',
  );
  assert.equal(
    canon('FROM subnet fd22::/64 TO all vms ALLOW esp'),
    'FROM subnet fd22::/64 TO all vms ALLOW esp',
  );
  // The canonical text parses to itself.
  for (const s of ['FROM (ip 10.0.0.1 OR tag www) TO tag db ALLOW udp PORTS 53, 5000-5010'])
    assert.equal(canon(canon(s)), canon(s));
});

test('a payload is checked whole: every bad field at once', () => {
  assert.throws(
    () => makeRecord({ rule: 'invalid', uuid: 'invalid', owner_uuid: 'invalid', enabled: 'invalid' }),
    {
      message: [
        "Error at character 0: 'invalid', expected: 'FROM', found: word",
        'Invalid rule UUID "invalid"',
        'Invalid owner UUID "invalid"',
        'enabled must be true or false',
      ].join('\n'),
    },
  );
  assert.throws(() => makeRecord({}), { message: 'No rule specified!' });
  const r = makeRecord({ rule: 'FROM any TO all vms ALLOW tcp port 22', enabled: 'true' });
  assert.equal(r.enabled, true);
  assert.match(r.version, /^\d{13}\.\d{6}$/);
});

const vm = (uuid: string, ip: string, extra: Record<string, unknown> = {}) => ({
  uuid,
  nics: [{ nic_tag: 'stub0', ips: [`${ip}/24`] }],
  ...extra,
});
const U = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const rule = (uuid: string, text: string, extra: Partial<FwRuleRecord> = {}): FwRuleRecord => ({
  ...makeRecord({ rule: text, uuid, enabled: true }),
  ...extra,
});

test('compiling: only firewalled VMs are protected; peers are any VM the target names', () => {
  const vms = [
    vm(U(1), '10.0.0.1', { firewall_enabled: true, tags: { role: 'web' } }),
    vm(U(2), '10.0.0.2', { tags: { role: 'db' } }),
    vm(U(3), '10.0.0.3', { tags: { role: 'web' } }),
  ];
  const c = compile([rule(U(10), 'FROM tag role = db TO tag role = web ALLOW tcp PORT 80')], vms);
  assert.deepEqual(c.fw4, ['10.0.0.1']);
  const [r] = c.rules;
  assert.equal(r!.lines.i.length, 1);
  assert.match(r!.lines.i[0]!, /^ip daddr @p4_g_t\w+ ip saddr @a4_g_t\w+ tcp dport 80 accept$/);
  const sets = [...r!.sets.values()].map((s) => s.elements);
  assert.deepEqual(sets, [['10.0.0.1'], ['10.0.0.2']]);
  assert.deepEqual(r!.lines.o, [], 'the db VM has no firewall: nothing outbound');
  const script = fullScript(c, 'zonix_fw_test');
  assert.match(script, /chain in_0_a \{\n {4}jump r_0+40008000000000000010_i\n/);
  assert.match(
    ruleScript(c, U(10), { added: true }, 'zonix_fw_test'),
    /add rule inet zonix_fw_test in_0_a jump r_/,
  );
});

test('compiling: priorities and the action against the default come first; owners scope rules', () => {
  const owner = '11111111-1111-4111-8111-111111111111';
  const vms = [
    vm(U(1), '10.0.0.1', { firewall_enabled: true, owner_uuid: owner }),
    vm(U(2), '10.0.0.2', { firewall_enabled: true }),
  ];
  const c = compile(
    [
      rule(U(10), 'FROM any TO all vms BLOCK tcp PORT 25'),
      rule(U(11), 'FROM any TO all vms ALLOW tcp PORT 25'),
      rule(U(12), 'FROM subnet 10.9.0.0/16 TO all vms BLOCK tcp PORT 25 PRIORITY 5'),
      rule(U(13), 'FROM any TO all vms ALLOW tcp PORT 443', { owner_uuid: owner }),
    ],
    vms,
  );
  const s = fullScript(c, 't');
  const fwIn = s.split('chain fw_in {')[1]!.split('\n  }')[0]!;
  assert.ok(fwIn.indexOf('jump in_5_a') < fwIn.indexOf('jump in_5_b'));
  assert.ok(fwIn.indexOf('jump in_5_b') < fwIn.indexOf('jump in_0_a'));
  assert.ok(fwIn.indexOf('jump in_0_a') < fwIn.indexOf('jump in_0_b'));
  const owned = c.rules.find((r) => r.uuid === U(13))!;
  assert.equal(owned.lines.i.length, 1);
  assert.deepEqual(
    [...owned.sets.values()].map((x) => x.elements),
    [['10.0.0.1']],
    "only the owner's VM",
  );
  const sub = c.rules.find((r) => r.uuid === U(12))!;
  assert.deepEqual(sub.lines.i, ['meta nfproto ipv4 ip saddr 10.9.0.0/16 tcp dport 25 drop']);
});
