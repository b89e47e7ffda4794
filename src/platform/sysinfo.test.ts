import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HostProbe } from './probe.ts';
import {
  buildSysinfo,
  countCpuList,
  formatBuildstamp,
  formatParsable,
  isListedDisk,
  machineIdToUuid,
  networkSections,
  parseBootTime,
  parseCmdline,
  parseCpuInfo,
  parseMemTotalMiB,
  systemPool,
  validHostUuid,
  type HostFacts,
  type IpLink,
  type PoolSummary,
} from './sysinfo.ts';

// Two sockets, two cores each, two threads per core (recorded layout, trimmed to the fields read).
const CPUINFO_2S = [0, 1, 2, 3, 4, 5, 6, 7]
  .map((n) =>
    [
      `processor\t: ${n}`,
      'vendor_id\t: GenuineIntel',
      'model name\t: Intel(R) Xeon(R) CPU E5-2650 v2 @ 2.60GHz',
      `physical id\t: ${n < 4 ? 0 : 1}`,
      'siblings\t: 4',
      `core id\t\t: ${Math.floor(n / 2) % 2}`,
      'cpu cores\t: 2',
      'flags\t\t: fpu vme de pse vmx',
    ].join('\n'),
  )
  .join('\n\n');

const CPUINFO_VM = `processor\t: 0
model name\t: AMD EPYC
physical id\t: 0
core id\t\t: 0

processor\t: 1
model name\t: AMD EPYC
physical id\t: 0
core id\t\t: 1
`;

test('parseCpuInfo counts CPUs, sockets and cores', () => {
  assert.deepEqual(parseCpuInfo(CPUINFO_2S), {
    model: 'Intel(R) Xeon(R) CPU E5-2650 v2 @ 2.60GHz',
    count: 8,
    sockets: 2,
    cores: 4,
  });
  assert.deepEqual(parseCpuInfo(CPUINFO_VM), { model: 'AMD EPYC', count: 2, sockets: 1, cores: 2 });
  // No physical/core ids (some VMs, other architectures): one socket, every CPU a core.
  assert.deepEqual(parseCpuInfo('processor\t: 0\n\nprocessor\t: 1\n'), {
    model: 'Unknown',
    count: 2,
    sockets: 1,
    cores: 2,
  });
  assert.deepEqual(parseCpuInfo(''), { model: 'Unknown', count: 0, sockets: 0, cores: 0 });
});

test('/proc parsers', () => {
  assert.equal(parseMemTotalMiB('MemTotal:       24683620 kB\nMemFree:        23992648 kB\n'), 24105);
  assert.equal(parseMemTotalMiB('garbage'), 0);
  assert.equal(parseBootTime('cpu  1 2 3\nintr 5\nbtime 1795708887\nprocesses 42\n'), '1795708887');
  assert.equal(parseBootTime(''), '0');
  assert.equal(countCpuList('0-1\n'), 2);
  assert.equal(countCpuList('0-3,8,10-11'), 7);
  assert.equal(countCpuList(''), 0);
});

test('parseCmdline keeps key=value pairs before --, mangling keys as SmartOS does', () => {
  const cmdline =
    'BOOT_IMAGE=/vmlinuz root=UUID=abc ro quiet console=ttyS0 tsc=reliable tsc=unstable ' +
    'page_reporting.page_reporting_order=11 foo="a b=c" -- --init-arg x=1\n';
  assert.deepEqual(parseCmdline(cmdline), {
    BOOT_IMAGE: '/vmlinuz',
    root: 'UUID=abc',
    console: 'ttyS0',
    tsc: 'unstable',
    page_reporting_page_reporting_order: '11',
    foo: 'a b=c',
  });
  assert.deepEqual(parseCmdline(''), {});
});

test('host UUID sources', () => {
  assert.equal(
    validHostUuid('4C4C4544-0042-3510-8057-B4C04F4E3132\n'),
    '4c4c4544-0042-3510-8057-b4c04f4e3132',
  );
  assert.equal(validHostUuid('00000000-0000-0000-0000-000000000000'), undefined);
  assert.equal(validHostUuid('03000200-0400-0500-0006-000700080009'), undefined);
  assert.equal(validHostUuid('Not Settable'), undefined);
  assert.equal(machineIdToUuid('3d1219c7c4c5404aaa1f6d2a48adfda4\n'), '3d1219c7-c4c5-404a-aa1f-6d2a48adfda4');
  assert.equal(machineIdToUuid('uninitialized\n'), undefined);
  assert.equal(machineIdToUuid(''), undefined);
});

test('formatBuildstamp is SmartOS-style UTC', () => {
  assert.equal(formatBuildstamp(new Date('2026-11-26T16:00:00.123Z')), '20261126T160000Z');
});

test('isListedDisk skips loop, ram, zram and nbd devices', () => {
  assert.deepEqual(
    ['vda', 'sda', 'nvme0n1', 'loop0', 'loop12', 'ram0', 'zram0', 'nbd3', 'md0'].filter(isListedDisk),
    ['vda', 'sda', 'nvme0n1', 'md0'],
  );
});

// `ip -j -d addr` trimmed to the fields read. lo/eth0/br0/veth are recorded on the test host; the
// bond, vlan and macvlan entries follow iproute2's JSON for those kinds (the test kernel lacks them).
const LINKS: IpLink[] = [
  { ifname: 'lo', address: '00:00:00:00:00:00', operstate: 'UNKNOWN', flags: ['LOOPBACK', 'UP', 'LOWER_UP'] },
  {
    ifname: 'eth0',
    address: '02:FC:00:00:00:01',
    operstate: 'UP',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    addr_info: [
      { family: 'inet6', local: 'fd00::2' },
      { family: 'inet', local: '192.0.2.2' },
      { family: 'inet', local: '192.0.2.3' },
    ],
  },
  { ifname: 'eth1', address: '02:fc:00:00:00:02', operstate: 'DOWN', master: 'bond0', flags: ['SLAVE'] },
  { ifname: 'eth2', address: '02:fc:00:00:00:03', operstate: 'UP', master: 'bond0', flags: ['SLAVE'] },
  {
    ifname: 'bond0',
    address: '02:fc:00:00:00:02',
    operstate: 'UP',
    linkinfo: { info_kind: 'bond', info_data: { mode: '802.3ad', ad_lacp_active: 'on' } },
  },
  {
    ifname: 'external0',
    address: '02:fc:00:00:00:10',
    operstate: 'UP',
    link: 'eth0',
    linkinfo: { info_kind: 'vlan', info_data: { protocol: '802.1Q', id: 5 } },
    addr_info: [{ family: 'inet', local: '10.0.5.2' }],
  },
  {
    ifname: 'admin0',
    address: '02:fc:00:00:00:11',
    operstate: 'DOWN',
    link: 'eth0',
    linkinfo: { info_kind: 'macvlan', info_data: { mode: 'bridge' } },
  },
  {
    ifname: 'br0',
    address: '46:59:cd:88:95:0f',
    operstate: 'DOWN',
    flags: ['NO-CARRIER', 'BROADCAST', 'MULTICAST', 'UP'],
    linkinfo: { info_kind: 'bridge' },
    addr_info: [{ family: 'inet', local: '10.1.2.3' }],
  },
  {
    ifname: 'vz0',
    address: '46:59:cd:88:95:0f',
    operstate: 'LOWERLAYERDOWN',
    master: 'br0',
    link: 'vz1',
    linkinfo: { info_kind: 'veth' },
  },
];

test('networkSections: physical NICs, host vnics, aggregations; zone plumbing left out', () => {
  const s = networkSections(LINKS, ['eth0', 'eth1', 'eth2']);
  assert.deepEqual(s['Network Interfaces'], {
    eth0: { 'MAC Address': '02:fc:00:00:00:01', ip4addr: '192.0.2.2', 'Link Status': 'up', 'NIC Names': [] },
    eth1: { 'MAC Address': '02:fc:00:00:00:02', ip4addr: '', 'Link Status': 'down', 'NIC Names': [] },
    eth2: { 'MAC Address': '02:fc:00:00:00:03', ip4addr: '', 'Link Status': 'up', 'NIC Names': [] },
  });
  assert.deepEqual(s['Virtual Network Interfaces'], {
    external0: {
      'MAC Address': '02:fc:00:00:00:10',
      ip4addr: '10.0.5.2',
      'Link Status': 'up',
      'Host Interface': 'eth0',
      VLAN: '5',
    },
    admin0: {
      'MAC Address': '02:fc:00:00:00:11',
      ip4addr: '',
      'Link Status': 'down',
      'Host Interface': 'eth0',
      VLAN: '0',
    },
  });
  assert.deepEqual(s['Link Aggregations'], {
    bond0: { 'LACP mode': 'active', Interfaces: ['eth1', 'eth2'] },
  });
  assert.deepEqual(networkSections([], []), {
    'Network Interfaces': {},
    'Virtual Network Interfaces': {},
    'Link Aggregations': {},
  });
});

const POOL = (name: string, extra: Partial<PoolSummary> = {}): PoolSummary => ({
  name,
  mountpoint: `/${name}`,
  devices: ['/dev/vdb', '/var/zonix/pools/x.img'],
  sizeBytes: 21.5 * 1024 ** 3,
  allocBytes: 1024,
  freeBytes: 21 * 1024 ** 3,
  health: 'ONLINE',
  profile: 'mirror',
  creation: 1764172800,
  ...extra,
});

test('systemPool prefers zones', () => {
  assert.equal(systemPool([POOL('data'), POOL('zones')])?.name, 'zones');
  assert.equal(systemPool([POOL('data'), POOL('more')])?.name, 'data');
  assert.equal(systemPool([]), undefined);
});

const PROBE: HostProbe = {
  bootId: '5a44f33e-71d6-4726-a9fd-088ebbbae86b',
  kernel: '6.1.0-27-amd64',
  probedAt: '2026-11-26T16:00:00.000Z',
  durationMs: 1200,
  btrfs: { usable: true, progsVersion: '6.2' },
  loop: { usable: true },
  cgroup: { mode: 'v2', controllers: ['cpu', 'memory'] },
  runtimes: {
    runc: { usable: true, version: '1.1.5' },
    crun: { usable: false, version: null, reason: 'crun not installed' },
  },
  kvm: { device: true, usable: false, reason: "guest didn't boot" },
  tcg: { usable: true },
  accelerator: 'tcg',
  nftables: { usable: true, version: '1.0.6' },
  tc: { usable: true },
  tracefs: { mounted: false, path: '/sys/kernel/tracing' },
  bpftrace: { usable: true, version: '0.17.0' },
  overlayfs: { usable: true },
  netns: { usable: true },
};

const FACTS: HostFacts = {
  version: '0.1.0',
  buildstamp: '20261126T160000Z',
  systemType: 'Linux',
  bootTime: '1795708887',
  dmi: { manufacturer: 'QEMU', product: 'Standard PC', serial: '', sku: '', version: 'pc-1', family: '' },
  cpu: { model: 'AMD EPYC', count: 2, sockets: 1, cores: 2 },
  onlineCpus: 2,
  uuid: '3d1219c7-c4c5-404a-aa1f-6d2a48adfda4',
  hostname: 'cn1',
  memoryMiB: 24105,
  disks: { vda: 274_877_906_944 },
  bootParams: { console: 'ttyS0' },
  links: LINKS.slice(0, 2),
  physical: ['eth0'],
};

// SmartOS's key order (src/sysinfo output_json, global zone), restricted to the keys Zonix emits.
const SMARTOS_ORDER = [
  'Live Image',
  'System Type',
  'Boot Time',
  'Datacenter Name',
  'SDC Version',
  'Manufacturer',
  'Product',
  'Serial Number',
  'SKU Number',
  'HW Version',
  'HW Family',
  'Setup',
  'VM Capable',
  'Bhyve Capable',
  'HVM API',
  'CPU Type',
  'CPU Virtualization',
  'CPU Physical Cores',
  'Admin NIC Tag',
  'UUID',
  'Hostname',
  'CPU Total Cores',
  'CPU Socket Count',
  'CPU Core Count',
  'CPU Online Count',
  'CPU Count',
  'MiB of Memory',
  'Zpool',
  'Zpool Disks',
  'Zpool Profile',
  'Zpool Creation',
  'Zpool Size in GiB',
  'Disks',
  'Boot Parameters',
  'Network Interfaces',
  'Virtual Network Interfaces',
  'Link Aggregations',
  'Zonix',
];

test('buildSysinfo emits SmartOS keys in SmartOS order', () => {
  const info = buildSysinfo(FACTS, {
    probe: PROBE,
    pools: [POOL('data'), POOL('zones')],
    datacenterName: 'dc1',
  });
  assert.deepEqual(Object.keys(info), SMARTOS_ORDER);
  assert.equal(info['Datacenter Name'], 'dc1');
  assert.equal(info.Zpool, 'zones');
  assert.equal(info['Zpool Disks'], 'vdb,/var/zonix/pools/x.img');
  assert.equal(info['Zpool Profile'], 'mirror');
  assert.equal(info['Zpool Creation'], 1764172800);
  assert.equal(info['Zpool Size in GiB'], 21);
  assert.deepEqual(info.Disks, { vda: { 'Size in GB': 274 } });
  assert.equal(info['MiB of Memory'], '24105');
  assert.equal(info['Boot Time'], '1795708887');
  assert.equal(info.Setup, 'false');
  assert.equal(info['Live Image'], '20261126T160000Z');
  assert.deepEqual(info.Zonix, { version: '0.1.0', ...PROBE });
});

test('buildSysinfo: no pool, no datacenter; VM Capable and CPU Virtualization follow the probe', () => {
  const info = buildSysinfo(FACTS, { probe: PROBE, pools: [] });
  assert.deepEqual(
    Object.keys(info),
    SMARTOS_ORDER.filter((k) => k !== 'Datacenter Name' && !k.startsWith('Zpool')),
  );
  assert.equal(info['VM Capable'], true);
  assert.equal(info['CPU Virtualization'], 'none');
  assert.equal(info['Bhyve Capable'], false);
  assert.equal('Bhyve Max Vcpus' in info, false);

  const kvm = { ...PROBE, kvm: { device: true, usable: true }, accelerator: 'kvm' as const };
  assert.equal(buildSysinfo(FACTS, { probe: kvm, pools: [] })['CPU Virtualization'], 'kvm');
  const none = { ...PROBE, tcg: { usable: false, reason: 'no qemu' }, accelerator: 'none' as const };
  assert.equal(buildSysinfo(FACTS, { probe: none, pools: [] })['VM Capable'], false);
});

test('formatParsable follows SmartOS sysinfo -p naming', () => {
  const out = formatParsable({
    'Live Image': '20261126T160000Z',
    'VM Capable': true,
    'CPU Physical Cores': 2,
    'Admin NIC Tag': 'admin',
    'MiB of Memory': '24105',
    Hostname: "it's",
    Disks: { vda: { 'Size in GB': 274 } },
    'Boot Parameters': { console: 'ttyS0' },
    'Network Interfaces': {
      eth0: {
        'MAC Address': '02:fc:00:00:00:01',
        ip4addr: '192.0.2.2',
        'Link Status': 'up',
        'NIC Names': ['admin', 'ext'],
      },
    },
    'Virtual Network Interfaces': {
      external0: {
        'MAC Address': 'm',
        ip4addr: '',
        'Link Status': 'up',
        'Host Interface': 'eth0',
        VLAN: '5',
      },
    },
    'Link Aggregations': { bond0: { 'LACP mode': 'active', Interfaces: ['eth1', 'eth2'] } },
    Zonix: {
      runtimes: { runc: { usable: true, version: null } },
      cgroup: { controllers: ['cpu', 'memory'] },
    },
  });
  assert.equal(
    out,
    [
      "Live_Image='20261126T160000Z'",
      "VM_Capable='true'",
      'CPU_Physical_Cores=2',
      'Admin_NIC_Tag=admin',
      'MiB_of_Memory=24105',
      "Hostname='it'\\''s'",
      'Disk_vda_size_in_GB=274',
      "Bootparam_console='ttyS0'",
      "Network_Interface_eth0_MAC_Address='02:fc:00:00:00:01'",
      "Network_Interface_eth0_IPv4_Address='192.0.2.2'",
      "Network_Interface_eth0_NIC_Names='admin,ext'",
      "Network_Interface_eth0_Link_Status='up'",
      "Virtual_Network_Interface_external0_MAC_Address='m'",
      "Virtual_Network_Interface_external0_IPv4_Address=''",
      "Virtual_Network_Interface_external0_Link_Status='up'",
      "Virtual_Network_Interface_external0_VLAN='5'",
      "Virtual_Network_Interface_external0_Host_Interface='eth0'",
      'Aggregations=bond0',
      'Aggregation_bond0_LACP_mode=active',
      'Aggregation_bond0_Interfaces=eth1,eth2',
      "Zonix_runtimes_runc_usable='true'",
      "Zonix_runtimes_runc_version=''",
      "Zonix_cgroup_controllers='cpu,memory'",
      '',
    ].join('\n'),
  );
});

test('formatParsable of a whole sysinfo object: one key=value per line, no spaces in keys', () => {
  const out = formatParsable(buildSysinfo(FACTS, { probe: PROBE, pools: [POOL('zones')] }));
  for (const l of out.trimEnd().split('\n')) assert.match(l, /^[A-Za-z0-9_]+=('([^']|'\\'')*'|[^'\s]*)$/);
  assert.match(out, /^Zpool_Size_in_GiB=21$/m);
  assert.match(out, /^Network_Interface_eth0_Link_Status='up'$/m);
  assert.match(out, /^Zonix_kvm_reason='guest didn'\\''t boot'$/m);
});
