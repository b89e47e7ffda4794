import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyCreateDefaults, prepareCreate, type Payload } from './index.ts';

// smartos.md §2.5, from tests/test-defaults.js, without what comes from the host (timestamps,
// server_uuid, platform_buildstamp, state, zoneid, pid, ...).
const UUID = '3f2d42ef-d278-46f2-bfbc-d51f9441a0cf';
const IMAGE = '01b2c898-945f-11e1-a523-af1afbe22822';
const ZERO = '00000000-0000-0000-0000-000000000000';

const JOYENT: Payload = {
  autoboot: true,
  billing_id: ZERO,
  brand: 'joyent',
  cpu_shares: 100,
  customer_metadata: {},
  dns_domain: 'local',
  do_not_inventory: true,
  firewall_enabled: false,
  hvm: false,
  image_uuid: IMAGE,
  init_restarts: 0,
  internal_metadata: {},
  limit_priv: 'default',
  max_locked_memory: 256,
  max_lwps: 2000,
  max_msg_ids: 4096,
  max_physical_memory: 256,
  max_sem_ids: 4096,
  max_shm_memory: 256,
  max_shm_ids: 4096,
  max_swap: 256,
  nics: [],
  owner_uuid: ZERO,
  quota: 10,
  resolvers: [],
  routes: {},
  snapshots: [],
  tags: {},
  tmpfs: 256,
  uuid: UUID,
  v: 1,
  zfs_filesystem: `zones/${UUID}`,
  zfs_io_priority: 100,
  zfs_root_recsize: 131072,
  zonename: UUID,
  zonepath: `/zones/${UUID}`,
  zpool: 'zones',
};

const { dns_domain: _d, image_uuid: _i, tmpfs: _t, ...SHARED } = JOYENT;
const KVM: Payload = {
  ...SHARED,
  brand: 'kvm',
  disks: [],
  hvm: true,
  limit_priv: 'default,-file_link_any,-net_access,-proc_fork,-proc_info,-proc_session',
  max_physical_memory: 1280,
  max_locked_memory: 1280,
  max_swap: 1280,
  max_shm_memory: 1280,
  ram: 256,
  vcpus: 1,
};

describe('applyCreateDefaults (test-defaults.js)', () => {
  it('gives a joyent VM exactly the SmartOS defaults', () => {
    assert.deepEqual(applyCreateDefaults({ uuid: UUID, image_uuid: IMAGE, do_not_inventory: true }), JOYENT);
  });

  it('gives a kvm VM exactly the SmartOS defaults', () => {
    assert.deepEqual(applyCreateDefaults({ uuid: UUID, brand: 'kvm', do_not_inventory: true }), KVM);
  });

  it('generates a uuid and names the zone after it', () => {
    const vm = applyCreateDefaults({ image_uuid: IMAGE });
    assert.match(String(vm.uuid), /^[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[a-f0-9]{4}-[a-f0-9]{12}$/);
    assert.equal(vm.zonename, vm.uuid);
    assert.equal(vm.zonepath, `/zones/${String(vm.uuid)}`);
  });

  it('comes out the same through the whole create path', () => {
    assert.deepEqual(
      prepareCreate({ uuid: UUID, image_uuid: IMAGE, do_not_inventory: true }).payload,
      JOYENT,
    );
    assert.deepEqual(prepareCreate({ uuid: UUID, brand: 'kvm', do_not_inventory: true }).payload, KVM);
  });

  it('uses per-brand and derived defaults from the table', () => {
    const bhyve = applyCreateDefaults({ uuid: UUID, brand: 'bhyve' });
    assert.equal(bhyve.quota, 1);
    assert.equal(bhyve.max_physical_memory, 256 + 1280);
    assert.equal(bhyve.com1, '/dev/zconsole');
    assert.equal(bhyve.com2, 'socket,/tmp/vm.ttyb');
    assert.equal(applyCreateDefaults({ uuid: UUID, brand: 'bhyve', com2: 'x' }).com1, undefined);
    const lx = applyCreateDefaults({
      uuid: UUID,
      brand: 'lx',
      zpool: 'data',
      zonename: 'web',
      delegate_dataset: true,
    });
    assert.equal(lx.zfs_filesystem, 'data/web');
    assert.equal(lx.zonepath, '/data/web');
    assert.deepEqual(lx.datasets, ['data/web/data']);
    assert.equal(applyCreateDefaults({ uuid: UUID, cpu_shares: 100000 }).cpu_shares, 65535);
  });

  it('keeps ram only for HVM brands and what the payload gives', () => {
    const vm = applyCreateDefaults({
      uuid: UUID,
      ram: 1024,
      alias: 'db',
      limit_priv: ['default', 'dtrace_proc'],
    });
    assert.equal(vm.ram, undefined);
    assert.equal(vm.max_physical_memory, 1024);
    assert.equal(vm.alias, 'db');
    assert.equal(vm.limit_priv, 'default,dtrace_proc');
  });
});
