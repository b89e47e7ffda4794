import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { prepareUpdate } from './schema/normalize.ts';
import type { VmRecord } from './store.ts';
import { applyUpdate, isPrivateIPv4, zoneResources } from './update.ts';

const UUID = '6e0ba8b4-3c3f-4b9b-9d3e-8b2a4c7e0f11';
const NOW = '2030-01-02T03:04:05.000Z';
const MAC1 = '02:00:00:00:00:01';
const MAC2 = '02:00:00:00:00:02';
const MAC3 = '02:00:00:00:00:03';

const base = (extra: Record<string, unknown> = {}): VmRecord => ({
  uuid: UUID,
  brand: 'joyent-minimal',
  alias: 'web',
  autoboot: true,
  max_physical_memory: 256,
  max_locked_memory: 256,
  max_swap: 256,
  max_shm_memory: 256,
  max_msg_ids: 4096,
  max_sem_ids: 4096,
  max_shm_ids: 4096,
  max_lwps: 2000,
  cpu_shares: 100,
  zfs_io_priority: 100,
  quota: 10,
  tmpfs: 256,
  resolvers: [],
  tags: {},
  customer_metadata: {},
  internal_metadata: {},
  routes: {},
  nics: [],
  firewall_enabled: false,
  last_modified: '2020-01-01T00:00:00.000Z',
  ...extra,
});

/** The whole path of an update's pure half: the schema's normalisation, then the merge. */
const update = (vm: VmRecord, input: Record<string, unknown>) =>
  applyUpdate(vm, prepareUpdate(input, vm).payload, { now: NOW });

describe('applyUpdate: plain properties', () => {
  it('replaces values and sets last_modified', () => {
    const { vm } = update(base(), { alias: 'db', autoboot: 'false', owner_uuid: UUID });
    assert.equal(vm.alias, 'db');
    assert.equal(vm.autoboot, false);
    assert.equal(vm.owner_uuid, UUID);
    assert.equal(vm.last_modified, NOW);
    assert.equal(vm.uuid, UUID);
  });

  it('leaves last_modified alone when nothing changes', () => {
    const vm = base();
    assert.equal(update(vm, { alias: 'web' }).vm.last_modified, vm.last_modified);
    assert.equal(update(vm, {}).vm.last_modified, vm.last_modified);
  });

  it('removes on JSON null or "", and cpu_cap 0 removes the cap', () => {
    const vm = base({ cpu_cap: 50, hostname: 'h1' });
    const out = update(vm, { alias: null, hostname: '', cpu_cap: 0 }).vm;
    assert.equal(Object.hasOwn(out, 'alias'), false);
    assert.equal(Object.hasOwn(out, 'hostname'), false);
    assert.equal(Object.hasOwn(out, 'cpu_cap'), false);
    assert.equal(Object.hasOwn(update(vm, { cpu_cap: '' }).vm, 'cpu_cap'), false);
  });

  it('keeps quota 0 (none) and tmpfs 0, and null quota means 0', () => {
    assert.equal(update(base(), { quota: 0 }).vm.quota, 0);
    assert.equal(update(base(), { quota: null }).vm.quota, 0);
    assert.equal(update(base(), { tmpfs: 0 }).vm.tmpfs, 0);
  });

  it('stores flags only where SmartOS does: assumed values are removed', () => {
    const vm = base({ do_not_inventory: true, indestructible_zoneroot: true });
    const out = update(vm, {
      do_not_inventory: false,
      indestructible_zoneroot: 'false',
      firewall_enabled: true,
    }).vm;
    assert.equal(Object.hasOwn(out, 'do_not_inventory'), false);
    assert.equal(Object.hasOwn(out, 'indestructible_zoneroot'), false);
    assert.equal(out.firewall_enabled, true);
    // firewall_enabled has a default: false is kept, as on a new VM.
    assert.equal(
      update(base({ firewall_enabled: true }), { firewall_enabled: false }).vm.firewall_enabled,
      false,
    );
  });

  it('stores lists in their stored form, and clears fs_allowed with ""', () => {
    const vm = base({ fs_allowed: 'ufs,pcfs' });
    const out = update(vm, { resolvers: '8.8.8.8,1.1.1.1', limit_priv: ['default', 'dtrace_user'] }).vm;
    assert.deepEqual(out.resolvers, ['8.8.8.8', '1.1.1.1']);
    assert.equal(out.limit_priv, 'default,dtrace_user');
    assert.equal(Object.hasOwn(update(vm, { fs_allowed: '' }).vm, 'fs_allowed'), false);
    assert.deepEqual(update(base({ resolvers: ['8.8.8.8'] }), { resolvers: [] }).vm.resolvers, []);
  });

  it('drops what the brand does not keep or may not update', () => {
    // OS brands: ram only moves max_physical_memory (and what follows it).
    const out = update(base(), { ram: 512, uuid: 'a6fd9bb5-2c49-4b6a-b2a9-6f8bda9d2a1f', brand: 'lx' }).vm;
    assert.equal(Object.hasOwn(out, 'ram'), false);
    assert.equal(out.max_physical_memory, 512);
    assert.equal(out.uuid, UUID);
    assert.equal(out.brand, 'joyent-minimal');
  });

  it('memory keys follow the normalised payload: swap and locked memory keep their gap', () => {
    const vm = base({ max_physical_memory: 512, max_locked_memory: 256, max_swap: 1024, tmpfs: 256 });
    const out = update(vm, { max_physical_memory: 1024 }).vm;
    assert.equal(out.max_physical_memory, 1024);
    assert.equal(out.max_locked_memory, 768);
    assert.equal(out.max_swap, 1536);
    assert.equal(out.tmpfs, 512);
    // A swap at the 256 floor follows max_physical_memory.
    const up = update(base(), { max_physical_memory: 128 }).vm;
    assert.deepEqual([up.max_physical_memory, up.max_swap, up.max_locked_memory], [128, 256, 128]);
  });
});

describe('applyUpdate: set_/remove_ maps', () => {
  it('merges tags, keeping JSON types; removes first, then sets', () => {
    const vm = base({ tags: { a: 1, b: 'x', c: true } });
    const out = update(vm, { set_tags: { d: 2, b: 'y' }, remove_tags: ['a', 'missing'] }).vm;
    assert.deepEqual(out.tags, { b: 'y', c: true, d: 2 });
    assert.deepEqual(update(vm, { remove_tags: ['a'], set_tags: { a: 5 } }).vm.tags, {
      a: 5,
      b: 'x',
      c: true,
    });
  });

  it('does the same for customer_metadata, internal_metadata and routes', () => {
    const vm = base({
      customer_metadata: { 'user-script': 'x' },
      internal_metadata: { 'docker:id': 'y' },
      routes: { '10.1.0.0/16': '10.0.0.1' },
    });
    const out = update(vm, {
      set_customer_metadata: { foo: 'bar' },
      remove_customer_metadata: 'user-script',
      set_internal_metadata: { ns: 'v' },
      set_routes: { '10.2.0.0/16': '10.0.0.2' },
      remove_routes: ['10.1.0.0/16'],
    }).vm;
    assert.deepEqual(out.customer_metadata, { foo: 'bar' });
    assert.deepEqual(out.internal_metadata, { 'docker:id': 'y', ns: 'v' });
    assert.deepEqual(out.routes, { '10.2.0.0/16': '10.0.0.2' });
  });

  it('never lets a key change the object prototype', () => {
    const set = JSON.parse('{"__proto__": "x", "ok": 1}') as Record<string, unknown>;
    const out = update(base(), { set_tags: set }).vm;
    const tags = out.tags as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(tags), Object.prototype);
    assert.deepEqual(Object.keys(tags).sort(), ['__proto__', 'ok']);
  });
});

describe('applyUpdate: nics', () => {
  const nics = [
    { mac: MAC1, nic_tag: 'admin', interface: 'net0', ips: ['10.0.0.5/24'], primary: true },
    { mac: MAC2, nic_tag: 'external', interface: 'net1', ips: ['8.8.4.5/24'] },
  ];

  it('adds with the next interface and a generated MAC; update merges by MAC', () => {
    const out = update(base({ nics }), {
      add_nics: [{ nic_tag: 'admin', ips: ['10.0.1.5/24'] }],
      update_nics: [{ mac: MAC2, vlan_id: 12 }],
    }).vm.nics as Record<string, unknown>[];
    assert.equal(out.length, 3);
    assert.deepEqual([out[1]!.mac, out[1]!.vlan_id], [MAC2, 12]);
    assert.equal(out[2]!.interface, 'net2');
    assert.match(String(out[2]!.mac), /^[0-9a-f]2(:[0-9a-f]{2}){5}$/);
    assert.equal(out[0]!.primary, true);
    assert.equal(Object.hasOwn(out[2]!, 'primary'), false);
  });

  it('primary: true on one NIC clears the others', () => {
    const out = update(base({ nics }), { update_nics: [{ mac: MAC2, primary: true }] }).vm.nics as Record<
      string,
      unknown
    >[];
    assert.equal(Object.hasOwn(out[0]!, 'primary'), false);
    assert.equal(out[1]!.primary, true);
    const added = update(base({ nics }), {
      add_nics: [{ mac: MAC3, nic_tag: 'admin', ips: ['dhcp'], primary: true }],
    }).vm.nics as Record<string, unknown>[];
    assert.deepEqual(
      added.map((n) => n.primary === true),
      [false, false, true],
    );
  });

  it('removes by MAC (unknown ones skipped); the primary passes to a public NIC first', () => {
    const three = [...nics, { mac: MAC3, nic_tag: 'admin', interface: 'net2', ips: ['192.168.1.4/24'] }];
    const out = update(base({ nics: three }), { remove_nics: [MAC1, '02:00:00:00:00:09'] }).vm.nics as Record<
      string,
      unknown
    >[];
    assert.deepEqual(
      out.map((n) => [n.mac, n.primary === true]),
      [
        [MAC2, true],
        [MAC3, false],
      ],
    );
    const privOnly = [nics[0]!, three[2]!];
    const p = update(base({ nics: privOnly }), { remove_nics: [MAC1] }).vm.nics as Record<string, unknown>[];
    assert.deepEqual(p, [{ ...three[2], primary: true }]);
    assert.deepEqual(update(base({ nics }), { remove_nics: [MAC1, MAC2] }).vm.nics, []);
  });

  it('keeps NICs in interface order', () => {
    const out = update(base({ nics: [nics[1]!] }), {
      add_nics: [{ mac: MAC3, nic_tag: 'admin', ips: ['dhcp'] }],
    }).vm.nics as Record<string, unknown>[];
    assert.deepEqual(
      out.map((n) => n.interface),
      ['net0', 'net1'],
    );
    assert.equal(out[0]!.mac, MAC3);
  });

  it('an unknown MAC in update_nics fails as SmartOS does', () => {
    assert.throws(() => update(base({ nics }), { update_nics: [{ mac: MAC3, vlan_id: 2 }] }), {
      message: 'There is no existing NIC with that mac address',
    });
  });
});

describe('applyUpdate: filesystems and disks', () => {
  const fs1 = { type: 'lofs', source: '/data/a', target: '/a', options: ['ro'] };

  it('adds, updates and removes filesystems by target; none left removes the property', () => {
    let vm = update(base(), { add_filesystems: [fs1, { type: 'lofs', source: '/data/b', target: '/b' }] }).vm;
    assert.deepEqual(vm.filesystems, [fs1, { type: 'lofs', source: '/data/b', target: '/b' }]);
    vm = update(vm, { update_filesystems: [{ target: '/b', options: 'ro,nodevice' }] }).vm;
    assert.deepEqual((vm.filesystems as unknown[])[1], {
      type: 'lofs',
      source: '/data/b',
      target: '/b',
      options: ['ro', 'nodevice'],
    });
    vm = update(vm, { remove_filesystems: ['/a', '/nope'] }).vm;
    assert.equal((vm.filesystems as unknown[]).length, 1);
    vm = update(vm, { remove_filesystems: '/b' }).vm;
    assert.equal(Object.hasOwn(vm, 'filesystems'), false);
  });

  it('adding a filesystem with a target already there replaces it', () => {
    const vm = update(base({ filesystems: [fs1] }), {
      add_filesystems: [{ ...fs1, source: '/data/c' }],
    }).vm;
    assert.deepEqual(vm.filesystems, [{ ...fs1, source: '/data/c' }]);
  });

  const kvm = (state: string): VmRecord => ({
    uuid: UUID,
    brand: 'kvm',
    state,
    zone_state: state === 'running' ? 'running' : 'installed',
    ram: 1024,
    max_physical_memory: 2048,
    max_locked_memory: 2048,
    max_swap: 2048,
    disks: [
      { path: `/dev/zvol/rdsk/zones/${UUID}-disk1`, model: 'virtio', size: 2048 },
      { path: `/dev/zvol/rdsk/zones/${UUID}-disk0`, model: 'virtio', size: 1024, boot: true },
    ],
  });

  it('changes disks by path only when stopped, in disk order', () => {
    // The merge itself (prepareUpdate drops disks.*.path from update_disks: see the report).
    const stopped = kvm('stopped');
    const out = applyUpdate(stopped, {
      remove_disks: [`/dev/zvol/rdsk/zones/${UUID}-disk1`],
      update_disks: [{ path: `/dev/zvol/rdsk/zones/${UUID}-disk0`, boot: false }],
      add_disks: [{ path: `/dev/zvol/rdsk/zones/${UUID}-disk2`, nocreate: true, size: 10, model: 'virtio' }],
    }).vm.disks as Record<string, unknown>[];
    assert.deepEqual(
      out.map((d) => [d.path, d.boot, d.model]),
      [
        [`/dev/zvol/rdsk/zones/${UUID}-disk0`, false, 'virtio'],
        [`/dev/zvol/rdsk/zones/${UUID}-disk2`, undefined, 'virtio'],
      ],
    );
    const message = 'updates to disks are only allowed when state is "stopped", currently: running (running)';
    assert.throws(() => update(kvm('running'), { remove_disks: ['x'] }), { message });
    // The merge refuses too, whatever payload it is handed.
    assert.throws(() => applyUpdate(kvm('running'), { add_disks: [{ size: 1 }] }), { message });
  });

  it('dangerous_allow_shrink is not stored', () => {
    const vm: VmRecord = { ...kvm('stopped'), brand: 'bhyve' };
    const out = applyUpdate(vm, {
      update_disks: [{ path: `/dev/zvol/rdsk/zones/${UUID}-disk0`, size: 512, dangerous_allow_shrink: true }],
    }).vm.disks as Record<string, unknown>[];
    assert.deepEqual(out[0], {
      path: `/dev/zvol/rdsk/zones/${UUID}-disk0`,
      model: 'virtio',
      size: 512,
      boot: true,
    });
  });
});

describe('applyUpdate: what changes live', () => {
  it('lists the live properties that changed, with null for removed ones', () => {
    const vm = base({ cpu_cap: 100 });
    const { live } = update(vm, { max_physical_memory: 512, cpu_cap: 0, max_lwps: 64, quota: 2, alias: 'x' });
    assert.deepEqual(live.changed, {
      max_physical_memory: 512,
      max_locked_memory: 512,
      max_swap: 512,
      max_lwps: 64,
      cpu_cap: null,
      quota: 2,
    });
    assert.equal(live.resolvers, undefined);
    assert.deepEqual(update(vm, { max_lwps: 2000, alias: 'y' }).live.changed, {});
  });

  it('asks for resolv.conf only when maintain_resolvers is set', () => {
    assert.equal(update(base(), { resolvers: ['8.8.8.8'] }).live.resolvers, undefined);
    assert.deepEqual(update(base({ maintain_resolvers: true }), { resolvers: ['8.8.8.8'] }).live.resolvers, [
      '8.8.8.8',
    ]);
    assert.deepEqual(update(base({ resolvers: ['1.1.1.1'] }), { maintain_resolvers: true }).live.resolvers, [
      '1.1.1.1',
    ]);
  });
});

describe('zoneResources', () => {
  it('maps memory, CPU and process caps as the zone spec does', () => {
    const vm = { max_physical_memory: 128, max_swap: 256, cpu_cap: 150, cpu_shares: 1, max_lwps: 64 };
    assert.deepEqual(
      zoneResources(vm, ['max_physical_memory', 'cpu_cap', 'cpu_shares', 'max_lwps', 'quota']),
      {
        memory: { limit: 128 << 20, swap: 256 << 20 },
        cpu: { quota: 150_000, period: 100_000, shares: 2 },
        pids: { limit: 64 },
      },
    );
    assert.deepEqual(zoneResources(vm, ['quota', 'zfs_io_priority']), {});
  });

  it('unset limits are unlimited; swap is at least memory', () => {
    assert.deepEqual(zoneResources({ max_physical_memory: 512, max_swap: 256 }, ['max_swap']), {
      memory: { limit: 512 << 20, swap: 512 << 20 },
    });
    assert.deepEqual(zoneResources({}, ['max_physical_memory', 'cpu_cap', 'cpu_shares', 'max_lwps']), {
      memory: { limit: -1, swap: -1 },
      cpu: { quota: -1, period: 100_000, shares: 1024 },
      pids: { limit: -1 },
    });
  });
});

describe('isPrivateIPv4', () => {
  it('knows the RFC 1918 ranges', () => {
    for (const ip of ['10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.0.1'])
      assert.ok(isPrivateIPv4(ip), ip);
    for (const ip of ['172.32.0.1', '8.8.8.8', 'dhcp', 'fd00::1']) assert.ok(!isPrivateIPv4(ip), ip);
  });
});
