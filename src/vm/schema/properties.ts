/**
 * THE table of VM properties: every property a payload may carry or `vmadm get` may show, with its
 * validation type, the brands that may set it on create and update, its update mode, its default, its
 * `vmadm list` column and one line of doc. Validation, defaults, update rules, `vmadm list` columns
 * and the JSON Schema are all derived from it; nothing else lists properties.
 *
 * Sources: smartos-live proptable.js (brands, actions, types, min/max), VM.js (defaults), vmadm.js
 * (LIST_FIELDS), as summarised in shared/reference/smartos.md §1.3 and §2.
 * @module
 */
import { ALL, BRAND_NAMES, HVM, OS, brandsWhere } from '../brands/info.ts';
import { col, derived, except, p, perBrand, ro, value } from './define.ts';
import {
  DISK_PROPERTIES,
  FILESYSTEM_PROPERTIES,
  NIC_PROPERTIES,
  PCI_DEVICE_PROPERTIES,
} from './sub-properties.ts';
import type { BrandName, PropertySpec } from './types.ts';
import {
  COMPRESSION_TYPES,
  DEFAULT_IPC_IDS,
  DEFAULT_RECSIZE,
  MINIMUM_MAX_SWAP,
  VGA_TYPES,
  ZERO_UUID,
  isAttrValue,
  isResolver,
} from './values.ts';

const KVM: readonly BrandName[] = ['kvm'];
const BHYVE: readonly BrandName[] = ['bhyve'];
const LX: readonly BrandName[] = ['lx'];

const num = (v: unknown): number | undefined => (typeof v === 'number' && !Number.isNaN(v) ? v : undefined);
const sameAsMaxPhys = derived('= max_physical_memory', ({ payload }) => num(payload.max_physical_memory));

const settable: Record<string, PropertySpec> = {
  // Identity
  uuid: p('uuid', ALL, 'no', 'VM UUID (lower case); must not exist yet', {
    default: derived('a new random (v4) UUID', () => globalThis.crypto.randomUUID()),
    list: col('UUID', 36),
  }),
  alias: p('string', ALL, 'yes', 'Free-form name; null or "" removes it', { list: col('ALIAS', 10) }),
  brand: p('string', ALL, 'no', 'joyent, joyent-minimal, builder, lx, kvm or bhyve', {
    required: ALL,
    default: value('joyent'),
    choices: BRAND_NAMES,
    list: col('BRAND', 14),
  }),
  image_uuid: p('uuid', ALL, 'no', 'Installed image the zone root is created from', {
    required: brandsWhere((b) => b.requiresImage),
    list: col('IMAGE_UUID', 36),
  }),
  zonename: p('string', ALL, 'no', 'Name of the zone; the uuid unless given', {
    default: derived('= uuid', ({ payload }) => payload.uuid),
    list: col('ZONENAME', 12),
  }),
  zpool: p('zpool', ALL, 'no', 'Pool holding the VM (must exist)', {
    default: value('zones'),
    list: col('ZPOOL', 12),
  }),
  autoboot: p('boolean', ALL, 'yes', 'Start at host boot; set by start, cleared by stop', {
    default: value(true),
    list: col('AUTOBOOT', 8),
  }),
  owner_uuid: p('string', ALL, 'yes', 'Owner of the VM', {
    default: value(ZERO_UUID),
    list: col('OWNER_UUID', 36),
  }),
  billing_id: p('string', ALL, 'yes', 'Billing package id', {
    default: value(ZERO_UUID),
    list: col('BILLING_ID', 36),
  }),
  package_name: p('string', except(ALL, 'bhyve'), 'yes', 'Name of the package the VM was sized from', {
    deprecated: 'billing_id',
    list: col('PACKAGE_NAME', 32),
  }),
  package_version: p('string', except(ALL, 'bhyve'), 'yes', 'Version of that package', {
    deprecated: 'billing_id',
    list: col('PACKAGE_VER', 11),
  }),

  // Memory (see fixPayloadMemory for how these move together)
  ram: p('integer', ALL, 'reboot', 'Guest RAM in MiB (HVM); OS brands: sets max_physical_memory', {
    min: 0,
    default: value(256),
    keep: HVM,
    list: col('RAM', 7),
    listValue: (vm, brand) => (brand?.hvm ? vm.ram : vm.max_physical_memory),
  }),
  max_physical_memory: p('integer', ALL, 'live', 'Memory cap in MiB', {
    min: 0,
    default: derived('ram + the brand memory overhead (kvm 1024, bhyve 1280, OS 0)', ({ payload, brand }) => {
      const ram = num(payload.ram);
      return ram === undefined ? undefined : ram + brand.memoryOverhead;
    }),
    list: col('MAX_PHYS', 8),
  }),
  max_locked_memory: p('integer', ALL, 'live', 'Locked memory cap in MiB; at most max_physical_memory', {
    min: 0,
    default: sameAsMaxPhys,
    list: col('MAX_LOCKED', 10),
  }),
  max_swap: p('integer', ALL, 'live', 'Swap cap in MiB; at least max_physical_memory and 256', {
    min: MINIMUM_MAX_SWAP,
    default: derived('max(max_physical_memory, 256)', ({ payload }) => {
      const phys = num(payload.max_physical_memory);
      return phys === undefined ? undefined : Math.max(phys, MINIMUM_MAX_SWAP);
    }),
    list: col('MAX_SWAP', 8),
  }),
  max_shm_memory: p('integer', ALL, 'live', 'System V shared memory cap in MiB', {
    min: 0,
    default: sameAsMaxPhys,
  }),
  max_msg_ids: p('integer', ALL, 'live', 'System V message queue ids', {
    min: 0,
    default: value(DEFAULT_IPC_IDS),
  }),
  max_sem_ids: p('integer', ALL, 'live', 'System V semaphore ids', {
    min: 0,
    default: value(DEFAULT_IPC_IDS),
  }),
  max_shm_ids: p('integer', ALL, 'live', 'System V shared memory ids', {
    min: 0,
    default: value(DEFAULT_IPC_IDS),
  }),
  tmpfs: p('integer', OS, 'yes', 'Size of the tmpfs /tmp in MiB (0 = none; 0 to non-0 needs a reboot)', {
    min: 0,
    keepZero: true,
    default: sameAsMaxPhys,
    list: col('TMPFS', 5),
  }),

  // CPU, processes, I/O, disk space
  vcpus: p('integer', HVM, 'reboot', 'Virtual CPUs', { min: 1, default: value(1), list: col('VCPUS', 5) }),
  max_lwps: p('integer', ALL, 'live', 'Thread (LWP) cap', {
    min: 0,
    default: value(2000),
    list: col('MAX_LWP', 7),
  }),
  cpu_cap: p('integer', ALL, 'live', 'CPU cap in percent of one CPU; 0 removes the cap', {
    min: 0,
    list: col('CPU_CAP', 7),
  }),
  cpu_shares: p('integer', ALL, 'live', 'Fair-share CPU weight (more than 65535 is capped on create)', {
    min: 0,
    default: value(100),
    list: col('CPU_SHARE', 9),
  }),
  zfs_io_priority: p('integer', ALL, 'live', 'I/O weight', {
    min: 0,
    default: value(100),
    list: col('IO_PRIORITY', 11),
  }),
  quota: p('integer', ALL, 'live', 'Zone root quota in GiB; 0, "" or null means none', {
    min: 0,
    keepZero: true,
    default: perBrand({ bhyve: 1 }, 10),
    list: col('QUOTA', 5),
  }),
  cpu_type: p('string', KVM, 'yes', 'CPU model shown to the guest: qemu64 or host', {
    implied: 'qemu64',
    list: col('CPU_TYPE', 8),
  }),

  // Networking
  hostname: p('string', ALL, 'yes', 'Guest hostname (OS brands: only applied at create)', {
    list: col('HOSTNAME', 32),
  }),
  dns_domain: p('string', OS, 'yes', 'DNS domain of the guest (only applied at create)', {
    default: value('local'),
    list: col('DOMAIN', 32),
  }),
  resolvers: p('list', ALL, 'yes', 'DNS resolver addresses', {
    validator: isResolver,
    default: value([]),
    flatten: 'array',
  }),
  maintain_resolvers: p('boolean', OS, 'yes', 'Rewrite /etc/resolv.conf when resolvers change', {
    implied: false,
  }),
  routes: p(
    'flat-object',
    ALL,
    'via-set-remove',
    'Static routes: destination (IP or CIDR) → gateway, nics[N] or macs[M]',
    {
      default: value({}),
      flatten: 'hash-key',
    },
  ),
  nics: p('object-array', ALL, 'via-add-update-remove', 'Network interfaces (see the nics table)', {
    default: value([]),
    flatten: 'array-hash-key',
    sub: NIC_PROPERTIES,
  }),
  firewall_enabled: p('boolean', ALL, 'yes', 'Enforce the firewall rules for this VM', {
    default: value(false),
    list: col('FIREWALL_ENABLED', 16),
  }),
  nic_driver: p('string', HVM, 'yes', 'Model for new NICs that name none'),

  // Metadata and tags
  customer_metadata: p('flat-object', ALL, 'via-set-remove', 'Metadata the guest can read and write', {
    default: value({}),
    flatten: 'hash-key',
    filterKeys: true,
  }),
  internal_metadata: p('flat-object', ALL, 'via-set-remove', 'Metadata the guest can only read', {
    default: value({}),
    flatten: 'hash-key',
    filterKeys: true,
  }),
  internal_metadata_namespaces: p(
    'list',
    ALL,
    'yes',
    'Key prefixes (ns:*) served read-only from internal_metadata',
    {
      validator: isAttrValue,
      flatten: 'array',
    },
  ),
  tags: p('flat-object', ALL, 'via-set-remove', 'Operator tags; JSON value types are kept', {
    default: value({}),
    flatten: 'hash-key',
    filterKeys: true,
  }),
  mdata_exec_timeout: p(
    'integer',
    OS,
    'no',
    'Seconds the user-script service may run at boot (0 = no limit)',
    {
      min: 0,
      implied: 300,
    },
  ),

  // Storage
  disks: p('object-array', HVM, 'via-add-update-remove', 'Guest disks (see the disks table)', {
    default: value([]),
    flatten: 'array-hash-key',
    sub: DISK_PROPERTIES,
  }),
  disk_driver: p('string', HVM, 'yes', 'Model for new disks that name none'),
  filesystems: p('object-array', OS, 'via-add-update-remove', 'Host paths mounted into the zone', {
    sub: FILESYSTEM_PROPERTIES,
  }),
  flexible_disk_size: p(
    'integer',
    BHYVE,
    'live',
    'MiB the disks may share; allows disk sizes with image_uuid',
    {
      min: 0,
      list: col('FLEX_DISK_SIZE', 14),
    },
  ),
  delegate_dataset: p('boolean', OS, 'no', 'Give the zone its own dataset <zoneroot>/data', {
    implied: false,
  }),
  zfs_root_compression: p('string', ALL, 'yes', 'Compression of the zone root (new data only)', {
    choices: COMPRESSION_TYPES,
    implied: 'off',
  }),
  zfs_data_compression: p('string', OS, 'yes', 'Compression of the delegated dataset (new data only)', {
    choices: COMPRESSION_TYPES,
    implied: 'off',
  }),
  zfs_root_recsize: p('integer', ALL, 'yes', 'Record size of the zone root: 512–131072, a power of 2', {
    min: 0,
    default: value(DEFAULT_RECSIZE),
  }),
  zfs_data_recsize: p('integer', OS, 'yes', 'Record size of the delegated dataset', {
    min: 0,
    implied: DEFAULT_RECSIZE,
  }),
  zfs_filesystem_limit: p('integer', ALL, 'yes', 'Most datasets under the zone root; "" removes the limit', {
    min: 0,
  }),
  zfs_snapshot_limit: p('integer', ALL, 'yes', 'Most snapshots under the zone root; "" removes the limit', {
    min: 0,
  }),
  archive_on_delete: p('boolean', ALL, 'yes', 'Keep a copy of the VM configuration when it is deleted', {
    implied: false,
  }),
  indestructible_zoneroot: p('boolean', ALL, 'yes', 'Refuse delete and reprovision (held @indestructible)', {
    implied: false,
    list: col('INDESTR_ROOT', 12),
  }),
  indestructible_delegated: p('boolean', ALL, 'yes', 'Refuse delete while the delegated dataset is held', {
    implied: false,
    list: col('INDESTR_DATA', 12),
  }),

  // Zone behaviour
  limit_priv: p('list', ALL, 'yes', 'Privileges of the zone, comma-separated', {
    default: derived("the brand's set", ({ brand }) => [...brand.limitPriv]),
    storeAsString: true,
  }),
  fs_allowed: p('list', OS, 'reboot', 'Filesystem types the zone may mount; "" or [] clears', {
    storeAsString: true,
  }),
  do_not_inventory: p('boolean', ALL, 'yes', 'Hide from inventory agents', {
    implied: false,
    list: col('DNI', 5),
  }),
  nowait: p('boolean', OS, 'no', 'Report provisioning done at first boot without waiting for the guest', {
    implied: false,
  }),
  kernel_version: p('string', LX, 'yes', 'Linux kernel version the lx brand reports', {
    required: brandsWhere((b) => b.requiresKernelVersion),
  }),
  docker: p(
    'boolean',
    ['joyent-minimal', 'lx'],
    'yes',
    'Docker container semantics (init, restart, docker:id)',
    {
      implied: false,
      list: col('DOCKER', 6),
    },
  ),
  init_name: p('string', OS, 'yes', 'Program run as init in the zone'),
  restart_init: p('boolean', OS, 'yes', 'Restart the zone when init exits', { implied: true }),
  zlog_max_size: p('integer', OS, 'yes', 'Size in bytes at which the console log is rotated', {
    min: 0,
    max: 2 ** 63,
  }),

  // HVM machine
  boot: p('string', HVM, 'yes', 'Boot order, as `vmadm start order=`', { implied: 'order=cd' }),
  bootrom: p('string', BHYVE, 'yes', 'Firmware: bios or uefi (or the image requirement), later a path', {
    implied: 'bios',
  }),
  vnc_port: p('integer', HVM, 'yes', 'VNC port: 0 picks one, -1 disables', { min: -1, implied: 0 }),
  vnc_password: p('string', HVM, 'reboot', 'VNC password (at most 8 characters)'),
  vga: p('string', KVM, 'yes', 'Emulated display', { choices: VGA_TYPES, implied: 'std' }),
  qemu_opts: p('string', KVM, 'yes', 'Replaces the QEMU arguments vmadm builds'),
  qemu_extra_opts: p('string', KVM, 'yes', 'Appended to the QEMU arguments', {
    list: col('QEMU_EXTRA_OPTS', 15),
  }),
  bhyve_extra_opts: p('string', BHYVE, 'yes', 'Appended to the bhyve arguments'),
  com1: p('string', BHYVE, 'yes', 'First serial port', {
    default: derived('/dev/zconsole when neither com1 nor com2 is given', ({ input }) =>
      'com1' in input || 'com2' in input ? undefined : '/dev/zconsole',
    ),
  }),
  com2: p('string', BHYVE, 'yes', 'Second serial port (metadata)', {
    default: derived('socket,/tmp/vm.ttyb when neither com1 nor com2 is given', ({ input }) =>
      'com1' in input || 'com2' in input ? undefined : 'socket,/tmp/vm.ttyb',
    ),
  }),
  virtio_txburst: p('integer', KVM, 'yes', 'virtio-net packets sent per burst', { min: 0, implied: 128 }),
  virtio_txtimer: p('integer', KVM, 'yes', 'virtio-net transmit timer in ns', { min: 0, implied: 200000 }),
  spice_opts: p('string', KVM, 'yes', 'SPICE options (dropped on create without image_uuid)'),
  spice_password: p('string', KVM, 'yes', 'SPICE password (dropped on create without image_uuid)'),
  spice_port: p('integer', KVM, 'yes', 'SPICE port, -1 disables (dropped on create without image_uuid)', {
    min: -1,
  }),
  pci_devices: p('object-array', BHYVE, 'via-add-update-remove', 'Host PCI devices passed through', {
    flatten: 'array-hash-key',
    sub: PCI_DEVICE_PROPERTIES,
  }),

  // Old names, moved to their new property before validation
  dataset_uuid: p('uuid', OS, 'no', 'Old name of image_uuid', {
    deprecated: 'image_uuid',
    renamedTo: 'image_uuid',
  }),
  zone_dataset_uuid: p('uuid', HVM, 'no', 'Old name of image_uuid', {
    deprecated: 'image_uuid',
    renamedTo: 'image_uuid',
  }),
  zfs_storage_pool_name: p('zpool', except(ALL, 'bhyve'), 'no', 'Old name of zpool', {
    deprecated: 'zpool',
    renamedTo: 'zpool',
  }),
};

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Filled in by vmadm itself; computed defaults are written after validation. */
const readOnly: Record<string, PropertySpec> = {
  type: ro('string', 'OS, LX, KVM or BHYV (vmadm list and lookup only)', {
    list: col('TYPE', 4),
    listValue: (_vm, brand) => brand?.listType ?? 'OS',
  }),
  hvm: ro('boolean', 'True for kvm and bhyve', {
    default: derived("the brand's hvm flag", ({ brand }) => brand.hvm),
    list: col('HVM', 5),
  }),
  state: ro('string', 'VM state: running, stopped, provisioning, failed, ...', { list: col('STATE', 16) }),
  zone_state: ro('string', 'Raw zone state', { list: col('ZONE_STATE', 10) }),
  zfs_filesystem: ro('string', 'Dataset of the zone root: <zpool>/<zonename>', {
    default: derived('<zpool>/<zonename>', ({ payload }) => {
      const pool = str(payload.zpool);
      const name = str(payload.zonename);
      return pool === undefined || name === undefined ? undefined : `${pool}/${name}`;
    }),
  }),
  zonepath: ro('string', 'Mount point of the zone root: /<zfs_filesystem>', {
    default: derived('/<zfs_filesystem>', ({ payload }) => {
      const fs = str(payload.zfs_filesystem);
      return fs === undefined ? undefined : `/${fs}`;
    }),
    list: col('ZONEPATH', 40),
  }),
  datasets: ro('list', 'Delegated datasets, e.g. ["zones/<uuid>/data"]', {
    default: derived('[<zfs_filesystem>/data] with delegate_dataset', ({ payload }) => {
      const fs = str(payload.zfs_filesystem);
      return payload.delegate_dataset === true && fs !== undefined ? [`${fs}/data`] : undefined;
    }),
  }),
  snapshots: ro('object-array', 'Snapshots [{name, size (MiB), created_at}], newest first', {
    default: value([]),
  }),
  init_restarts: ro('integer', 'Times init was restarted', { default: value(0) }),
  v: ro('integer', 'Version of the VM object format', { default: value(1) }),
  create_timestamp: ro('string', 'ISO time of creation', { list: col('CREATE_TIMESTAMP', 24) }),
  last_modified: ro('string', 'ISO time of the last configuration change'),
  boot_timestamp: ro('string', 'ISO time of the last boot (running VMs)', {
    list: col('BOOT_TIMESTAMP', 24),
  }),
  pid: ro('integer', 'PID of init (running VMs)', { list: col('PID', 6) }),
  zoneid: ro('integer', 'Kernel zone id (running VMs)', { list: col('ZONEID', 6) }),
  zonedid: ro('integer', 'Zone id that stays the same across boots'),
  exit_status: ro('integer', 'Exit status of init after it exited', { list: col('EXIT', 4) }),
  exit_timestamp: ro('string', 'ISO time init exited', { list: col('EXIT_TIMESTAMP', 24) }),
  server_uuid: ro('string', 'UUID of this host'),
  platform_buildstamp: ro('string', 'Build stamp of the platform'),
  datacenter_name: ro('string', 'Datacenter of this host, when configured'),
  headnode_id: ro('string', 'Head node id, when configured'),
  free_space: ro('integer', 'MiB of flexible_disk_size not yet used (bhyve)', {
    list: col('FREE_SPACE', 14),
  }),
  zlog_mode: ro('string', 'Console log mode flags'),
  transition_to: ro('string', 'State the VM is moving to'),
  transition_expire: ro('integer', 'When that transition times out (ms since the epoch)'),
};

/** Every VM property, in the order defaults are applied: settable ones first, then computed ones. */
export const PROPERTIES: Readonly<Record<string, PropertySpec>> = { ...settable, ...readOnly };

export function getProperty(name: string): PropertySpec | undefined {
  return Object.hasOwn(PROPERTIES, name) ? PROPERTIES[name] : undefined;
}

export function isReadOnly(spec: PropertySpec): boolean {
  return spec.create.length === 0 && spec.update.length === 0;
}
