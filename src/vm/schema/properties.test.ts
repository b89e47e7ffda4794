import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ALL,
  BRANDS,
  HVM,
  OS,
  PAYLOAD_KEYS,
  PROPERTIES,
  brandsWhere,
  isAllowed,
  isReadOnly,
  listFields,
  type BrandName,
} from './index.ts';

// smartos.md §2.1, as the table must cover it.
const SETTABLE =
  `uuid alias brand image_uuid autoboot ram vcpus max_physical_memory max_locked_memory max_swap
  max_lwps max_shm_memory max_msg_ids max_sem_ids max_shm_ids cpu_cap cpu_shares zfs_io_priority quota tmpfs
  owner_uuid billing_id package_name package_version hostname dns_domain resolvers maintain_resolvers routes
  customer_metadata internal_metadata internal_metadata_namespaces tags nics disks filesystems delegate_dataset
  limit_priv fs_allowed firewall_enabled do_not_inventory archive_on_delete indestructible_zoneroot
  indestructible_delegated zfs_root_compression zfs_data_compression zfs_root_recsize zfs_data_recsize
  zfs_filesystem_limit zfs_snapshot_limit zpool zonename mdata_exec_timeout nowait kernel_version docker init_name
  restart_init cpu_type disk_driver nic_driver boot bootrom vnc_port vnc_password vga qemu_opts qemu_extra_opts
  bhyve_extra_opts com1 com2 flexible_disk_size virtio_txburst virtio_txtimer spice_opts spice_password spice_port
  zlog_max_size pci_devices`.split(/\s+/);
const READ_ONLY =
  `state zone_state hvm datasets zonepath zfs_filesystem create_timestamp last_modified boot_timestamp pid
  zoneid exit_status exit_timestamp server_uuid platform_buildstamp init_restarts snapshots v transition_to
  transition_expire`.split(/\s+/);

// smartos.md §1.3 (vmadm.js LIST_FIELDS).
const LIST_FIELDS =
  `alias ALIAS 10, autoboot AUTOBOOT 8, billing_id BILLING_ID 36, boot_timestamp BOOT_TIMESTAMP 24,
  brand BRAND 14, cpu_cap CPU_CAP 7, cpu_shares CPU_SHARE 9, cpu_type CPU_TYPE 8, create_timestamp CREATE_TIMESTAMP 24,
  dns_domain DOMAIN 32, do_not_inventory DNI 5, docker DOCKER 6, exit_status EXIT 4, exit_timestamp EXIT_TIMESTAMP 24,
  firewall_enabled FIREWALL_ENABLED 16, flexible_disk_size FLEX_DISK_SIZE 14, free_space FREE_SPACE 14,
  hostname HOSTNAME 32, hvm HVM 5, image_uuid IMAGE_UUID 36, indestructible_delegated INDESTR_DATA 12,
  indestructible_zoneroot INDESTR_ROOT 12, ram RAM 7, max_locked_memory MAX_LOCKED 10, max_lwps MAX_LWP 7,
  max_physical_memory MAX_PHYS 8, max_swap MAX_SWAP 8, owner_uuid OWNER_UUID 36, package_name PACKAGE_NAME 32,
  package_version PACKAGE_VER 11, pid PID 6, qemu_extra_opts QEMU_EXTRA_OPTS 15, quota QUOTA 5,
  zone_state ZONE_STATE 10, state STATE 16, tmpfs TMPFS 5, type TYPE 4, uuid UUID 36, vcpus VCPUS 5,
  zfs_io_priority IO_PRIORITY 11, zpool ZPOOL 12, zonename ZONENAME 12, zonepath ZONEPATH 40, zoneid ZONEID 6`
    .split(',')
    .map((s) => s.trim().split(/\s+/))
    .map(([name, header, width]) => ({ name: name!, header: header!, width: Number(width) }));

const byName = <T extends { name: string }>(list: T[]) =>
  [...list].sort((a, b) => a.name.localeCompare(b.name));

describe('PROPERTIES', () => {
  it('has an entry for every property of smartos.md §2.1', () => {
    for (const name of SETTABLE) {
      assert.ok(PROPERTIES[name], name);
      assert.ok(!isReadOnly(PROPERTIES[name]), `${name} is settable`);
    }
    for (const name of READ_ONLY) {
      assert.ok(PROPERTIES[name], name);
      assert.ok(isReadOnly(PROPERTIES[name]), `${name} is read-only`);
    }
  });

  it('gives every entry a type, a doc line and consistent brands', () => {
    for (const [name, spec] of Object.entries(PROPERTIES)) {
      assert.ok(spec.doc.length > 0, name);
      if (spec.updateMode === 'no') assert.deepEqual(spec.update, [], name);
      assert.equal(spec.type === 'object-array' && !isReadOnly(spec), spec.sub !== undefined, name);
      for (const b of [...spec.create, ...spec.update, ...(spec.required ?? [])]) assert.ok(BRANDS[b], name);
    }
  });

  it('says who may create and update, as smartos.md §2.1 does', () => {
    const cases: [string, readonly BrandName[], string][] = [
      ['uuid', ALL, 'no'],
      ['vcpus', HVM, 'reboot'],
      ['tmpfs', OS, 'yes'],
      ['max_physical_memory', ALL, 'live'],
      ['fs_allowed', OS, 'reboot'],
      ['tags', ALL, 'via-set-remove'],
      ['nics', ALL, 'via-add-update-remove'],
      ['disks', HVM, 'via-add-update-remove'],
      ['filesystems', OS, 'via-add-update-remove'],
      ['kernel_version', ['lx'], 'yes'],
      ['docker', ['joyent-minimal', 'lx'], 'yes'],
      ['vga', ['kvm'], 'yes'],
      ['bootrom', ['bhyve'], 'yes'],
      ['package_name', ['joyent', 'joyent-minimal', 'builder', 'lx', 'kvm'], 'yes'],
    ];
    for (const [name, create, mode] of cases) {
      assert.deepEqual([...PROPERTIES[name]!.create].sort(), [...create].sort(), name);
      assert.equal(PROPERTIES[name]!.updateMode, mode, name);
    }
  });

  it('derives the update-only keys from the update mode', () => {
    for (const key of [
      'set_tags',
      'remove_tags',
      'set_customer_metadata',
      'set_routes',
      'remove_internal_metadata',
    ]) {
      assert.ok(PAYLOAD_KEYS.has(key), key);
    }
    for (const key of [
      'add_nics',
      'update_nics',
      'remove_nics',
      'add_disks',
      'remove_filesystems',
      'add_pci_devices',
    ]) {
      assert.ok(PAYLOAD_KEYS.has(key), key);
    }
    assert.ok(isAllowed('add_disks', 'kvm', 'update'));
    assert.ok(!isAllowed('add_disks', 'joyent', 'update'));
    assert.ok(!isAllowed('add_nics', 'joyent', 'create'));
    assert.ok(!isAllowed('nics', 'joyent', 'update'));
    assert.ok(isAllowed('alias', 'bhyve', 'update'));
    assert.ok(!isAllowed('zpool', 'joyent', 'update'));
  });
});

describe('listFields', () => {
  it('is LIST_FIELDS, from the table', () => {
    assert.deepEqual(byName(listFields()), byName(LIST_FIELDS));
  });
});

describe('BRANDS', () => {
  it('declares each brand by capability', () => {
    const facts = Object.values(BRANDS).map((b) => [
      b.name,
      b.listType,
      b.hvm,
      b.memoryOverhead,
      b.imageTypes.join('|'),
    ]);
    assert.deepEqual(facts, [
      ['joyent', 'OS', false, 0, 'zone-dataset'],
      ['joyent-minimal', 'OS', false, 0, 'zone-dataset'],
      ['builder', 'OS', false, 0, 'zone-dataset'],
      ['lx', 'LX', false, 0, 'lx-dataset|docker'],
      ['kvm', 'KVM', true, 1024, 'zone-dataset'],
      ['bhyve', 'BHYV', true, 1280, 'zone-dataset'],
    ]);
    assert.deepEqual(
      brandsWhere((b) => b.requiresKernelVersion),
      ['lx'],
    );
    assert.deepEqual(OS, ['joyent', 'joyent-minimal', 'builder', 'lx']);
    assert.deepEqual(HVM, ['kvm', 'bhyve']);
  });
});
