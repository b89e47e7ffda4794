/**
 * The cloud firewall with real zones and real traffic on an etherstub this test makes (addresses that
 * exist only there): default inbound block with outbound and its answers allowed, a rule that opens
 * TCP 80 and not 22, that follows a VM added later by tag and lets go of a deleted one, rules by VM,
 * disable and enable, fwadm's output and errors, and no table left once nothing needs one.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  cli,
  createVm,
  leaks,
  makeTestEnv,
  makeZonePool,
  ok,
  teardown,
  zoneTestSkip,
} from '../helpers/host.ts';
import { netLeaks } from '../helpers/net.ts';

const skip = zoneTestSkip();

describe('fwadm: the cloud firewall', { skip, timeout: 600_000 }, () => {
  const env = makeTestEnv('fw');
  const P = `${env.prefix}p`;
  const S = `${env.prefix}s0`;
  const TABLE = `${env.prefix}_fw`;
  process.env.ZONIX_SYSTEM_POOL = P;
  process.env.ZONIX_FW_TABLE = TABLE;
  const uuids: string[] = [];
  let image = '';

  const zone = (ip: string, extra: Record<string, unknown> = {}) =>
    createVm(env.dir, {
      brand: 'joyent-minimal',
      image_uuid: image,
      max_physical_memory: 64,
      nics: [{ nic_tag: S, ips: [`${ip}/24`] }],
      ...extra,
    }).then((u) => (uuids.push(u), u));
  /** Web servers on 80 and 22 in a zone (busybox httpd, which goes to the background itself). */
  const serve = async (uuid: string) => {
    await ok('zlogin', [uuid, 'sh', '-c', 'mkdir -p /srv && echo ok > /srv/index.html']);
    for (const port of ['80', '22']) await ok('zlogin', [uuid, 'httpd', '-p', port, '-h', '/srv']);
  };
  const reaches = async (from: string, ip: string, port: number) =>
    // busybox wget's own -T crashes it here: timeout(1) bounds the try.
    (await cli('zlogin', [from, 'timeout', '1', 'wget', '-q', '-O', '-', `http://${ip}:${port}/`])).stdout ===
    'ok\n';
  const table = () => {
    try {
      return execFileSync('nft', ['list', 'table', 'inet', TABLE], { encoding: 'utf8', stdio: 'pipe' });
    } catch {
      return '';
    }
  };

  let web = '';
  let client = '';
  let rule80 = '';

  before(async () => {
    image = await makeZonePool(env, P);
    await ok('nictagadm', ['add', '-l', S]);
  });

  after(async () => {
    for (const u of uuids) await cli('vmadm', ['delete', u]);
    for (const r of (await cli('fwadm', ['list', '-p', '-o', 'uuid'])).stdout.split('\n').filter(Boolean))
      await cli('fwadm', ['delete', r]);
    await cli('nictagadm', ['delete', '-f', S]);
    const stray = table() !== '';
    if (stray) execFileSync('nft', ['delete', 'table', 'inet', TABLE]);
    assert.equal(stray, false, 'the firewall table outlived its rules and VMs');
    const left = netLeaks(env.prefix, uuids, env.dir);
    await teardown(env, [P], uuids);
    assert.deepEqual(left, []);
    assert.deepEqual(leaks(env), []);
  });

  it('blocks what comes in to a firewalled zone; what it sends, and the answers, pass', async () => {
    web = await zone('10.206.0.1', { firewall_enabled: true, tags: { role: 'web' } });
    client = await zone('10.206.0.2');
    await serve(web);
    await serve(client);
    assert.ok(!(await reaches(client, '10.206.0.1', 80)));
    assert.ok(!(await reaches(client, '10.206.0.1', 22)));
    assert.ok(await reaches(web, '10.206.0.2', 80), 'outbound and its answers');
    assert.equal((await ok('fwadm', ['status', web])).trim(), 'running');
    assert.equal((await ok('fwadm', ['status', client])).trim(), 'stopped');
  });

  it('a rule opens TCP 80 and not 22', async () => {
    const out = await ok('fwadm', [
      'add',
      '-e',
      '--desc',
      'web',
      'FROM any TO tag role = web ALLOW tcp port 80',
    ]);
    const m = /^Added rules:\n([0-9a-f-]{36}) true {4}FROM any TO tag role = web ALLOW tcp PORT 80\n$/.exec(
      out,
    );
    assert.ok(m, out);
    rule80 = m[1]!;
    assert.ok(await reaches(client, '10.206.0.1', 80));
    assert.ok(!(await reaches(client, '10.206.0.1', 22)));
    const got = JSON.parse(await ok('fwadm', ['get', rule80])) as Record<string, unknown>;
    assert.deepEqual(Object.keys(got), ['description', 'enabled', 'rule', 'uuid', 'version']);
    assert.deepEqual([got.description, got.enabled], ['web', true]);
    assert.match(got.version as string, /^\d{13}\.\d{6}$/);
    assert.equal((await ok('fwadm', ['vms', rule80])).trim(), web);
    assert.match(
      await ok('fwadm', ['list']),
      new RegExp(`^UUID {33}ENABLED RULE\n${rule80} true {4}FROM any`),
    );
    assert.equal(await ok('fwadm', ['list', '-p', '-o', 'uuid,description']), `${rule80}:web\n`);
    assert.match(await ok('fwadm', ['rules', web]), new RegExp(rule80));
  });

  it('follows a VM added later by its tag, and lets go of it when it is deleted', async () => {
    const web2 = await zone('10.206.0.3', { firewall_enabled: true, tags: { role: 'web' } });
    await serve(web2);
    assert.ok(await reaches(client, '10.206.0.3', 80));
    assert.ok(!(await reaches(client, '10.206.0.3', 22)));
    assert.deepEqual((await ok('fwadm', ['vms', rule80])).trim().split('\n').sort(), [web, web2].sort());
    await ok('vmadm', ['delete', web2]);
    assert.equal((await ok('fwadm', ['vms', rule80])).trim(), web);
    assert.ok(!table().includes('10.206.0.3'), 'the deleted VM is out of the table');
  });

  it('rules by VM open one port to one peer; disable and enable apply at once', async () => {
    const out = await ok('fwadm', ['add', '-e', `FROM vm ${client} TO vm ${web} ALLOW tcp PORT 22`]);
    const rule22 = /([0-9a-f-]{36})/.exec(out)![1]!;
    assert.ok(await reaches(client, '10.206.0.1', 22));
    assert.match(await ok('fwadm', ['disable', rule80]), /^Disabled rules:\n.* false {3}FROM any/);
    assert.ok(!(await reaches(client, '10.206.0.1', 80)));
    assert.ok(await reaches(client, '10.206.0.1', 22));
    assert.match(await ok('fwadm', ['list', '-p']), new RegExp(`^${rule80}:-:FROM`, 'm'));
    await ok('fwadm', ['enable', rule80]);
    assert.ok(await reaches(client, '10.206.0.1', 80));
    assert.match(await ok('fwadm', ['delete', rule22]), new RegExp(`^Deleted rules:\n${rule22} true`));
    assert.ok(!(await reaches(client, '10.206.0.1', 22)));
  });

  it('refuses a rule that does not parse, saying where, and stores nothing', async () => {
    const before = await ok('fwadm', ['list', '-p']);
    const bad = await cli('fwadm', ['add', 'FROM foo TO ip 8.8.8.8 ALLOW udp port 53']);
    assert.deepEqual(
      [bad.code, bad.stderr],
      [
        1,
        "Error at character 4: 'foo', expected: '(', 'all', 'any', 'ip', 'subnet', 'vm', 'tag', found: word\n",
      ],
    );
    const j = await cli('fwadm', ['add', '-j', 'FROM any TO all vms ALLOW tcp port 0']);
    assert.equal(j.code, 1);
    assert.deepEqual(JSON.parse(j.stderr), { errors: [{ message: 'Port number "0" is invalid' }] });
    const none = await cli('fwadm', ['get', '00000000-0000-4000-8000-000000000000']);
    assert.deepEqual(
      [none.code, none.stderr],
      [1, 'Rule "00000000-0000-4000-8000-000000000000" does not exist\n'],
    );
    assert.deepEqual([(await cli('fwadm', ['get', 'nope'])).stderr], ['Error: invalid UUID "nope"\n']);
    assert.equal((await cli('fwadm', ['frob'])).code, 2);
    assert.equal(await ok('fwadm', ['list', '-p']), before);
  });

  it('fwadm stop and start turn a VM firewall off and on', async () => {
    assert.equal((await ok('fwadm', ['stop', web])).trim(), `Firewall stopped for VM ${web}`);
    assert.ok(await reaches(client, '10.206.0.1', 22));
    await ok('fwadm', ['start', web]);
    assert.ok(!(await reaches(client, '10.206.0.1', 22)));
    assert.ok(await reaches(client, '10.206.0.1', 80));
  });

  it('leaves no table once there are no rules and no firewalled VM', async () => {
    await ok('fwadm', ['delete', rule80]);
    assert.notEqual(table(), '', 'the firewalled VM still has its table');
    await ok('vmadm', ['delete', web]);
    assert.equal(table(), '');
  });
});
