/**
 * The metadata service in real zones: the mdata tools under /native, SmartOS's namespace scenario,
 * KEYS, sdc: keys against `vmadm get`, changes seen without a restart, boot-time provisioning
 * (user-script once across reboots, root_authorized_keys, hostname, operator-script each boot), a
 * zone flooding its socket while another keeps being answered, and a server killed -9 that comes
 * back with the zones' next request.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cli,
  createVm,
  envProcesses,
  leaks,
  makeTestEnv,
  makeZonePool,
  ok,
  ROOT,
  teardown,
  zoneTestSkip,
} from '../helpers/host.ts';
import { askMetadata, type ControlReply, type ControlRequest } from '../../src/metadata/index.ts';

const skip = zoneTestSkip();

/** One request on the host's metadata control socket (the test's run folder's). */
async function control(req: ControlRequest): Promise<ControlReply> {
  const r = await askMetadata(req);
  assert.ok(r, 'zonix-metadata answers');
  return r;
}

const waitFor = async (what: string, fn: () => Promise<boolean>, ms = 15_000) => {
  for (const t0 = Date.now(); Date.now() - t0 < ms;) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`timed out waiting for ${what}`);
};

describe('metadata: mdata-* in zones', { skip, timeout: 600_000 }, () => {
  const env = makeTestEnv('md');
  const P = `${env.prefix}p`;
  const S = `${env.prefix}s0`;
  process.env.ZONIX_SYSTEM_POOL = P;
  const uuids: string[] = [];
  let image = '';
  let a = '';
  let b = '';
  const zl = (u: string, ...args: string[]) => cli('zlogin', [u, ...args]);

  before(async () => {
    image = await makeZonePool(env, P);
    await ok('nictagadm', ['add', '-l', S]);
    a = await createVm(env.dir, {
      brand: 'joyent-minimal',
      image_uuid: image,
      alias: 'mdtest',
      hostname: 'mdhost',
      max_physical_memory: 64,
      nics: [{ nic_tag: S, ips: ['10.231.0.5/24'], gateways: ['10.231.0.1'], primary: true }],
      resolvers: ['10.231.0.53'],
      tags: { role: 'web' },
      internal_metadata_namespaces: ['baz', 'foo'],
      customer_metadata: {
        'bar:foo': 'customer',
        'user-script': '#!/bin/sh\necho ran >> /root/user-script-runs\n',
        root_authorized_keys: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZvbw test@zonix',
      },
      internal_metadata: { 'foo:bar': 'internal', 'operator-script': 'echo op >> /root/operator-runs' },
    });
    uuids.push(a);
    b = await createVm(env.dir, { brand: 'joyent-minimal', image_uuid: image, max_physical_memory: 64 });
    uuids.push(b);
  });

  after(async () => {
    for (const u of uuids) await cli('vmadm', ['delete', u]);
    await cli('nictagadm', ['delete', '-f', S]);
    await teardown(env, [P], uuids);
    assert.deepEqual(leaks(env), []);
  });

  it('has the tools under /native/usr/sbin, on the PATH, with SmartOS usage errors', async () => {
    assert.match(
      await ok('zlogin', [a, 'ls', '/native/usr/sbin']),
      /mdata-delete\nmdata-get\nmdata-list\nmdata-put/,
    );
    const r = await zl(a, 'mdata-get');
    assert.equal(r.code, 3);
    assert.equal(r.stderr, 'mdata-get: Usage: mdata-get <keyname>\n');
    assert.equal((await zl(a, 'sh', '-lc', 'command -v mdata-put')).stdout, '/native/usr/sbin/mdata-put\n');
  });

  it('serves the reference namespace scenario', async () => {
    assert.equal(await ok('zlogin', [a, 'mdata-get', 'foo:bar']), 'internal\n');
    assert.equal(await ok('zlogin', [a, 'mdata-get', 'bar:foo']), 'customer\n');
    const refused = await zl(a, 'mdata-put', 'foo:qux', 'value');
    assert.equal(refused.code, 2);
    assert.equal(
      refused.stderr,
      `Error putting metadata for key 'foo:qux': Cannot update the "foo" Namespace.\n`,
    );
    const sdc = await zl(a, 'mdata-delete', 'sdc:uuid');
    assert.equal(sdc.code, 2);
    assert.match(sdc.stderr, /Cannot update the "sdc" Namespace\./);
    await ok('zlogin', [a, 'mdata-put', 'quux:qux', 'value']);
    const vm = JSON.parse(await ok('vmadm', ['get', a])) as Record<string, Record<string, string>>;
    assert.equal(vm.customer_metadata!['quux:qux'], 'value');
    assert.equal(vm.internal_metadata!['quux:qux'], undefined);
    const missing = await zl(a, 'mdata-get', 'nope');
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, "No metadata for 'nope'\n");
  });

  it('lists keys, takes values from stdin, deletes, and sees vmadm update at once', async () => {
    const keys = (await ok('zlogin', [a, 'mdata-list'])).split('\n').filter(Boolean);
    assert.deepEqual(keys, ['bar:foo', 'user-script', 'root_authorized_keys', 'quux:qux', 'foo:bar']);
    await ok('zlogin', [a, 'sh', '-c', 'printf "line1\\nline2\\n" | mdata-put multi']);
    assert.equal(await ok('zlogin', [a, 'mdata-get', 'multi']), 'line1\nline2\n');
    await ok('zlogin', [a, 'mdata-delete', 'multi']);
    // A value too large for the server is refused at once, not left unanswered.
    const big = await zl(a, 'sh', '-c', 'head -c 2000000 /dev/zero | tr "\\0" x | mdata-put big');
    assert.equal(big.code, 2);
    assert.equal(
      big.stderr,
      "Error putting metadata for key 'big': Request too large (over 1048576 bytes)\n",
    );
    assert.equal((await zl(a, 'mdata-get', 'multi')).code, 1);
    await ok('vmadm', ['update', a], {
      input: JSON.stringify({ set_customer_metadata: { fresh: 'from vmadm' } }),
    });
    assert.equal(await ok('zlogin', [a, 'mdata-get', 'fresh']), 'from vmadm\n');
  });

  it('gives the sdc: keys as the VM is', async () => {
    const vm = JSON.parse(await ok('vmadm', ['get', a])) as Record<string, unknown>;
    assert.equal(await ok('zlogin', [a, 'mdata-get', 'sdc:uuid']), `${a}\n`);
    assert.equal(await ok('zlogin', [a, 'mdata-get', 'sdc:alias']), 'mdtest\n');
    assert.equal(await ok('zlogin', [a, 'mdata-get', 'sdc:hostname']), 'mdhost\n');
    assert.equal(await ok('zlogin', [a, 'mdata-get', 'sdc:image_uuid']), `${image}\n`);
    assert.equal(await ok('zlogin', [a, 'mdata-get', 'sdc:max_physical_memory']), '64\n');
    assert.deepEqual(JSON.parse(await ok('zlogin', [a, 'mdata-get', 'sdc:nics'])), vm.nics);
    assert.deepEqual(JSON.parse(await ok('zlogin', [a, 'mdata-get', 'sdc:resolvers'])), ['10.231.0.53']);
    assert.deepEqual(JSON.parse(await ok('zlogin', [a, 'mdata-get', 'sdc:tags'])), { role: 'web' });
    assert.match(await ok('zlogin', [a, 'mdata-get', 'sdc:server_uuid']), /^[0-9a-f-]{36}\n$/);
    assert.equal(
      await ok('zlogin', [a, 'mdata-get', 'sdc:operator-script']),
      'echo op >> /root/operator-runs\n',
    );
    assert.equal((await zl(a, 'mdata-list')).stdout.includes('sdc:'), false);
  });

  it('answers on the serial-like /dev/ttyS1 too (V1 lines, a raw line: no echo)', async () => {
    const serial = 'exec 3<>/dev/ttyS1; printf "\\nNEGOTIATE V2\\nGET sdc:alias\\n" >&3; head -n 5 <&3';
    assert.equal(await ok('zlogin', [a, 'sh', '-c', serial]), 'invalid command\nV2_OK\nSUCCESS\nmdtest\n.\n');
  });

  it('provisions at boot: user-script once across reboots, keys, hostname, operator-script each boot', async () => {
    const cat = async (f: string) => (await zl(a, 'cat', f)).stdout;
    await waitFor(
      'the first boot user-script',
      async () => (await cat('/root/user-script-runs')) === 'ran\n',
    );
    assert.match(await cat('/root/.ssh/authorized_keys'), /^ssh-ed25519 AAAA\S+ test@zonix\n$/);
    assert.equal((await ok('zlogin', [a, 'hostname'])).trim(), 'mdhost');
    assert.match(await cat('/var/svc/log/smartdc-mdata:execute.log'), /user-script: exited 0/);
    for (let i = 0; i < 2; i++) {
      await ok('vmadm', ['reboot', a]);
      await waitFor(
        `operator-script after reboot ${i + 1}`,
        async () => (await cat('/root/operator-runs')).split('\n').filter(Boolean).length === i + 2,
      );
    }
    assert.equal(await cat('/root/user-script-runs'), 'ran\n');
  });

  it('keeps answering one zone while another floods its socket', async () => {
    const spam = join(env.dir, 'spam');
    execFileSync('cc', ['-static', '-Os', '-o', spam, join(ROOT, 'test/metadata/spam.c')]);
    const vmB = JSON.parse(await ok('vmadm', ['get', b])) as { zonepath: string };
    copyFileSync(spam, join(vmB.zonepath, 'root', 'root', 'spam'));
    chmodSync(join(vmB.zonepath, 'root', 'root', 'spam'), 0o755);
    const flood = cli('zlogin', [b, '/root/spam', '/.zonecontrol/metadata.sock', '8']);
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    for (let i = 0; i < 20; i++) assert.equal(await ok('zlogin', [a, 'mdata-get', 'sdc:alias']), 'mdtest\n');
    const took = Date.now() - t0;
    const sent = await flood;
    assert.match(sent.stdout, /^(1[6-9]|[2-4]\d) connections, \d+ bytes sent/);
    assert.ok(took < 8000, `20 answers took ${took} ms during the flood`);
    const st = await control({ op: 'status' });
    assert.ok(Number(st.rss) < 256 * 1024 * 1024, `server RSS ${String(st.rss)}`);
    assert.ok(Number(st.dropped) > 0, 'bad frames were dropped');
    // The flooding zone itself is still served once it behaves.
    assert.equal(await ok('zlogin', [b, 'mdata-get', 'sdc:uuid']), `${b}\n`);
  });

  it('a server killed -9 comes back, and the zones see one retried request', async () => {
    const before = (await control({ op: 'status' })) as { pid: number };
    process.kill(before.pid, 'SIGKILL');
    const r = await zl(a, 'mdata-get', 'bar:foo');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'customer\n');
    const now = (await control({ op: 'status' })) as { pid: number; served: string[] };
    assert.notEqual(now.pid, before.pid);
    assert.deepEqual(now.served, [a, b].sort());
    // The restarted server gave the zone a new pty behind /dev/ttyS1.
    const serial = 'exec 3<>/dev/ttyS1; printf "GET bar:foo\\n" >&3; head -n 3 <&3';
    assert.equal(await ok('zlogin', [a, 'sh', '-c', serial]), 'SUCCESS\ncustomer\n.\n');
  });

  it('a stopped zone gives its socket back; a deleted one leaves nothing', async () => {
    await ok('vmadm', ['stop', b]);
    const st = (await control({ op: 'status' })) as { served: string[] };
    assert.deepEqual(st.served, [a]);
    assert.throws(() => readFileSync(join(env.dir, 'run', 'zonecontrol', b, 'zone.json')));
    await ok('vmadm', ['delete', b]);
    await ok('vmadm', ['delete', a]);
    uuids.splice(0);
    const left = (await control({ op: 'status' })) as { served: string[] };
    assert.deepEqual(left.served, []);
    assert.ok(envProcesses(env).length >= 1, 'zonix-metadata runs until the host stops it');
  });
});
