import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  BRANDS,
  PayloadError,
  checkDisks,
  checkStructure,
  coerceIntegersAndLists,
  prepareCreate,
  prepareUpdate,
  type Payload,
} from './index.ts';

const IMAGE = '01b2c898-945f-11e1-a523-af1afbe22822';
const MAC1 = '02:00:00:00:00:01';
const COMPRESSION =
  'on, off, gzip, gzip-1, gzip-2, gzip-3, gzip-4, gzip-5, gzip-6, gzip-7, gzip-8, gzip-9, lz4, lzjb, zle';

const joyent = (extra: Payload) => () => prepareCreate({ image_uuid: IMAGE, ...extra });
const kvm = (extra: Payload) => () => prepareCreate({ brand: 'kvm', ...extra });
const bhyve = (extra: Payload) => () => prepareCreate({ brand: 'bhyve', ...extra });
const disk = (extra: Payload) => ({ model: 'virtio', size: 1024, ...extra });

describe('coercion', () => {
  it('turns numeric strings into numbers, "" and null into unset, comma strings into lists', () => {
    assert.deepEqual(
      coerceIntegersAndLists({
        cpu_cap: '100',
        max_lwps: '',
        quota: null,
        resolvers: '8.8.8.8,,1.1.1.1',
        alias: '7',
      }),
      { cpu_cap: 100, max_lwps: undefined, quota: 0, resolvers: ['8.8.8.8', '1.1.1.1'], alias: '7' },
    );
  });

  it('fails as SmartOS does on a value Number() cannot read', () => {
    // SmartOS prints the converted value: JSON of NaN is null and its typeof is number.
    assert.throws(() => coerceIntegersAndLists({ cpu_cap: 'doogle' }), {
      name: 'PayloadError',
      code: 'InvalidValue',
      message: 'Invalid value for cpu_cap: null:number',
    });
  });

  it('leaves an integer given as "" unset on create', () => {
    const { payload } = prepareCreate({ image_uuid: IMAGE, max_lwps: '', cpu_cap: '50' });
    assert.ok(!Object.hasOwn(payload, 'max_lwps'));
    assert.equal(payload.cpu_cap, 50);
  });

  it('turns "true"/"false"/1/0 into booleans after validation', () => {
    const { payload } = prepareCreate({ image_uuid: IMAGE, autoboot: 'false', firewall_enabled: 1 });
    assert.equal(payload.autoboot, false);
    assert.equal(payload.firewall_enabled, true);
  });
});

describe('create and update errors (smartos.md §3.2), word for word', () => {
  const cases: [string, () => unknown, string][] = [
    ['bad value', joyent({ autoboot: 'aardvark', alias: 42 }), 'Invalid value(s) for: autoboot,alias'],
    [
      'max_swap below 256',
      joyent({ max_physical_memory: 64, max_swap: 128 }),
      'Invalid value(s) for: max_swap',
    ],
    [
      'missing kernel_version',
      () => prepareCreate({ brand: 'lx', image_uuid: IMAGE }),
      'Missing required properties: kernel_version',
    ],
    ['missing image', () => prepareCreate({}), 'Missing required properties: image_uuid'],
    ['unknown brand', () => prepareCreate({ brand: 'gorilla' }), 'Unsupported brand: gorilla'],
    [
      'nics and add_nics',
      () => checkStructure({ nics: [], add_nics: [] }),
      'Cannot specify both "nics" and "add_nics"',
    ],
    [
      'disks and add_disks',
      () => checkStructure({ disks: [], add_disks: [] }),
      'Cannot specify both "disks" and "add_disks"',
    ],
    ['add_disks not an array', () => checkStructure({ add_disks: {} }), 'add_disks must be an array.'],
    [
      'route destination',
      joyent({ routes: { bogus: '10.0.0.1' } }),
      'Invalid route destination: "bogus" (must be IP address or CIDR)',
    ],
    [
      'route gateway',
      joyent({ routes: { '10.2.0.0/16': 'bogus' } }),
      'Invalid route gateway: "bogus" (must be IP address, MAC address, or nic)',
    ],
    [
      'route to a missing nic',
      joyent({ nics: [{ nic_tag: 'admin', ips: ['10.0.0.2/24'] }], routes: { '10.2.0.0/16': 'nics[1]' } }),
      'Route gateway: "nics[1]" refers to non-existent or DHCP nic',
    ],
    [
      'route to a DHCP nic',
      joyent({
        nics: [{ nic_tag: 'admin', ip: 'dhcp', mac: MAC1 }],
        routes: { '10.2.0.0/16': `macs[${MAC1}]` },
      }),
      `Route gateway: "macs[${MAC1}]" refers to non-existent or DHCP nic`,
    ],
    [
      'block_size',
      kvm({ disks: [disk({ block_size: 1000 })] }),
      'invalid .block_size(1000), must be 512-131072 and a power of 2.',
    ],
    [
      'block_size with image_uuid',
      kvm({ disks: [{ model: 'virtio', image_uuid: IMAGE, image_size: 10240, block_size: 8192 }] }),
      'setting both .block_size and .image_uuid on a volume is invalid',
    ],
    [
      'disk compression',
      kvm({ disks: [disk({ compression: 'zstd' })] }),
      `invalid compression setting for disk, must be one of: ${COMPRESSION}`,
    ],
    [
      'disk model',
      bhyve({ disks: [disk({ model: 'ide' })] }),
      '"ide" is not a valid disk model for bhyve brand. Valid are: virtio,ahci,nvme',
    ],
    [
      'disk without model',
      kvm({ disks: [{ size: 1024 }] }),
      'missing .model option for disk: {"size":1024,"media":"disk"}',
    ],
    [
      'disk path',
      kvm({ disks: [disk({ path: '/dev/zvol/rdsk/zones/x' })] }),
      'you cannot specify a path for a disk unless you set nocreate=true',
    ],
    [
      'recsize',
      joyent({ zfs_root_recsize: 1000 }),
      'invalid zfs_root_recsize (1000), must be 512-131072 and a power of 2. (0 to disable)',
    ],
    [
      'compression',
      joyent({ zfs_root_compression: 'zstd' }),
      `invalid compression type for zstd, must be one of: ${COMPRESSION}`,
    ],
    [
      'vga',
      kvm({ vga: 'hercules' }),
      'Invalid VGA type: "hercules", supported types are: cirrus,std,vmware,qxl,xenfb',
    ],
    [
      'vnc password',
      kvm({ vnc_password: '123456789' }),
      'VNC password is too long, maximum length is 8 characters.',
    ],
  ];
  for (const [what, run, message] of cases) {
    it(what, () =>
      assert.throws(run, (err: unknown) => err instanceof PayloadError && err.message === message),
    );
  }

  it('carries a stable code, exit code 1 and the data', () => {
    try {
      joyent({ routes: { bogus: '10.0.0.1' } })();
      assert.fail('no error');
    } catch (err) {
      assert.ok(err instanceof PayloadError);
      assert.equal(err.code, 'InvalidRouteDestination');
      assert.equal(err.exitCode, 1);
      assert.deepEqual(err.args, ['bogus']);
    }
  });
});

describe('prepareCreate', () => {
  it('drops properties the brand may not set, with SmartOS warnings', () => {
    const { payload, warnings } = prepareCreate({
      image_uuid: IMAGE,
      vcpus: 4,
      dataset_name: 'x',
      nics: [{ nic_tag: 'admin', ip: 'dhcp', physical: 'net0' }],
    });
    assert.equal(payload.vcpus, undefined);
    assert.equal(payload.dataset_name, undefined);
    assert.equal((payload.nics as Payload[])[0]!.physical, undefined);
    assert.deepEqual(warnings, [
      'Warning, invalid create property: [vcpus] removing from payload.',
      'Warning, invalid create property: [dataset_name] removing from payload.',
      'Warning, invalid create property: [nics.*.physical] removing from payload.',
    ]);
  });

  it('moves old names, resets recsize 0 and keeps the data dataset settings', () => {
    const { payload, warnings } = prepareCreate({
      dataset_uuid: IMAGE,
      zfs_storage_pool_name: 'zones',
      zfs_root_recsize: 0,
      zfs_root_compression: 'lz4',
    });
    assert.equal(payload.image_uuid, IMAGE);
    assert.equal(payload.zpool, 'zones');
    assert.equal(payload.zfs_root_recsize, 131072);
    assert.equal(payload.zfs_data_recsize, 131072);
    assert.equal(payload.zfs_data_compression, 'off');
    assert.deepEqual(warnings, [
      'DEPRECATED option dataset_uuid found, replacing with image_uuid!',
      'DEPRECATED option zfs_storage_pool_name found, replacing with zpool!',
    ]);
  });

  it('drops SPICE options without image_uuid and fills disk defaults', () => {
    const { payload } = kvm({
      spice_port: 5900,
      disk_driver: 'virtio',
      disks: [{ size: 1024, boot: 'true' }],
    })();
    assert.equal(payload.spice_port, undefined);
    assert.deepEqual(payload.disks, [{ size: 1024, boot: true, model: 'virtio', media: 'disk' }]);
  });
});

describe('prepareUpdate', () => {
  const vm: Payload = {
    brand: 'kvm',
    state: 'running',
    zone_state: 'running',
    ram: 1024,
    max_physical_memory: 2048,
    max_locked_memory: 2048,
    max_swap: 2048,
    max_shm_memory: 2048,
    max_msg_ids: 4096,
    max_sem_ids: 4096,
    max_shm_ids: 4096,
    disks: [{ path: '/dev/zvol/rdsk/zones/x-disk0', model: 'virtio', size: 1024 }],
  };

  it('applies the memory rules against the VM and drops what cannot be updated', () => {
    const { payload, warnings } = prepareUpdate(
      { ram: '2048', uuid: '91273098-cc0a-4fdd-9e6d-8f7496f3db80', alias: 'db' },
      vm,
    );
    assert.deepEqual(payload, {
      ram: 2048,
      alias: 'db',
      max_physical_memory: 3072,
      max_locked_memory: 3072,
      max_swap: 3072,
    });
    assert.deepEqual(warnings, ['Warning, invalid update property: [uuid] removing from payload.']);
  });

  it('refuses disk changes while the VM runs', () => {
    assert.throws(() => prepareUpdate({ add_disks: [disk({})] }, vm), {
      message: 'updates to disks are only allowed when state is "stopped", currently: running (running)',
    });
    assert.throws(() => prepareUpdate({ update_disks: [{ path: 'p', boot: true }] }, vm), {
      message:
        'at least one specified update to disks is only allowed when state is "stopped", currently: running (running)',
    });
    prepareUpdate({ update_disks: [{ path: 'p', compression: 'lz4' }] }, vm);
  });

  it('takes the model of added disks from the VM and checks disk updates', () => {
    const stopped = { ...vm, state: 'stopped', zone_state: 'installed' };
    const { payload } = prepareUpdate({ add_disks: [{ size: 2048 }] }, stopped);
    assert.deepEqual(payload.add_disks, [{ size: 2048, model: 'virtio' }]);
    // As in SmartOS, validation catches these first (bad property, bad value); the checks themselves:
    assert.throws(() => checkDisks({ update_disks: [{ path: 'p', block_size: 512 }] }, BRANDS.kvm, stopped), {
      message: 'cannot change .block_size for a disk after creation',
    });
    assert.throws(
      () => checkDisks({ update_disks: [{ path: 'p', refreservation: 'auto' }] }, BRANDS.kvm, stopped),
      {
        message: 'cannot change refreservation to auto on existing disk',
      },
    );
  });

  it('checks routes against the NICs the VM will have', () => {
    const os: Payload = {
      brand: 'joyent',
      nics: [{ mac: MAC1, nic_tag: 'admin', ips: ['10.0.0.1/24'] }],
      routes: { '10.9.0.0/16': 'nics[0]' },
    };
    prepareUpdate({ set_routes: { '10.8.0.0/16': `macs[${MAC1}]` } }, os);
    assert.throws(() => prepareUpdate({ remove_nics: [MAC1] }, os), {
      message: 'Route gateway: "nics[0]" refers to non-existent or DHCP nic',
    });
    prepareUpdate({ remove_nics: [MAC1], remove_routes: ['10.9.0.0/16'] }, os);
  });
});
