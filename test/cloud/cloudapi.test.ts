/**
 * CloudAPI against the real `triton` CLI (7.17.0, a dev dependency), run in an isolated HOME with
 * generated keys, against zonixd on loopback with real zones: info, images, packages, networks,
 * instances created on a network with a package (vmadm sees the limits and the address), listed,
 * stopped, started, rebooted, tagged, given metadata, snapshotted and deleted with `-w`; firewall
 * rules; a second account that sees none of the first's machines; requests signed by an unknown key,
 * by another login's key, or with a stale date refused; and each trap of the reference's section 7.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { sign as cryptoSign } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import httpSignature from 'http-signature';
import {
  cli,
  leaks,
  makeTestEnv,
  makeZonePool,
  ok,
  ROOT,
  startZonixd,
  stillRunning,
  teardown,
  zoneTestSkip,
  type Zonixd,
} from '../helpers/host.ts';

const skip = zoneTestSkip();
const exec = promisify(execFile);

interface Who {
  login: string;
  home: string;
  /** MD5 fingerprint of the key it signs with. */
  fp: string;
  keyFile: string;
}

interface Machine {
  id: string;
  name: string;
  state: string;
  image: string;
  primaryIp?: string;
  package: string;
  memory: number;
  tags: Record<string, unknown>;
  metadata: Record<string, string>;
}

describe('CloudAPI with the triton CLI', { skip, timeout: 900_000 }, () => {
  const env = makeTestEnv('ca');
  const P = `${env.prefix}p`;
  process.env.ZONIX_SYSTEM_POOL = P;
  const stub = `${env.prefix}s0`;
  const netName = `${env.prefix}n`;
  let image = '';
  let zonixd: Zonixd | undefined;
  const pids: number[] = [];
  const made: string[] = [];
  const who = {} as Record<'alice' | 'bob' | 'carol' | 'dave' | 'mallory', Who>;

  /** A user with a HOME of their own and a key of `type`. */
  const user = async (
    login: string,
    type: 'ed25519' | 'rsa' | 'ecdsa',
    bits?: number,
    pem = false,
  ): Promise<Who> => {
    const home = join(env.dir, `home-${login}`);
    mkdirSync(join(home, '.ssh'), { recursive: true });
    const keyFile = join(home, '.ssh', `id_${type}`);
    await exec('ssh-keygen', [
      '-q',
      '-t',
      type,
      ...(bits ? ['-b', String(bits)] : type === 'rsa' ? ['-b', '2048'] : []),
      ...(pem ? ['-m', 'PEM'] : []),
      '-N',
      '',
      '-C',
      login,
      '-f',
      keyFile,
    ]);
    const fp = (await exec('ssh-keygen', ['-l', '-E', 'md5', '-f', `${keyFile}.pub`])).stdout
      .split(' ')[1]!
      .replace(/^MD5:/, '');
    return { login, home, fp, keyFile };
  };

  /** The real triton CLI as `w` (its own HOME; no ssh-agent). */
  const triton = (w: Who, args: string[], opts: { as?: string; input?: string } = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(join(ROOT, 'node_modules', '.bin', 'triton'), args, {
        env: {
          PATH: process.env.PATH,
          HOME: w.home,
          TRITON_URL: zonixd!.cloudapi,
          TRITON_ACCOUNT: opts.as ?? w.login,
          TRITON_KEY_ID: w.fp,
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      child.stdin.end(opts.input ?? '');
    });
  const tok = async (w: Who, args: string[]) => {
    const r = await triton(w, args);
    assert.equal(r.code, 0, `triton ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };

  /** A request signed by hand (for what the CLI never sends: a wrong key, a stale date). */
  const signed = (
    path: string,
    o: { keyId: string; keyFile: string; date?: Date; method?: string; algorithm?: string },
  ): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> => {
    const u = new URL(zonixd!.cloudapi);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path,
          method: o.method ?? 'GET',
          headers: { accept: 'application/json' },
        },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        },
      );
      req.on('error', reject);
      // Signed as the CLI signs (http-signature over sshpk), with the date given; ecdsa-sha384,
      // which http-signature cannot make, by node:crypto from a PEM key.
      const date = (o.date ?? new Date()).toUTCString();
      req.setHeader('date', date);
      if (o.algorithm === 'ecdsa-sha384') {
        const data = `(request-target): ${(o.method ?? 'GET').toLowerCase()} ${path}\ndate: ${date}`;
        const sig = cryptoSign('sha384', Buffer.from(data), readFileSync(o.keyFile, 'utf8')).toString(
          'base64',
        );
        req.setHeader(
          'authorization',
          `Signature keyId="${o.keyId}",algorithm="ecdsa-sha384",headers="(request-target) date",signature="${sig}"`,
        );
        req.end();
        return;
      }
      httpSignature.sign(req, {
        key: readFileSync(o.keyFile, 'utf8'),
        keyId: o.keyId,
        headers: ['(request-target)', 'date'],
        ...(o.algorithm ? { algorithm: o.algorithm } : {}),
      });
      req.end();
    });
  };

  const vmadmGet = async (uuid: string) =>
    JSON.parse(await ok('vmadm', ['get', uuid])) as Record<string, unknown>;

  before(async () => {
    image = await makeZonePool(env, P, { size: '2G' });
    await ok('nictagadm', ['add', '-l', stub]);
    who.alice = await user('alice', 'ed25519');
    who.bob = await user('bob', 'ed25519');
    who.carol = await user('carol', 'rsa');
    who.dave = await user('dave', 'ecdsa');
    who.mallory = await user('mallory', 'ed25519');
    await ok('zonix', [
      'account',
      'add',
      'alice',
      '--email',
      'alice@example.invalid',
      '--name',
      'Alice Liddell',
      '--key',
      `${who.alice.keyFile}.pub`,
    ]);
    await ok('zonix', ['account', 'add', 'bob', '--key', `${who.bob.keyFile}.pub`]);
    await ok('zonix', ['account', 'add', 'carol', '--key', `${who.carol.keyFile}.pub`]);
    await ok('zonix', ['account', 'add', 'dave', '--key', `${who.dave.keyFile}.pub`]);
    await ok('zonix', [
      'network',
      'add',
      netName,
      '--nic-tag',
      stub,
      '--subnet',
      '10.209.0.0/24',
      '--gateway',
      '10.209.0.1',
      '--start',
      '10.209.0.10',
      '--end',
      '10.209.0.20',
    ]);
    zonixd = await startZonixd(['--cloudapi', '127.0.0.1:0', '--datacenter', 'zt-dc']);
    pids.push(zonixd.pid);
  });

  after(async () => {
    if (zonixd) await zonixd.stop();
    await cli('nictagadm', ['delete', '-f', stub]);
    await teardown(env, [P], made);
    assert.deepEqual(leaks(env), []);
    assert.deepEqual(stillRunning(pids), []);
  });

  it('zonix account, package and network manage what CloudAPI serves', async () => {
    const accounts = JSON.parse(await ok('zonix', ['account', 'list', '-j'])) as {
      login: string;
      keys: unknown[];
    }[];
    assert.deepEqual(
      accounts.map((a) => a.login),
      ['alice', 'bob', 'carol', 'dave'],
    );
    assert.match(await ok('zonix', ['account', 'key', 'list', 'alice']), new RegExp(who.alice.fp));
    let r = await cli('zonix', ['account', 'add', 'alice']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /login alice is already taken/);
    r = await cli('zonix', ['account', 'add', 'x!']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /login 'x!' is invalid/);
    r = await cli('zonix', ['account', 'key', 'add', 'alice', '/etc/hostname']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /key is invalid/);
    assert.match(await ok('zonix', ['package', 'list']), /sample-256M/);
    await ok('zonix', ['package', 'add', 'zt-small', '--memory', '128', '--disk', '2048', '--cpu-cap', '50']);
    r = await cli('zonix', ['package', 'add', 'zt-bad', '--memory', 'lots']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /memory must be an integer/);
    r = await cli('zonix', ['network', 'add', 'zt-over', '--nic-tag', stub, '--subnet', '10.209.0.128/25']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /overlaps network/);
    assert.match(
      await ok('zonix', ['network', 'list']),
      new RegExp(`${netName}.*10\\.209\\.0\\.0/24.*10\\.209\\.0\\.10-10\\.209\\.0\\.20`),
    );
  });

  it('triton info, datacenters, image, package and network lists', async () => {
    const info = await tok(who.alice, ['info']);
    assert.match(info, /login: alice/);
    assert.match(info, /name: Alice Liddell/);
    assert.match(info, /email: alice@example.invalid/);
    assert.match(info, /instances: 0/);
    assert.match(await tok(who.alice, ['datacenters']), /zt-dc/);
    const images = JSON.parse(
      `[${(await tok(who.alice, ['image', 'list', '-j'])).trim().split('\n').join(',')}]`,
    ) as { id: string }[];
    assert.ok(
      images.some((i) => i.id === image),
      'the minimal image is listed',
    );
    assert.match(await tok(who.alice, ['package', 'list']), /zt-small/);
    assert.match(await tok(who.alice, ['package', 'get', 'sample-256M']), /"memory": 256/);
    assert.match(await tok(who.alice, ['network', 'list']), new RegExp(netName));
    assert.match(await tok(who.carol, ['info']), /login: carol/, 'an RSA key signs too');
    assert.match(await tok(who.dave, ['info']), /login: dave/, 'and an ECDSA one');
    // The options form (-U, capital: -u is RBAC's user), and a profile made as the README says.
    const r = await triton({ ...who.alice, home: who.alice.home }, [
      '-U',
      zonixd!.cloudapi,
      '-a',
      'alice',
      '-k',
      who.alice.fp,
      'info',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const profile = join(who.bob.home, 'zt.json');
    writeFileSync(
      profile,
      JSON.stringify({ name: 'zt', url: zonixd!.cloudapi, account: 'bob', keyId: who.bob.fp }),
    );
    await tok(who.bob, ['profile', 'create', '--no-docker', '-y', '-f', profile]);
    const viaProfile = await new Promise<{ code: number; out: string }>((resolve) => {
      const c = spawn(join(ROOT, 'node_modules', '.bin', 'triton'), ['-p', 'zt', 'info'], {
        env: { PATH: process.env.PATH, HOME: who.bob.home },
      });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.on('close', (code) => resolve({ code: code ?? -1, out }));
    });
    assert.equal(viaProfile.code, 0);
    assert.match(viaProfile.out, /login: bob/);
    // Beyond loopback CloudAPI needs TLS, as the API does.
    const open = await cli('zonixd', ['--listen', 'none', '--cloudapi', '0.0.0.0:8443']);
    assert.equal(open.code, 2);
    assert.match(open.stderr, /--cloudapi on 0\.0\.0\.0 \(beyond loopback\) needs TLS/);
  });

  let web1: Machine;
  it('triton instance create -w: the zone runs with the package limits and an address from the network', async () => {
    const out = await tok(who.alice, [
      'instance',
      'create',
      '-w',
      '-n',
      'web1',
      '-t',
      'role=web',
      '-m',
      'color=blue',
      image,
      'zt-small',
    ]);
    assert.match(out, /Creating instance web1 \(([0-9a-f-]+),/);
    assert.match(out, /Created instance web1/);
    web1 = JSON.parse(await tok(who.alice, ['instance', 'get', '-j', 'web1'])) as Machine;
    made.push(web1.id);
    assert.equal(web1.state, 'running');
    assert.equal(web1.image, image);
    assert.equal(web1.package, 'zt-small');
    assert.equal(web1.memory, 128);
    assert.equal(web1.primaryIp, '10.209.0.10');
    const vm = await vmadmGet(web1.id);
    assert.equal(vm.alias, 'web1');
    assert.equal(vm.state, 'running');
    assert.equal(vm.max_physical_memory, 128);
    assert.equal(vm.cpu_cap, 50);
    assert.equal(vm.quota, 2);
    const accounts = JSON.parse(await ok('zonix', ['account', 'list', '-j'])) as {
      login: string;
      uuid: string;
    }[];
    assert.equal(vm.owner_uuid, accounts.find((a) => a.login === 'alice')!.uuid);
    const nic = (vm.nics as { ip: string; nic_tag: string; network_uuid: string }[])[0]!;
    assert.equal(nic.ip, '10.209.0.10');
    assert.equal(nic.nic_tag, stub);
    assert.deepEqual((vm.customer_metadata as Record<string, string>).color, 'blue');
    assert.match((vm.customer_metadata as Record<string, string>).root_authorized_keys!, /^ssh-ed25519 /);
    assert.deepEqual(vm.tags, { role: 'web' });
    const list = await tok(who.alice, ['instance', 'list']);
    assert.match(list, /web1\s+.*running/);
    // A second machine of that name is refused (VMAPI's rule), creating nothing.
    const dup = await triton(who.alice, ['instance', 'create', '-n', 'web1', image, 'zt-small']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /machine name web1 is already in use/);
    assert.equal((await ok('vmadm', ['list', '-H', '-o', 'uuid', 'alias=web1'])).trim(), web1.id);
  });

  it('rename and resize', async () => {
    await tok(who.alice, ['instance', 'rename', '-w', 'web1', 'web1b']);
    assert.equal((await vmadmGet(web1.id)).alias, 'web1b');
    await tok(who.alice, ['instance', 'rename', '-w', web1.id, 'web1']);
    await tok(who.alice, ['instance', 'resize', '-w', web1.id, 'sample-256M']);
    const vm = await vmadmGet(web1.id);
    assert.equal(vm.max_physical_memory, 256);
    assert.equal(vm.quota, 5);
    assert.equal(
      (JSON.parse(await tok(who.alice, ['instance', 'get', '-j', web1.id])) as Machine).package,
      'sample-256M',
    );
    const bad = await triton(who.alice, ['instance', 'resize', web1.id, 'no-such-package']);
    assert.notEqual(bad.code, 0);
  });

  it('stop -w, start -w, reboot -w', async () => {
    await tok(who.alice, ['instance', 'stop', '-w', 'web1']);
    assert.equal((await vmadmGet(web1.id)).state, 'stopped');
    await tok(who.alice, ['instance', 'start', '-w', 'web1']);
    assert.equal((await vmadmGet(web1.id)).state, 'running');
    await tok(who.alice, ['instance', 'reboot', '-w', web1.id]);
    assert.equal((await vmadmGet(web1.id)).state, 'running');
  });

  it('tags and metadata: set, get and delete, with -w', async () => {
    await tok(who.alice, ['instance', 'tag', 'set', '-w', web1.id, 'env=prod', 'count=3']);
    assert.equal((await tok(who.alice, ['instance', 'tag', 'get', web1.id, 'env'])).trim(), 'prod');
    const tags = JSON.parse(await tok(who.alice, ['instance', 'tag', 'list', web1.id])) as Record<
      string,
      unknown
    >;
    assert.deepEqual(tags, { role: 'web', env: 'prod', count: 3 });
    await tok(who.alice, ['instance', 'tag', 'delete', '-w', web1.id, 'env']);
    assert.deepEqual((await vmadmGet(web1.id)).tags, { role: 'web', count: 3 });
    await tok(who.alice, ['instance', 'metadata', 'set', '-w', web1.id, 'size=large']);
    assert.equal((await tok(who.alice, ['instance', 'metadata', 'get', web1.id, 'size'])).trim(), 'large');
    await tok(who.alice, ['instance', 'metadata', 'delete', '-w', '-f', web1.id, 'size']);
    assert.equal(((await vmadmGet(web1.id)).customer_metadata as Record<string, string>).size, undefined);
    const r = await triton(who.alice, ['instance', 'metadata', 'get', web1.id, 'size']);
    assert.notEqual(r.code, 0);
  });

  it('snapshots: create, list, delete', async () => {
    await tok(who.alice, ['instance', 'snapshot', 'create', '-w', '-n', 's1', web1.id]);
    assert.match(await tok(who.alice, ['instance', 'snapshot', 'list', web1.id]), /s1\s+created/);
    assert.deepEqual(
      ((await vmadmGet(web1.id)).snapshots as { name: string }[]).map((s) => s.name),
      ['s1'],
    );
    // Boot from it: rolled back, then running.
    await tok(who.alice, ['instance', 'start', '-w', '--snapshot', 's1', web1.id]);
    assert.equal((await vmadmGet(web1.id)).state, 'running');
    assert.equal(
      (JSON.parse(await ok('zonix', ['account', 'get', 'alice'])) as { uuid: string }).uuid,
      (await vmadmGet(web1.id)).owner_uuid,
    );
    await tok(who.alice, ['instance', 'snapshot', 'delete', '-w', '-f', web1.id, 's1']);
    assert.deepEqual((await vmadmGet(web1.id)).snapshots ?? [], []);
  });

  it('keys: add, list and delete through CloudAPI, as zonix account key does', async () => {
    const extra = await user('alice2', 'ed25519');
    const out = await tok(who.alice, ['key', 'add', '-n', 'extra', `${extra.keyFile}.pub`]);
    assert.match(out, new RegExp(`Added key "extra" \\(${extra.fp}\\)`));
    assert.match(await tok(who.alice, ['key', 'list']), /extra/);
    assert.match(await ok('zonix', ['account', 'key', 'list', 'alice']), /extra/);
    // The new key signs for alice at once.
    assert.match(await tok({ ...extra, login: 'alice' }, ['info']), /login: alice/);
    await tok(who.alice, ['key', 'delete', '-f', 'extra']);
    assert.doesNotMatch(await ok('zonix', ['account', 'key', 'list', 'alice']), /extra/);
    const r = await triton({ ...extra, login: 'alice' }, ['info']);
    assert.equal(r.code, 1);
  });

  it('firewall rules: create and list, per account', async () => {
    const out = await tok(who.alice, ['fwrule', 'create', `FROM any TO vm ${web1.id} ALLOW tcp PORT 22`]);
    assert.match(out, /Created firewall rule/);
    assert.match(await tok(who.alice, ['fwrule', 'list']), /ALLOW tcp PORT 22/);
    assert.doesNotMatch(await tok(who.bob, ['fwrule', 'list']), /PORT 22/);
    assert.match(await ok('fwadm', ['list']), /PORT 22/);
  });

  it("another account sees none of the first one's machines", async () => {
    assert.doesNotMatch(await tok(who.bob, ['instance', 'list']), /web1/);
    const r = await triton(who.bob, ['instance', 'get', web1.id]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /not found/i);
    // Bob's key cannot act as alice.
    const as = await triton(who.bob, ['instance', 'list'], { as: 'alice' });
    assert.equal(as.code, 1);
    assert.match(as.stderr, /InvalidCredentials|Invalid KeyId/);
  });

  it("refuses unknown keys, another login's key and stale dates, with CloudAPI's errors", async () => {
    const path = '/alice/machines';
    let r = await signed(path, { keyId: `/alice/keys/${who.mallory.fp}`, keyFile: who.mallory.keyFile });
    assert.equal(r.status, 401);
    assert.equal((JSON.parse(r.body) as { code: string }).code, 'InvalidCredentials');
    r = await signed(path, { keyId: `/bob/keys/${who.alice.fp}`, keyFile: who.alice.keyFile });
    assert.equal(r.status, 401, "alice's key is not bob's");
    r = await signed('/bob/machines', { keyId: `/alice/keys/${who.alice.fp}`, keyFile: who.alice.keyFile });
    assert.equal(r.status, 403);
    assert.equal((JSON.parse(r.body) as { code: string }).code, 'NotAuthorized');
    r = await signed(path, {
      keyId: `/alice/keys/${who.alice.fp}`,
      keyFile: who.alice.keyFile,
      date: new Date(Date.now() - 600_000),
    });
    assert.equal(r.status, 400);
    assert.deepEqual((JSON.parse(r.body) as { code: string }).code, 'InvalidHeader');
    // Signed by alice's key but over another path than the one requested: a bad signature.
    const sig = await signed(path, { keyId: `/alice/keys/${who.alice.fp}`, keyFile: who.alice.keyFile });
    assert.equal(sig.status, 200);
    // The other algorithms CloudAPI takes: rsa-sha1 (old ssh-agents), ecdsa-sha384 (a P-384 key).
    r = await signed('/carol', {
      keyId: `/carol/keys/${who.carol.fp}`,
      keyFile: who.carol.keyFile,
      algorithm: 'rsa-sha1',
    });
    assert.equal(r.status, 200, r.body);
    const erin = await user('erin', 'ecdsa', 384, true);
    await ok('zonix', ['account', 'add', 'erin', '--key', `${erin.keyFile}.pub`]);
    // (The triton CLI itself cannot sign with a P-384 key: 'SHA384 is not a supported hash algorithm'.)
    r = await signed('/erin', {
      keyId: `/erin/keys/${erin.fp}`,
      keyFile: erin.keyFile,
      algorithm: 'ecdsa-sha384',
    });
    assert.equal(r.status, 200, r.body);
    r = await signed('/erin', { keyId: `/erin/keys/${who.carol.fp}`, keyFile: who.carol.keyFile });
    assert.equal(r.status, 401, "carol's key is not erin's");
    await ok('zonix', ['account', 'delete', 'erin']);
    r = await signed('/--ping', { keyId: 'nobody', keyFile: who.mallory.keyFile });
    assert.equal(r.status, 200, '/--ping needs no auth');
    assert.deepEqual((JSON.parse(r.body) as { ping: string }).ping, 'pong');
  });

  it('the traps of the reference: x-resource-count, UUID images, JSON-encoded values, 404 bodies', async () => {
    const auth = { keyId: `/alice/keys/${who.alice.fp}`, keyFile: who.alice.keyFile };
    let r = await signed('/alice/machines?limit=1000&offset=0', auth);
    assert.equal(r.headers['x-resource-count'], '1');
    assert.ok((JSON.parse(r.body) as Machine[]).every((m) => /^[0-9a-f-]{36}$/.test(m.image)));
    r = await signed('/bob/machines?limit=1000&offset=0', {
      keyId: `/bob/keys/${who.bob.fp}`,
      keyFile: who.bob.keyFile,
    });
    assert.equal(r.headers['x-resource-count'], '0');
    // Pages: limit and offset are kept (a client reading pages of 1 sees each machine once).
    r = await signed('/alice/machines?limit=1&offset=1', auth);
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-resource-count'], '0');
    r = await signed('/alice/machines?limit=1001', auth);
    assert.equal(r.status, 409);
    // Lengths are right, and no wrong content-md5 is sent.
    r = await signed('/alice/machines', auth);
    assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body));
    assert.equal(r.headers['content-md5'], undefined);
    r = await signed(`/alice/machines/${web1.id}/tags/role`, auth);
    assert.equal(r.body, '"web"');
    assert.match(String(r.headers['content-type']), /application\/json/);
    r = await signed(`/alice/machines/${web1.id}/metadata/color`, auth);
    assert.equal(r.body, '"blue"');
    r = await signed('/alice/machines/00000000-0000-4000-8000-000000000000', auth);
    assert.equal(r.status, 404);
    assert.deepEqual(JSON.parse(r.body), { code: 'ResourceNotFound', message: 'VM not found' });
  });

  it('triton instance delete -w -f ends with exit 0, leaves nothing, and gives the address back', async () => {
    await tok(who.alice, ['instance', 'delete', '-w', '-f', 'web1']);
    assert.doesNotMatch(await ok('vmadm', ['list', '-p', '-o', 'uuid']), new RegExp(web1.id));
    const auth = { keyId: `/alice/keys/${who.alice.fp}`, keyFile: who.alice.keyFile };
    const r = await signed(`/alice/machines/${web1.id}`, auth);
    assert.equal(r.status, 410);
    assert.equal((JSON.parse(r.body) as Machine).state, 'deleted');
    const out = await tok(who.alice, ['instance', 'create', '-w', '-n', 'web2', image, 'sample-256M']);
    const id = /\(([0-9a-f-]{36}),/.exec(out)![1]!;
    made.push(id);
    assert.equal(
      ((await vmadmGet(id)).nics as { ip: string }[])[0]!.ip,
      '10.209.0.10',
      'the address came back',
    );
    await tok(who.alice, ['instance', 'delete', '-w', '-f', id]);
    assert.doesNotMatch(await ok('vmadm', ['list', '-p', '-o', 'uuid']), new RegExp(id));
  });
});
