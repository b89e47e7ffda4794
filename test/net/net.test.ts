/**
 * Networking with real zones and real traffic, on etherstubs and namespaces this test makes, on
 * addresses that exist only there: nictagadm, VM NICs, isolation between etherstubs and VLANs,
 * anti-spoofing, live changes, bandwidth caps, a host network with DHCP and NAT to an "outside"
 * namespace, and nothing left behind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cli,
  createVm,
  leaks,
  makeTestEnv,
  makeZonePool,
  ok,
  ROOT,
  startZonixd,
  teardown,
  zoneTestSkip,
} from '../helpers/host.ts';
import { netLeaks, tryRun } from '../helpers/net.ts';

const skip = zoneTestSkip();

describe('networking: nic tags, NICs, anti-spoofing, caps, host networks', { skip, timeout: 600_000 }, () => {
  const env = makeTestEnv('net');
  const P = `${env.prefix}p`;
  const A = `${env.prefix}a0`;
  const B = `${env.prefix}b0`;
  const H = `${env.prefix}h0`;
  const OUT = `${env.prefix}o`;
  const TABLE = `${env.prefix}_fw`;
  process.env.ZONIX_FW_TABLE = TABLE;
  const uuids: string[] = [];
  let image = '';
  process.env.ZONIX_SYSTEM_POOL = P;

  const zone = (uuid: string, nics: Record<string, unknown>[], extra: Record<string, unknown> = {}) =>
    createVm(env.dir, {
      brand: 'joyent-minimal',
      image_uuid: image,
      max_physical_memory: 64,
      nics,
      ...extra,
    }).then((u) => (uuids.push(u), u));
  const pings = async (uuid: string, ip: string, from?: string) =>
    (await cli('zlogin', [uuid, 'ping', '-c', '1', '-W', '1', ...(from ? ['-I', from] : []), ip])).code === 0;
  const macOf = async (uuid: string, i = 0) =>
    (JSON.parse(await ok('vmadm', ['get', uuid])) as { nics: { mac: string }[] }).nics[i]!.mac;

  before(async () => {
    image = await makeZonePool(env, P);
    await ok('nictagadm', ['add', '-l', A]);
    await ok('nictagadm', ['add', '-l', B]);
  });

  after(async () => {
    for (const u of uuids) await cli('vmadm', ['delete', u]);
    for (const t of [A, B, H]) await cli('nictagadm', ['delete', '-f', t]);
    tryRun('ip', ['netns', 'del', OUT]);
    tryRun('ip', ['link', 'del', `${env.prefix}x`]);
    const left = netLeaks(env.prefix, uuids, env.dir);
    await teardown(env, [P], uuids);
    assert.deepEqual(left, []);
    assert.deepEqual(leaks(env), []);
  });

  it('nictagadm adds, lists, checks and refuses as SmartOS does', async () => {
    const list = await ok('nictagadm', ['list', '-p', '-l']);
    assert.match(list, new RegExp(`^${A}:-:-:etherstub$`, 'm'));
    assert.match(await ok('nictagadm', ['list']), /^NAME {11}MACADDRESS {9}LINK {11}TYPE/);
    assert.equal((await cli('nictagadm', ['exists', A])).code, 0);
    const missing = await cli('nictagadm', ['exists', `${env.prefix}zz0`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /invalid tag: /);
    const dup = await cli('nictagadm', ['add', '-l', A]);
    assert.deepEqual([dup.code, dup.stderr], [1, `Error: nic tag '${A}' already exists\n`]);
    const bad = await cli('nictagadm', ['add', '-l', 'nodigit']);
    assert.deepEqual([bad.code, bad.stderr], [1, 'Error: nic tag name is invalid\n']);
    const noMac = await cli('nictagadm', ['add', `${env.prefix}t`]);
    assert.match(noMac.stderr, /create non-local tag, but no mac address specified/);
    assert.equal((await cli('nictagadm', ['frob'])).code, 2);
  });

  it('refuses an unknown nic tag and a conflicting IP, creating nothing', async () => {
    const before = await ok('vmadm', ['list', '-H', '-o', 'uuid']);
    const r = await cli('vmadm', ['create'], {
      input: JSON.stringify({
        brand: 'joyent-minimal',
        image_uuid: image,
        nics: [{ nic_tag: 'nosuchtag', ip: 'dhcp' }],
      }),
    });
    assert.deepEqual([r.code, r.stderr.trim()], [1, 'Invalid nic tag "nosuchtag"']);
    const u = await zone('', [{ nic_tag: A, ip: '10.201.0.1', netmask: '255.255.255.0' }], {
      autoboot: false,
    });
    const c = await cli('vmadm', ['create'], {
      input: JSON.stringify({
        brand: 'joyent-minimal',
        image_uuid: image,
        nics: [{ nic_tag: A, ips: ['10.201.0.1/24'] }],
      }),
    });
    assert.deepEqual(
      [c.code, c.stderr.trim()],
      [1, 'Conflict detected with another vm, please check the MAC, IP, and VRID'],
    );
    assert.equal(await ok('vmadm', ['list', '-H', '-o', 'uuid']), `${before}${u}\n`.replace(/^\n/, ''));
    const inUse = await cli('nictagadm', ['delete', A]);
    assert.deepEqual([inUse.code, inUse.stderr], [1, `Error: nic tag '${A}' is in use\n`]);
    assert.equal((await ok('nictagadm', ['vms', A])).trim(), u);
    await ok('vmadm', ['delete', u]);
  });

  let z1 = '';
  let z2 = '';
  it('connects zones on one etherstub and keeps another etherstub apart', async () => {
    z1 = await zone('', [{ nic_tag: A, ips: ['10.202.0.1/24'], gateways: ['10.202.0.254'] }]);
    z2 = await zone('', [{ nic_tag: A, ips: ['10.202.0.2/24'] }], { resolvers: ['10.202.0.53'] });
    const z3 = await zone('', [{ nic_tag: B, ips: ['10.202.0.3/24'] }]);
    assert.ok(await pings(z1, '10.202.0.2'));
    assert.ok(!(await pings(z1, '10.202.0.3')));
    assert.ok(!(await pings(z3, '10.202.0.2')));
    assert.match(await ok('zlogin', [z1, 'ip', 'route']), /default via 10\.202\.0\.254 dev net0/);
    const nic = (JSON.parse(await ok('vmadm', ['get', z1])) as { nics: Record<string, unknown>[] }).nics[0]!;
    assert.deepEqual(
      [nic.interface, nic.nic_tag, nic.ip, nic.netmask, nic.gateway, nic.ips, nic.primary],
      ['net0', A, '10.202.0.1', '255.255.255.0', '10.202.0.254', ['10.202.0.1/24'], true],
    );
    assert.match(await ok('zlogin', [z2, 'cat', '/etc/resolv.conf']), /nameserver 10\.202\.0\.53/);
    assert.match(await ok('zlogin', [z1, 'cat', '/sys/class/net/net0/address']), new RegExp(await macOf(z1)));
    await ok('vmadm', ['delete', z3]);
  });

  it('drops what a zone sends from an address or MAC it was not given, until spoofing is allowed', async () => {
    await ok('zlogin', [z1, 'ip', 'addr', 'add', '10.202.0.9/24', 'dev', 'net0']);
    assert.ok(!(await pings(z1, '10.202.0.2', '10.202.0.9')));
    const mac = await macOf(z1);
    await ok('vmadm', ['update', z1], {
      input: JSON.stringify({ update_nics: [{ mac, allowed_ips: ['10.202.0.9'] }] }),
    });
    assert.ok(await pings(z1, '10.202.0.2', '10.202.0.9'));
    // A new MAC: nobody hears it, until allow_mac_spoofing.
    await ok('zlogin', [z1, 'ip', 'link', 'set', 'net0', 'address', '02:11:22:33:44:55']);
    await ok('zlogin', [z1, 'ip', 'neigh', 'flush', 'all']);
    assert.ok(!(await pings(z1, '10.202.0.2')));
    await ok('vmadm', ['update', z1], {
      input: JSON.stringify({ update_nics: [{ mac, allow_mac_spoofing: true }] }),
    });
    assert.ok(await pings(z1, '10.202.0.2'));
    await ok('zlogin', [z1, 'ip', 'link', 'set', 'net0', 'address', mac]);
    for (const z of [z1, z2]) await ok('zlogin', [z, 'ip', 'neigh', 'flush', 'all']);
    assert.ok(await pings(z1, '10.202.0.2'));
  });

  it('dladm shows links, VNICs and etherstubs, makes etherstubs and sets maxbw, as illumos does', async () => {
    const E = `${env.prefix}e0`;
    await ok('dladm', ['create-etherstub', E]);
    assert.equal(await ok('dladm', ['show-etherstub', E]), `LINK\n${E}\n`);
    assert.match(await ok('nictagadm', ['list', '-p', '-l']), new RegExp(`^${E}:-:-:etherstub$`, 'm'));
    const dup = await cli('dladm', ['create-etherstub', E]);
    assert.deepEqual(
      [dup.code, dup.stderr],
      [1, 'dladm: etherstub creation failed: object already exists\n'],
    );
    assert.match(
      await ok('dladm', ['show-link', '-p', '-o', 'link,class']),
      new RegExp(`^${E}:etherstub$`, 'm'),
    );
    await ok('dladm', ['delete-etherstub', E]);
    assert.equal((await cli('dladm', ['show-etherstub', E])).code, 1);
    const busy = await cli('dladm', ['delete-etherstub', A]);
    assert.deepEqual([busy.code, busy.stderr], [1, 'dladm: etherstub deletion failed: link busy\n']);

    const phys = await ok('dladm', ['show-phys']);
    assert.match(phys, /^LINK {9}MEDIA {16}STATE {6}SPEED {2}DUPLEX {4}DEVICE\n/);
    assert.ok(!/^zx/m.test(phys), 'VM links are not physical');
    const mac = await macOf(z1);
    const vnic = (await ok('dladm', ['show-vnic', '-p', '-o', 'link,over,macaddress,vid,zone']))
      .split('\n')
      .find((l) => l.endsWith(`:${z1}`));
    const illumos = mac
      .split(':')
      .map((b) => b.replace(/^0(?=.)/, ''))
      .join('\\:');
    assert.equal(vnic, `zx${z1.replace(/-/g, '').slice(0, 9)}n0:${A}:${illumos}:0:${z1}`);
    assert.match(
      await ok('dladm', ['show-vnic']),
      /^LINK {9}OVER {9}SPEED {2}MACADDRESS {8}MACADDRTYPE {9}VID\n/,
    );
    const ptxt = await cli('dladm', ['show-vnic', '-p']);
    assert.deepEqual([ptxt.code, ptxt.stderr], [1, 'dladm: -p requires -o\n']);

    await ok('dladm', ['set-linkprop', '-p', 'maxbw=50M', '-z', z1, 'net0']);
    const got = (JSON.parse(await ok('vmadm', ['get', z1])) as { nics: { maxbw?: string }[] }).nics[0]!;
    assert.equal(got.maxbw, '50M');
    const prop = ['show-linkprop', '-c', '-o', 'value', '-p', 'maxbw', '-z', z1, 'net0'];
    assert.equal(await ok('dladm', prop), '50\n');
    assert.match(
      execFileSync('tc', ['qdisc', 'show', 'dev', vnic.split(':')[0]!], { encoding: 'utf8' }),
      /tbf .*rate 50Mbit/,
    );
    const bad = await cli('dladm', ['set-linkprop', '-p', 'maxbw=fast', '-z', z1, 'net0']);
    assert.deepEqual(
      [bad.code, bad.stderr],
      [1, "dladm: warning: invalid link property value 'fast' for 'maxbw'\n"],
    );
    await ok('dladm', ['reset-linkprop', '-p', 'maxbw', '-z', z1, 'net0']);
    assert.equal(await ok('dladm', prop), '--\n');
  });

  it('keeps VLAN 10 and VLAN 20 on one tag apart', async () => {
    const v10a = await zone('', [{ nic_tag: B, vlan_id: 10, ips: ['10.203.0.1/24'] }]);
    const v10b = await zone('', [{ nic_tag: B, vlan_id: 10, ips: ['10.203.0.2/24'] }]);
    const v20 = await zone('', [{ nic_tag: B, vlan_id: 20, ips: ['10.203.0.3/24'] }]);
    assert.ok(await pings(v10a, '10.203.0.2'));
    assert.ok(!(await pings(v10a, '10.203.0.3')));
    assert.ok(!(await pings(v20, '10.203.0.2')));
    for (const u of [v10a, v10b, v20]) await ok('vmadm', ['delete', u]);
  });

  it('caps a NIC at its maxbw in both directions', async () => {
    const mac = await macOf(z2);
    await ok('vmadm', ['update', z2], { input: JSON.stringify({ update_nics: [{ mac, maxbw: '20M' }] }) });
    // The receiver runs `cat > /dev/null` on the connection and ends when the sender closes it: the
    // time from the first byte sent to the receiver's end is the whole transfer.
    const send = async (from: string, to: string, toIp: string) => {
      const server = cli('zlogin', [to, 'nc', '-l', '-p', '5001', '-e', 'sh', '-c', 'cat > /dev/null']);
      await new Promise((r) => setTimeout(r, 400));
      const t0 = performance.now();
      await ok('zlogin', [from, 'sh', '-c', `head -c 10485760 /dev/zero | nc ${toIp} 5001`]);
      assert.equal((await server).code, 0);
      return (performance.now() - t0) / 1000;
    };
    // 10 MiB at 20 Mbit/s: 4.2 s.
    const up = await send(z2, z1, '10.202.0.1');
    const down = await send(z1, z2, '10.202.0.2');
    for (const s of [up, down]) assert.ok(s > 3.5 && s < 6.5, `10 MiB took ${s.toFixed(2)} s at 20M`);
    await ok('vmadm', ['update', z2], { input: JSON.stringify({ update_nics: [{ mac, maxbw: '' }] }) });
    assert.ok((await send(z2, z1, '10.202.0.1')) < 1.5);
  });

  it('serves DHCP on a host network and NATs its zones to the outside', async () => {
    await ok('nictagadm', ['add', '-l', '-p', 'gateway=10.204.0.1/24', H]);
    // The "outside": a namespace behind a veth, with no route back to 10.204.0.0/24.
    execFileSync('ip', ['netns', 'add', OUT]);
    execFileSync('ip', [
      'link',
      'add',
      `${env.prefix}x`,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      OUT,
    ]);
    execFileSync('ip', ['addr', 'add', '10.205.0.1/24', 'dev', `${env.prefix}x`]);
    execFileSync('ip', ['link', 'set', `${env.prefix}x`, 'up']);
    execFileSync('ip', ['-n', OUT, 'addr', 'add', '10.205.0.2/24', 'dev', 'eth0']);
    execFileSync('ip', ['-n', OUT, 'link', 'set', 'eth0', 'up']);
    const d = await zone('', [{ nic_tag: H, ip: 'dhcp', primary: true }]);
    const addr = await ok('zlogin', [d, 'ip', '-4', 'addr', 'show', 'net0']);
    assert.match(addr, /inet 10\.204\.0\.(12[89]|1[3-9]\d|2[0-4]\d|25[0-4])\/24/);
    assert.match(await ok('zlogin', [d, 'ip', 'route']), /default via 10\.204\.0\.1/);
    assert.match(await ok('zlogin', [d, 'cat', '/etc/resolv.conf']), /nameserver 10\.204\.0\.1/);
    assert.ok(await pings(d, '10.205.0.2'));
    // zonixd starts a host network's DHCP server again when it dies.
    const dnsmasq = () =>
      readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
            return cmd.split('\0')[0]!.endsWith('dnsmasq') && cmd.includes(env.dir);
          } catch {
            return false;
          }
        });
    const [first] = dnsmasq();
    assert.ok(first, 'dnsmasq serves the host network');
    process.env.ZONIX_SUPERVISE_MS = '200';
    const daemon = await startZonixd();
    delete process.env.ZONIX_SUPERVISE_MS;
    try {
      process.kill(Number(first), 'SIGKILL');
      let again: string | undefined;
      const said = new RegExp(`network ${H}: dnsmasq was gone, started again`);
      for (let i = 0; i < 50 && !(again && said.test(daemon.log())); i++) {
        await new Promise((r) => setTimeout(r, 100));
        again = dnsmasq().find((p) => p !== first);
      }
      assert.ok(again, `dnsmasq came back: ${daemon.log()}`);
      assert.match(daemon.log(), said);
    } finally {
      await daemon.stop();
    }
    await ok('vmadm', ['delete', d]);
    await ok('nictagadm', ['delete', H]);
  });

  it('a vmadm killed (-9) in create, start or delete leaves no link, table or qdisc once zonix boot ran', async (t) => {
    const seen: string[] = [];
    const mine = (u: string) => netLeaks('\0none', [u], env.dir);
    const state = async (u: string) =>
      (await ok('vmadm', ['list', '-H', '-o', 'state', `uuid=${u}`])).trim() || 'gone';
    const killAfter = async (args: string[], ms: number) => {
      const child = spawn(join(ROOT, 'bin', 'vmadm'), args, { stdio: 'ignore', env: process.env });
      const closed = new Promise((r) => child.on('close', r));
      await new Promise((r) => setTimeout(r, ms));
      child.kill('SIGKILL');
      await closed;
    };
    const payload = (uuid: string, autoboot: boolean) => {
      const f = join(env.dir, `${uuid}.json`);
      writeFileSync(
        f,
        JSON.stringify({
          uuid,
          brand: 'joyent-minimal',
          image_uuid: image,
          max_physical_memory: 64,
          autoboot,
          firewall_enabled: true,
          nics: [{ nic_tag: A, ips: ['10.207.0.1/24'], maxbw: '50M' }],
        }),
      );
      return f;
    };
    /** After the crash and `zonix boot`: a running VM has all it should, any other VM nothing. */
    const consistent = async (u: string, what: string) => {
      const r = await cli('zonix', ['boot', '-q']);
      assert.equal(r.code, 0, r.stderr);
      const st = await state(u);
      seen.push(`${what}: ${st}`);
      if (st === 'running') assert.ok(mine(u).length >= 2, `${what}: a running VM has its links`);
      else assert.deepEqual(mine(u), [], `${what}: VM ${st} left ${mine(u).join(', ')}`);
      if (st !== 'gone') await ok('vmadm', ['delete', u]);
      assert.deepEqual(mine(u), [], `${what}: after delete`);
    };
    for (const ms of [150, 300, 500, 800]) {
      const u = randomUUID();
      uuids.push(u);
      await killAfter(['create', '-f', payload(u, true)], ms);
      await consistent(u, `create killed after ${ms} ms`);

      const s = randomUUID();
      uuids.push(s);
      await ok('vmadm', ['create', '-f', payload(s, false)]);
      await killAfter(['start', s], ms / 2);
      await consistent(s, `start killed after ${ms / 2} ms`);

      const d = randomUUID();
      uuids.push(d);
      await ok('vmadm', ['create', '-f', payload(d, true)]);
      await killAfter(['delete', d], ms / 3);
      await consistent(d, `delete killed after ${ms / 3} ms`);
    }
    t.diagnostic(seen.join('; '));
    assert.equal(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }).includes(TABLE), false);
  });

  it('takes away what a zone that ended on its own left, at the next create', async () => {
    const runc = execFileSync('which', ['runc'], { encoding: 'utf8' }).trim();
    execFileSync(runc, ['--root', `${process.env.ZONIX_RUN_DIR!}/runc`, 'kill', z2, 'KILL']);
    for (
      let i = 0;
      i < 100 && (await ok('vmadm', ['list', '-H', '-o', 'state', `uuid=${z2}`])).trim() === 'running';
      i++
    )
      await new Promise((r) => setTimeout(r, 50));
    const other = await zone('', [], { autoboot: false });
    assert.ok(
      !execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }).includes(`zx_${z2.replace(/-/g, '')}`),
    );
    await ok('vmadm', ['delete', other]);
  });
});
