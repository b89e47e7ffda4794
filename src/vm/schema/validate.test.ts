import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatValidateResult, validatePayload, type ImageInfo, type ValidationErrors } from './index.ts';

const SMARTOS_IMAGE = '01b2c898-945f-11e1-a523-af1afbe22822';
const UBUNTU_IMAGE = 'a1fac27c-85fb-11e2-ae84-276612e8990c';
const OS_BRANDS = ['joyent', 'joyent-minimal'];
const ctx = { zpools: ['zones'] };

function errorsOf(payload: unknown, action: 'create' | 'update', brand: string): ValidationErrors {
  const r = validatePayload(payload, action, brand, ctx);
  assert.ok(!('bad_brand' in r), JSON.stringify(r));
  return r;
}

const none: ValidationErrors = { bad_values: [], bad_properties: [], missing_properties: [] };

describe('validatePayload: brand', () => {
  it('answers bad_brand for a missing or unknown brand', () => {
    assert.deepEqual(validatePayload({}, 'create', undefined), { bad_brand: 'undefined' });
    assert.deepEqual(validatePayload({ hello: 'world' }, 'create', 'gorilla'), { bad_brand: 'gorilla' });
  });
});

for (const brand of OS_BRANDS) {
  const base = { brand, image_uuid: SMARTOS_IMAGE };
  describe(`validatePayload: ${brand} create (tests/test-validate-payload.js)`, () => {
    it('accepts the minimal payload', () => {
      assert.deepEqual(errorsOf(base, 'create', brand), none);
    });

    const badValues: [string, Record<string, unknown>, string][] = [
      ['invalid autoboot', { autoboot: 'aardvark' }, 'autoboot'],
      ['non-string alias', { alias: 42 }, 'alias'],
      ['max_swap below 256', { max_swap: 128 }, 'max_swap'],
      ['non-integer cpu_cap', { cpu_cap: 'doogle' }, 'cpu_cap'],
      ['non-existent zpool', { zpool: 'doogle' }, 'zpool'],
      [
        'nested customer_metadata',
        { customer_metadata: { hello: { complicated: 'world' } } },
        'customer_metadata',
      ],
      ['fs_allowed element with a comma', { fs_allowed: ['ufs,tmpfs,pcfs'] }, 'fs_allowed'],
      ['fs_allowed object', { fs_allowed: { hello: 'world' } }, 'fs_allowed'],
      ['nics object', { nics: {} }, 'nics'],
      ['nics string', { nics: "[{'nic_tag': 'admin', 'ip': 'dhcp'}]" }, 'nics'],
      ['mtu too low', { nics: [{ nic_tag: 'admin', ip: 'dhcp', mtu: 500 }] }, 'nics.*.mtu'],
      ['mtu too high', { nics: [{ nic_tag: 'admin', ip: 'dhcp', mtu: 10000 }] }, 'nics.*.mtu'],
      ['fractional mtu', { nics: [{ nic_tag: 'admin', ip: 'dhcp', mtu: 1500.3 }] }, 'nics.*.mtu'],
      [
        'string mtu',
        { nics: [{ nic_tag: 'admin', ip: 'dhcp', mtu: 'Ah Elbereth, Gilthoniel!' }] },
        'nics.*.mtu',
      ],
      ['object mtu', { nics: [{ nic_tag: 'admin', ip: 'dhcp', mtu: { hello: 'world' } }] }, 'nics.*.mtu'],
    ];
    for (const [what, extra, prop] of badValues) {
      it(`puts ${prop} in bad_values: ${what}`, () => {
        const e = errorsOf({ ...base, ...extra }, 'create', brand);
        assert.deepEqual(e, { ...none, bad_values: [prop] });
      });
    }

    const valid: [string, Record<string, unknown>][] = [
      ['zones zpool', { zpool: 'zones' }],
      ['fs_allowed string', { fs_allowed: 'ufs,pcfs,tmpfs' }],
      ['fs_allowed array', { fs_allowed: ['ufs', 'pcfs', 'tmpfs'] }],
      [
        'flat customer_metadata',
        { customer_metadata: { hello: 'world', 'valid keys': true, 'a number?': 42 } },
      ],
      ['nic list', { nics: [{ nic_tag: 'admin', ip: 'dhcp' }] }],
      ['mtu 576', { nics: [{ nic_tag: 'admin', ip: 'dhcp', mtu: 576 }] }],
      ['mtu 9000', { nics: [{ nic_tag: 'admin', ip: 'dhcp', mtu: 9000 }] }],
      ['mtu as a numeric string', { nics: [{ nic_tag: 'admin', ip: 'dhcp', mtu: '2323' }] }],
    ];
    for (const [what, extra] of valid) {
      it(`accepts ${what}`, () => assert.deepEqual(errorsOf({ ...base, ...extra }, 'create', brand), none));
    }

    it('rejects update_nics on create and accepts it on update', () => {
      const update_nics = [{ mac: '01:02:03:0a:0b:0c', nic_tag: 'external' }];
      assert.deepEqual(errorsOf({ ...base, update_nics }, 'create', brand), {
        ...none,
        bad_properties: ['update_nics'],
      });
      assert.deepEqual(errorsOf({ update_nics }, 'update', brand), none);
    });

    it('rejects uuid in an update, as a bad property', () => {
      const e = errorsOf({ uuid: 'doogle', alias: 'foo' }, 'update', brand);
      assert.deepEqual(e.bad_properties, ['uuid']);
    });

    it('flags dataset_name and nics.*.physical of an old SDC payload, but no values', () => {
      const e = errorsOf(
        {
          ...base,
          alias: 'zapi0',
          tags: { smartdc_role: 'zapi' },
          zfs_storage_pool_name: 'zones',
          dataset_name: 'smartos-1.6.3',
          max_physical_memory: 64,
          max_swap: 256,
          nics: [
            {
              ip: '10.99.99.19',
              netmask: '255.255.255.0',
              nic_tag: 'admin',
              primary: true,
              physical: 'net0',
            },
          ],
          limit_priv: ['default'],
        },
        'create',
        brand,
      );
      assert.deepEqual(e, { ...none, bad_properties: ['dataset_name', 'nics.*.physical'] });
    });

    it('accepts a payload with every OS option', () => {
      const payload = {
        ...base,
        alias: 'maximumpower',
        autoboot: 'true',
        billing_id: '0445e934-a736-11e1-921c-df8fa4e4f3b6',
        cpu_cap: 800,
        delegate_dataset: 'true',
        filesystems: [{ type: 'lofs', source: '/var/tmp', target: '/gztmp', options: ['ro', 'nodevices'] }],
        limit_priv: ['proc_info', '-proc_session'],
        nics: [{ blocked_outgoing_ports: [1, 2, 3], dhcp_server: true, gateway: '10.88.88.2', vlan_id: 400 }],
        resolvers: ['8.8.8.8', '8.8.4.4'],
        zfs_data_compression: 'gzip-3',
        zfs_root_recsize: 8192,
        zonename: 'maximumpower',
      };
      assert.deepEqual(errorsOf(payload, 'create', brand), none);
    });
  });
}

describe('validatePayload: required properties', () => {
  it('needs brand on create, image_uuid for OS brands and kernel_version for lx', () => {
    assert.deepEqual(errorsOf({}, 'create', 'kvm').missing_properties, ['brand']);
    assert.deepEqual(errorsOf({ brand: 'kvm' }, 'create', 'kvm'), none);
    assert.deepEqual(errorsOf({ brand: 'joyent' }, 'create', 'joyent').missing_properties, ['image_uuid']);
    assert.deepEqual(errorsOf({ brand: 'lx' }, 'create', 'lx').missing_properties, [
      'image_uuid',
      'kernel_version',
    ]);
    assert.deepEqual(errorsOf({}, 'update', 'lx'), none);
  });

  it('needs disks.N.size without image_uuid and disks.N.image_size with it', () => {
    const e = errorsOf(
      { brand: 'kvm', disks: [{ model: 'virtio' }, { model: 'virtio', image_uuid: UBUNTU_IMAGE }] },
      'create',
      'kvm',
    );
    assert.deepEqual(e.missing_properties, ['disks.0.size', 'disks.1.image_size']);
  });

  it('treats size and block_size with image_uuid as bad properties', () => {
    const disk = {
      model: 'virtio',
      image_uuid: UBUNTU_IMAGE,
      image_size: 5120,
      size: 5120,
      block_size: 8192,
    };
    assert.deepEqual(errorsOf({ add_disks: [disk] }, 'update', 'kvm').bad_properties, [
      'add_disks.0.size',
      'add_disks.0.block_size',
    ]);
  });

  it('needs pci_devices path and pci_slot (bhyve)', () => {
    const e = errorsOf({ brand: 'bhyve', pci_devices: [{ model: 'other' }] }, 'create', 'bhyve');
    assert.deepEqual(e.missing_properties, ['pci_devices.0.path', 'pci_devices.0.pci_slot']);
    assert.deepEqual(e.bad_values, ['pci_devices.0.model']);
  });
});

describe('validatePayload: brand-specific properties', () => {
  it('rejects properties other brands own', () => {
    assert.deepEqual(errorsOf({ brand: 'kvm', tmpfs: 64, dns_domain: 'x' }, 'create', 'kvm').bad_properties, [
      'tmpfs',
      'dns_domain',
    ]);
    assert.deepEqual(
      errorsOf({ brand: 'joyent', image_uuid: SMARTOS_IMAGE, vcpus: 2 }, 'create', 'joyent').bad_properties,
      ['vcpus'],
    );
    assert.deepEqual(errorsOf({ nics: [{ model: 'virtio' }] }, 'update', 'joyent').bad_properties, [
      'nics',
      'nics.*.model',
    ]);
  });

  it('allows set_/remove_ and add_/update_/remove_ keys on update only', () => {
    const upd = { set_tags: { a: 1 }, remove_tags: 'a,b', add_nics: [], remove_nics: ['aa:bb:cc:dd:ee:ff'] };
    assert.deepEqual(errorsOf(upd, 'update', 'joyent'), none);
    assert.deepEqual(errorsOf({ tags: { a: 1 } }, 'update', 'joyent').bad_properties, ['tags']);
  });
});

describe('validatePayload: images (ctx.imageLookup)', () => {
  const images: Record<string, ImageInfo> = {
    [SMARTOS_IMAGE]: { type: 'zone-dataset' },
    [UBUNTU_IMAGE]: { type: 'zvol', image_size: 10240, requirements: { bootrom: 'uefi' } },
  };
  const lookup = (uuid: string) => images[uuid];
  const check = (payload: Record<string, unknown>, action: 'create' | 'update', brand: string) => {
    const r = validatePayload(payload, action, brand, { imageLookup: lookup });
    assert.ok(!('bad_brand' in r));
    return r;
  };

  it('wants installed images of the brand type', () => {
    assert.deepEqual(check({ brand: 'joyent', image_uuid: SMARTOS_IMAGE }, 'create', 'joyent'), none);
    assert.deepEqual(
      check({ brand: 'lx', image_uuid: SMARTOS_IMAGE, kernel_version: '3.13.0' }, 'create', 'lx'),
      {
        ...none,
        bad_values: ['image_uuid'],
      },
    );
    const missing = '00000000-85fb-11e2-ae84-276612e8990c';
    assert.deepEqual(
      check({ brand: 'joyent-minimal', image_uuid: missing }, 'create', 'joyent-minimal').bad_values,
      ['image_uuid'],
    );
    const disk = { image_uuid: missing, image_size: 5120, model: 'virtio' };
    assert.deepEqual(check({ brand: 'kvm', disks: [disk] }, 'create', 'kvm').bad_values, [
      'disks.0.image_uuid',
    ]);
    assert.deepEqual(check({ add_disks: [disk] }, 'update', 'kvm').bad_values, ['add_disks.0.image_uuid']);
  });

  it('fills a missing image_size from the manifest and rejects a wrong one', () => {
    const disk = { image_uuid: UBUNTU_IMAGE, model: 'virtio', boot: true };
    assert.deepEqual(check({ brand: 'bhyve', disks: [disk] }, 'create', 'bhyve'), none);
    assert.deepEqual(
      check({ brand: 'kvm', disks: [{ ...disk, image_size: 1 }] }, 'create', 'kvm').bad_values,
      ['disks.0.image_size'],
    );
    assert.deepEqual(
      check({ brand: 'bhyve', bootrom: 'bios', disks: [disk] }, 'create', 'bhyve').bad_values,
      ['bootrom'],
    );
  });
});

describe('formatValidateResult', () => {
  it('prints what vmadm validate prints', () => {
    const ok = validatePayload({ brand: 'joyent', image_uuid: SMARTOS_IMAGE }, 'create', 'joyent');
    assert.deepEqual(formatValidateResult(ok, 'create', 'joyent'), {
      message: "VALID 'create' payload for joyent brand VMs.",
      exitCode: 0,
    });
    assert.deepEqual(formatValidateResult(validatePayload({}, 'create', undefined), 'create', undefined), {
      message: '{\n  "bad_brand": "undefined"\n}',
      exitCode: 1,
    });
    const bad = validatePayload({ brand: 'joyent', alias: 42 }, 'create', 'joyent');
    assert.deepEqual(formatValidateResult(bad, 'create', 'joyent'), {
      message: [
        '{',
        '  "bad_values": [',
        '    "alias"',
        '  ],',
        '  "bad_properties": [],',
        '  "missing_properties": [',
        '    "image_uuid"',
        '  ]',
        '}',
      ].join('\n'),
      exitCode: 1,
    });
  });
});
