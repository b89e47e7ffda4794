/**
 * The cloud's pure logic: networks' fields from a host network, address allocation (no two creates
 * get one address; a freed one comes back), packages as vmadm properties, machines as CloudAPI shows
 * them, and CreateMachine's body as a vmadm payload.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NicTag } from '../net/index.ts';
import { DocStore } from '../storage/index.ts';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPayload, machineState, requestedNetworks, statesFor, toMachine } from './machines.ts';
import { Networks, networkOf } from './networks.ts';
import { BUILTIN_PACKAGES, packagePayload, Packages } from './packages.ts';
import { snapshotName } from './cloud.ts';
import { parseSignature } from './signature.ts';

/** A DocStore in a folder of its own (the pool keeps the real ones the same way). */
function memDocs(): DocStore {
  return new DocStore(mkdtempSync(join(tmpdir(), 'zt-cloud-docs-')));
}
after(() => {
  for (const d of readdirSync(tmpdir()).filter((n) => n.startsWith('zt-cloud-docs-')))
    rmSync(join(tmpdir(), d), { recursive: true, force: true });
});

const hostTag: NicTag = {
  name: 'zonix0',
  kind: 'etherstub',
  net: { gateway: '10.88.0.1/24', nat: true, dhcp: true },
} as unknown as NicTag;
const stubTag = { name: 'stub0', kind: 'etherstub' } as unknown as NicTag;

describe('networks', () => {
  it('take the subnet, gateway and resolver of a host network, and keep below its DHCP range', () => {
    const n = networkOf({ name: 'zonix0', nic_tag: 'zonix0' }, hostTag);
    assert.equal(n.subnet, '10.88.0.0/24');
    assert.equal(n.gateway, '10.88.0.1');
    assert.deepEqual([n.provision_start_ip, n.provision_end_ip], ['10.88.0.2', '10.88.0.127']);
    assert.deepEqual(n.resolvers, ['10.88.0.1']);
    assert.equal(n.public, true);
  });

  it('refuse what does not fit, naming the field', () => {
    assert.throws(
      () => networkOf({ name: 'x', nic_tag: 'nope' }, undefined),
      /nic tag 'nope' does not exist/,
    );
    assert.throws(() => networkOf({ name: 'x', nic_tag: 'stub0' }, stubTag), /subnet is required/);
    assert.throws(
      () => networkOf({ name: 'x', nic_tag: 'stub0', subnet: '10.0.0.0/33' }, stubTag),
      /subnet '10.0.0.0\/33'/,
    );
    assert.throws(
      () => networkOf({ name: 'x', nic_tag: 'stub0', subnet: '10.0.0.0/24', gateway: '10.0.1.1' }, stubTag),
      /gateway 10.0.1.1 is not in 10.0.0.0\/24/,
    );
    assert.throws(
      () => networkOf({ name: 'x', nic_tag: 'stub0', subnet: '10.0.0.0/24', vlan_id: 1 }, stubTag),
      /vlan_id 1 is invalid/,
    );
    assert.throws(
      () =>
        networkOf(
          {
            name: 'x',
            nic_tag: 'stub0',
            subnet: '10.0.0.0/24',
            provision_start_ip: '10.0.0.9',
            provision_end_ip: '10.0.0.3',
          },
          stubTag,
        ),
      /provision range 10.0.0.9-10.0.0.3 is empty/,
    );
    const own = networkOf(
      {
        name: 'x',
        nic_tag: 'stub0',
        subnet: '10.0.0.0/24',
        owner_uuids: ['0d3c7e39-0d4e-4a3a-9bb4-3f6c2d0c1a11'],
      },
      stubTag,
    );
    assert.equal(own.public, false);
  });

  it('hand out each address once, skip the gateway, and give a freed one back', async () => {
    const docs = memDocs();
    const store = new Networks(
      () => docs,
      (n) => (n === 'stub0' ? stubTag : undefined),
    );
    const net = store.add({
      name: 'tiny',
      nic_tag: 'stub0',
      subnet: '10.1.0.0/29',
      gateway: '10.1.0.1',
    });
    assert.deepEqual([net.provision_start_ip, net.provision_end_ip], ['10.1.0.2', '10.1.0.6']);
    const used = new Set<string>(['10.1.0.3']);
    // Five creates at once: four free addresses (.2 .4 .5 .6), each given once, then none.
    const got = await Promise.allSettled([1, 2, 3, 4, 5].map(() => store.allocate(net, async () => used)));
    const ips = got.filter((g) => g.status === 'fulfilled').map((g) => g.value);
    assert.deepEqual(ips.sort(), ['10.1.0.2', '10.1.0.4', '10.1.0.5', '10.1.0.6']);
    const failed = got.find((g) => g.status === 'rejected') as PromiseRejectedResult;
    assert.match(String(failed.reason), /network tiny has no free address/);
    store.release(net, '10.1.0.5');
    assert.equal(await store.allocate(net, async () => used), '10.1.0.5');
    await assert.rejects(
      store.allocate(net, async () => used, '10.1.0.3'),
      /already taken/,
    );
    await assert.rejects(
      store.allocate(net, async () => used, '10.2.0.3'),
      /not in network tiny/,
    );
    assert.throws(
      () => store.add({ name: 'tiny', nic_tag: 'stub0', subnet: '10.9.0.0/24' }),
      /already exists/,
    );
    assert.throws(
      () => store.add({ name: 'over', nic_tag: 'stub0', subnet: '10.1.0.0/24' }),
      /overlaps network tiny/,
    );
    assert.throws(() => store.delete('tiny', ['10.1.0.3']), /in use by 1 NIC/);
    assert.equal(store.delete('tiny', []).name, 'tiny');
  });
});

describe('packages', () => {
  it('are vmadm properties: MiB caps, the disk as GiB of quota, the uuid as billing_id', () => {
    const p = BUILTIN_PACKAGES.find((x) => x.name === 'sample-1G')!;
    assert.deepEqual(packagePayload(p), {
      max_physical_memory: 1024,
      max_locked_memory: 1024,
      max_swap: 2048,
      quota: 25,
      cpu_cap: 100,
      max_lwps: 4000,
      zfs_io_priority: 100,
      billing_id: p.uuid,
    });
  });

  it('are added with checked fields, found by name or uuid, and the built-in ones stay', () => {
    const docs = memDocs();
    const store = new Packages(() => docs);
    const p = store.add({ name: 'web', memory: 512, disk: 3000 });
    assert.equal(store.get('web').uuid, p.uuid);
    assert.equal(packagePayload(p).quota, 3);
    assert.throws(() => store.add({ name: 'web', memory: 512 }), /already exists/);
    assert.throws(() => store.add({ name: 'bad', memory: 10 }), /memory must be an integer from 64/);
    assert.throws(
      () => store.add({ name: 'bad', memory: 512, swap: 100 }),
      /swap must be an integer from 512/,
    );
    assert.throws(() => store.delete('sample-1G'), /built in/);
    assert.throws(() => store.get('nope'), /nope not found/);
  });
});

describe('machines', () => {
  it('map vmadm states to CloudAPI states', () => {
    assert.deepEqual(
      ['provisioning', 'running', 'stopping', 'stopped', 'installed', 'destroyed', 'failed', 'receiving'].map(
        machineState,
      ),
      ['provisioning', 'running', 'stopping', 'stopped', 'stopped', 'deleted', 'failed', 'unknown'],
    );
    assert.throws(() => statesFor('sleeping'), /sleeping is not a valid state/);
    assert.equal(statesFor('active')('running'), true);
  });

  it('show a VM as CloudAPI does: memory, disk in MiB, primaryIp, a UUID image, the package by name', () => {
    const vm = {
      uuid: '6a3d1b5e-2f8c-4d7e-9a1b-3c5d7e9f1a2b',
      alias: 'web1',
      brand: 'joyent-minimal',
      state: 'running',
      image_uuid: '2f1dc911-6401-4fa4-8e9d-67ea2e39c271',
      max_physical_memory: 256,
      quota: 10,
      billing_id: 'pkg',
      tags: { role: 'web', n: 3 },
      customer_metadata: { color: 'blue', root_authorized_keys: 'ssh-ed25519 AAAA' },
      nics: [
        { mac: '02:00:00:00:00:01', ip: '10.0.0.5', netmask: '255.255.255.0', nic_tag: 'admin' },
        {
          mac: '02:00:00:00:00:02',
          ip: '192.168.1.9',
          primary: true,
          network_uuid: 'net1',
          gateway: '192.168.1.1',
        },
      ],
      create_timestamp: '2026-12-07T10:00:00.000Z',
      firewall_enabled: true,
      indestructible_zoneroot: false,
    };
    const m = toMachine(vm, { packageName: (u) => (u === 'pkg' ? 'sample-256M' : '') });
    assert.equal(m.id, vm.uuid);
    assert.equal(m.type, 'smartmachine');
    assert.equal(m.disk, 10240);
    assert.equal(m.memory, 256);
    assert.equal(m.primaryIp, '192.168.1.9');
    assert.deepEqual(m.ips, ['10.0.0.5', '192.168.1.9']);
    assert.deepEqual(m.networks, ['net1']);
    assert.equal(m.package, 'sample-256M');
    assert.deepEqual(m.tags, { role: 'web', n: 3 });
    assert.equal(m.metadata.color, 'blue');
    assert.equal(m.firewall_enabled, true);
    // Even a VM without an image shows a UUID (triton ls asserts one).
    const bare = toMachine({ uuid: vm.uuid, state: 'stopped' }, { packageName: () => '' });
    assert.match(bare.image, /^[0-9a-f-]{36}$/);
    assert.equal(bare.primaryIp, undefined);
  });

  it('make CreateMachine bodies vmadm payloads', () => {
    const pkg = BUILTIN_PACKAGES[0]!;
    const net = networkOf({ name: 'n', nic_tag: 'zonix0' }, hostTag);
    const p = createPayload(
      {
        name: 'web1',
        image: 'img',
        package: pkg.uuid,
        'metadata.foo': 'bar',
        'tag.role': 'web',
        'tag.n': 3,
        firewall_enabled: true,
      },
      {
        owner: 'acct',
        image: { uuid: 'img', type: 'zone-dataset' },
        pkg,
        networks: [{ net, ip: '10.88.0.2' }],
        authorizedKeys: 'ssh-ed25519 AAAA',
      },
    );
    assert.equal(p.brand, 'joyent');
    assert.equal(p.alias, 'web1');
    assert.equal(p.owner_uuid, 'acct');
    assert.equal(p.max_physical_memory, pkg.memory);
    assert.deepEqual(p.customer_metadata, { foo: 'bar', root_authorized_keys: 'ssh-ed25519 AAAA' });
    assert.deepEqual(p.tags, { role: 'web', n: 3 });
    assert.deepEqual(p.nics, [
      {
        nic_tag: 'zonix0',
        ip: '10.88.0.2',
        netmask: '255.255.255.0',
        gateway: '10.88.0.1',
        network_uuid: net.uuid,
        primary: true,
      },
    ]);
    assert.deepEqual(p.resolvers, ['10.88.0.1']);
    assert.equal(
      createPayload(
        {},
        { owner: 'a', image: { uuid: 'i', type: 'lx-dataset' }, pkg, networks: [], authorizedKeys: '' },
      ).brand,
      'lx',
    );
    // A zvol image makes an HVM machine: the package's memory as ram, its disk as a second disk.
    const hvm = createPayload(
      { name: 'vm1' },
      {
        owner: 'a',
        image: { uuid: 'zv', type: 'zvol' },
        pkg,
        networks: [{ net, ip: '10.88.0.3' }],
        authorizedKeys: '',
      },
    );
    assert.equal(hvm.brand, 'kvm');
    assert.equal(hvm.image_uuid, undefined);
    assert.equal(hvm.ram, pkg.memory);
    assert.equal(hvm.max_physical_memory, undefined);
    assert.deepEqual(hvm.disks, [
      { image_uuid: 'zv', boot: true, model: 'virtio' },
      { size: pkg.disk, model: 'virtio' },
    ]);
    assert.equal((hvm.nics as { model?: string }[])[0]!.model, 'virtio');
    assert.throws(
      () =>
        createPayload(
          { brand: 'bhyve' },
          { owner: 'a', image: { uuid: 'i', type: 'zone-dataset' }, pkg, networks: [], authorizedKeys: '' },
        ),
      /not a zvol image/,
    );
    assert.throws(
      () =>
        createPayload(
          { name: 'bad name' },
          { owner: 'a', image: { uuid: 'i' }, pkg, networks: [], authorizedKeys: '' },
        ),
      /name "bad name" is invalid/,
    );
    assert.deepEqual(requestedNetworks(['a', { ipv4_uuid: 'b', ipv4_ips: ['10.0.0.9'] }]), [
      { id: 'a' },
      { id: 'b', ip: '10.0.0.9' },
    ]);
    assert.throws(() => requestedNetworks(7), /networks must be an array/);
  });

  it('name snapshots by the time, as CloudAPI does', () => {
    assert.equal(snapshotName(new Date('2026-11-26T15:29:19.123Z')), '20261126T152919Z');
  });
});

describe('HTTP Signature headers', () => {
  const date = 'Thu, 26 Nov 2026 15:28:55 GMT';
  const at = Date.parse(date);
  const req = (authorization: string, headers: Record<string, string> = { date }) => ({
    method: 'GET',
    url: '/test/machines?limit=1000&offset=0',
    headers: { ...headers, authorization },
  });
  const sig = (alg: string, extra = '') =>
    `Signature keyId="/test/keys/4e:7f",algorithm="${alg}",headers="(request-target) date"${extra},signature="c2ln"`;

  it('give the signing string of the request as sent, for each algorithm CloudAPI allows', () => {
    for (const alg of ['rsa-sha1', 'rsa-sha256', 'ecdsa-sha256', 'ecdsa-sha384', 'ed25519-sha512']) {
      const p = parseSignature(req(sig(alg)), at);
      assert.equal(p.algorithm, alg);
      assert.equal(p.keyId, '/test/keys/4e:7f');
      assert.equal(
        p.signingString,
        `(request-target): get /test/machines?limit=1000&offset=0\ndate: ${date}`,
      );
    }
    // Without `headers`, only the date is signed.
    assert.equal(
      parseSignature(req('Signature keyId="/a/keys/b",algorithm="rsa-sha256",signature="x"'), at)
        .signingString,
      `date: ${date}`,
    );
  });

  it('refuse what CloudAPI refuses, with its codes', () => {
    assert.throws(
      () => parseSignature(req(sig('hmac-sha256')), at),
      /InvalidHeader|hmac-sha256 is not a supported algorithm/,
    );
    assert.throws(
      () => parseSignature(req('Signature keyId="/a/keys/b",signature="x"'), at),
      /algorithm was not specified/,
    );
    assert.throws(() => parseSignature(req('Signature keyId="/a/keys/b" junk'), at), /bad parameters/);
    assert.throws(
      () =>
        parseSignature(
          req('Signature keyId="/a/keys/b",algorithm="rsa-sha256",headers="(request-target)",signature="x"'),
          at,
        ),
      /date was not in the request/,
    );
    assert.throws(() => parseSignature(req(sig('rsa-sha256'), {}), at), /date was not in the request/);
    assert.throws(
      () => parseSignature(req(sig('rsa-sha256')), at + 301_000),
      /clock skew of 301.000s was greater than 300s/,
    );
  });
});
