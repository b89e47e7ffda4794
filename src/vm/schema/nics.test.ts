import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  BRANDS,
  assignInterfaces,
  generateMac,
  prepareCreate,
  prepareUpdate,
  vrrpMac,
  type Payload,
} from './index.ts';

const IMAGE = '01b2c898-945f-11e1-a523-af1afbe22822';
const MAC1 = '02:00:00:00:00:01';
const MAC2 = '02:00:00:00:00:02';

const create =
  (nics: Payload[], extra: Payload = {}) =>
  () =>
    prepareCreate({ image_uuid: IMAGE, nics, ...extra });

describe('generateMac and vrrpMac (smartos.md §2.2)', () => {
  it('makes a locally administered unicast MAC with no zero octet', () => {
    assert.equal(
      generateMac((min) => min),
      '12:01:01:01:01:01',
    );
    assert.equal(
      generateMac((_min, max) => max - 1),
      'f2:ff:ff:ff:ff:ff',
    );
    for (let i = 0; i < 200; i++)
      assert.match(generateMac(), /^[1-9a-f]2(:(0[1-9a-f]|[1-9a-f][0-9a-f])){5}$/);
  });

  it('derives the VRRP MAC from the router id', () => {
    assert.equal(vrrpMac(10), '00:00:5e:00:01:0a');
    assert.equal(vrrpMac(255), '00:00:5e:00:01:ff');
  });
});

describe('assignInterfaces', () => {
  it('takes the lowest free netN, or ethN for lx', () => {
    const existing = [{ interface: 'net0' }, { interface: 'net2' }];
    const named = assignInterfaces(
      [{ mac: MAC1 }, { mac: MAC2, interface: 'net7' }, {}],
      BRANDS.kvm,
      existing,
    );
    assert.deepEqual(
      named.map((n) => n.interface),
      ['net1', 'net7', 'net3'],
    );
    assert.equal(assignInterfaces([{}], BRANDS.lx)[0]!.interface, 'eth0');
  });
});

describe('NIC normalisation on create', () => {
  it('fills mac, interface and primary, and turns ip/netmask/gateway into ips/gateways', () => {
    const { payload } = prepareCreate(
      {
        image_uuid: IMAGE,
        nics: [
          {
            nic_tag: 'admin',
            ip: '10.88.88.213',
            netmask: '255.255.255.0',
            gateway: '10.88.88.2',
            mac: 'B2:DB:D2:3F:36:D9',
          },
          { nic_tag: 'external', ip: 'dhcp', vlan_id: '12', allow_ip_spoofing: 'true' },
        ],
      },
      { random: (min) => min },
    );
    assert.deepEqual(payload.nics, [
      {
        nic_tag: 'admin',
        mac: 'b2:db:d2:3f:36:d9',
        ips: ['10.88.88.213/24'],
        gateways: ['10.88.88.2'],
        primary: true,
        interface: 'net0',
      },
      {
        nic_tag: 'external',
        vlan_id: 12,
        allow_ip_spoofing: true,
        mac: '12:01:01:01:01:01',
        ips: ['dhcp'],
        interface: 'net1',
      },
    ]);
  });

  it('takes the model from nic_driver on HVM brands', () => {
    const { payload } = prepareCreate({
      brand: 'kvm',
      nic_driver: 'e1000',
      nics: [{ nic_tag: 'admin', mac: MAC1 }],
    });
    assert.deepEqual(payload.nics, [
      { nic_tag: 'admin', mac: MAC1, model: 'e1000', primary: true, interface: 'net0' },
    ]);
  });
});

describe('NIC errors (smartos.md §3.2), word for word', () => {
  const twentyOne = Array.from({ length: 21 }, (_, i) => `10.0.0.${i + 1}/24`);
  const cases: [string, () => unknown, string][] = [
    [
      'duplicate MAC',
      create([
        { nic_tag: 'admin', mac: MAC1 },
        { nic_tag: 'admin', mac: MAC1 },
      ]),
      `Cannot add multiple NICs with the same MAC: ${MAC1}`,
    ],
    [
      'duplicate IP',
      create([
        { nic_tag: 'admin', ips: ['10.0.0.1/24'] },
        { nic_tag: 'external', ips: ['10.0.0.1/24'] },
      ]),
      'Cannot add multiple NICs with the same IP: 10.0.0.1/24',
    ],
    [
      'two primaries',
      create([
        { nic_tag: 'admin', primary: true },
        { nic_tag: 'admin', primary: true },
      ]),
      'payload specifies more than 1 primary NIC',
    ],
    [
      'IPv6 gateway',
      create([{ nic_tag: 'admin', gateways: ['fe80::1'] }]),
      'Static gateways must be IPv4 addresses: fe80::1',
    ],
    [
      'ip without netmask',
      create([{ nic_tag: 'admin', mac: MAC1, ip: '10.0.0.1' }]),
      `Missing .netmask option for NIC: {"nic_tag":"admin","mac":"${MAC1}","ip":"10.0.0.1"}`,
    ],
    [
      'bad netmask',
      create([{ nic_tag: 'admin', ip: '10.0.0.1', netmask: '255.0.255.0' }]),
      'Specified netmask value is invalid: 255.0.255.0',
    ],
    [
      'bad nic_tag',
      create([{ nic_tag: 'admin-1', mac: MAC1 }]),
      `invalid or missing .nic_tag option for NIC: {"nic_tag":"admin-1","mac":"${MAC1}"}`,
    ],
    [
      'missing nic_tag',
      create([{ mac: MAC1, ips: ['dhcp'] }]),
      `invalid or missing .nic_tag option for NIC: {"mac":"${MAC1}","ips":["dhcp"]}`,
    ],
    [
      'HVM NIC without model',
      () => prepareCreate({ brand: 'kvm', nics: [{ nic_tag: 'admin', mac: MAC1 }] }),
      `missing .model option for NIC: {"nic_tag":"admin","mac":"${MAC1}"}`,
    ],
    [
      '21 addresses',
      create([{ nic_tag: 'admin', ips: twentyOne }]),
      'nic.*.ips contains 21 addresses, but is limited to 20',
    ],
    [
      'address without prefix',
      create([{ nic_tag: 'admin', mac: MAC1, ips: ['10.0.0.1'] }]),
      `Invalid IP for NIC: {"nic_tag":"admin","mac":"${MAC1}","ips":["10.0.0.1"]}`,
    ],
    [
      '14 allowed_ips',
      create([{ nic_tag: 'admin', allowed_ips: Array.from({ length: 14 }, (_, i) => `10.1.0.${i}`) }]),
      'Maximum of 13 allowed_ips per nic',
    ],
    [
      'bad allowed_ips',
      create([{ nic_tag: 'admin', allowed_ips: ['10.1.0.0/33', 'bogus', '10.1.0.1'] }]),
      'invalid allowed_ips: 10.1.0.0/33, bogus',
    ],
    [
      'VRRP without primary ip',
      create([
        { nic_tag: 'admin', ips: ['10.0.0.1/24'] },
        { nic_tag: 'admin', vrrp_vrid: 1 },
      ]),
      'vrrp_vrid set but not vrrp_primary_ip',
    ],
    [
      'only VRRP NICs',
      create([{ nic_tag: 'admin', vrrp_vrid: 1, vrrp_primary_ip: '10.0.0.1', ips: ['10.0.0.2/24'] }]),
      'VM cannot contain only VRRP nics',
    ],
    [
      'mac and vrrp_vrid',
      create([{ nic_tag: 'admin', vrrp_vrid: 1, mac: MAC1 }]),
      'Cannot set both mac and vrrp_vrid',
    ],
    [
      'VRRP primary ip not on the VM',
      create([
        { nic_tag: 'admin', ips: ['10.0.0.1/24'] },
        { nic_tag: 'admin', vrrp_vrid: 1, vrrp_primary_ip: '10.0.0.9', ips: ['10.0.0.2/24'] },
      ]),
      'vrrp_primary_ip must belong to the same VM',
    ],
  ];
  for (const [what, run, message] of cases) {
    it(what, () => assert.throws(run, { message }));
  }

  it('accepts a VRRP NIC with its primary ip on the VM', () => {
    const { payload } = create([
      { nic_tag: 'admin', ips: ['10.0.0.1/24'] },
      { nic_tag: 'admin', vrrp_vrid: 1, vrrp_primary_ip: '10.0.0.1', ips: ['10.0.0.2/24'] },
    ])();
    assert.equal((payload.nics as Payload[])[1]!.mac, '00:00:5e:00:01:01');
  });
});

describe('NIC errors on update', () => {
  const vm: Payload = {
    brand: 'joyent',
    nics: [
      { mac: MAC1, nic_tag: 'admin', ips: ['10.0.0.1/24'], interface: 'net0', primary: true },
      { mac: MAC2, nic_tag: 'external', ips: ['fd00::1/64'], interface: 'net1' },
    ],
  };
  const cases: [Payload, string][] = [
    [{ update_nics: [{ nic_tag: 'admin' }] }, 'NIC object needs a .mac property to update'],
    [
      { update_nics: [{ mac: '02:00:00:00:00:09', nic_tag: 'admin' }] },
      'There is no existing NIC with that mac address',
    ],
    [
      { update_nics: [{ mac: MAC1, primary: false }] },
      "invalid value for NIC's primary flag: false (must be true)",
    ],
    [
      { update_nics: [{ mac: MAC1, nic_tag: 'admin/x' }] },
      `invalid .nic_tag option for NIC: {"mac":"${MAC1}","nic_tag":"admin/x"}`,
    ],
    [
      { update_nics: [{ mac: MAC2, ip: '10.0.0.5' }] },
      'Need a single existing IPv4 address to update .ip or .netmask',
    ],
    [
      { add_nics: [{ nic_tag: 'admin', ips: ['10.0.0.1/24'] }] },
      'Cannot add multiple NICs with the same IP: 10.0.0.1/24',
    ],
    [{ add_nics: [{ nic_tag: 'admin', mac: MAC2 }] }, `Cannot add multiple NICs with the same MAC: ${MAC2}`],
  ];
  for (const [payload, message] of cases) {
    it(message, () => assert.throws(() => prepareUpdate(payload, vm), { message }));
  }

  it('moves an address, keeps the old netmask, and names added NICs after the existing ones', () => {
    const { payload } = prepareUpdate(
      {
        update_nics: [{ mac: MAC1, ip: '10.0.0.7' }],
        add_nics: [{ nic_tag: 'admin', ips: ['10.0.0.1/24'], mac: '02:00:00:00:00:03' }],
        remove_nics: [MAC1],
      },
      vm,
    );
    assert.deepEqual(payload.update_nics, [{ mac: MAC1, ips: ['10.0.0.7/24'] }]);
    assert.deepEqual(payload.add_nics, [
      { nic_tag: 'admin', ips: ['10.0.0.1/24'], mac: '02:00:00:00:00:03', interface: 'net2' },
    ]);
  });
});
