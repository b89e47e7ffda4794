/**
 * Entries of the array properties: `nics[]`, `disks[]`, `filesystems[]` and `pci_devices[]`.
 * `add` = brands that may give the field when the entry is created (`nics` on create, `add_nics`);
 * `update` = brands that may give it in `update_nics`; `updateMode` = what an update does with it.
 * @module
 */
import { ALL, HVM, OS } from '../brands/info.ts';
import { except, sp } from './define.ts';
import type { SubTable } from './types.ts';
import { COMPRESSION_TYPES, isBhyveSectorSize, isClientId, isMacAddress, isMaxbw } from './values.ts';

const KVM = ['kvm'] as const;
const BHYVE = ['bhyve'] as const;

export const NIC_PROPERTIES: SubTable = {
  key: 'mac',
  props: {
    nic_tag: sp('string', ALL, 'reboot', 'Host network tag the NIC attaches to; required when adding', {
      filter: true,
    }),
    mac: sp('string', ALL, 'no', 'MAC address; generated when absent; identifies the NIC in update_nics', {
      update: ALL,
      validator: isMacAddress,
      filter: true,
    }),
    interface: sp('string', ALL, 'no', 'Interface name in the guest; lowest free netN (lx: ethN)', {
      update: ALL,
      filter: true,
    }),
    ips: sp('list', ALL, 'yes', 'Addresses: CIDRs, dhcp or addrconf (at most 20)'),
    ip: sp('string', ALL, 'yes', 'IPv4 address or dhcp; converted to ips (needs netmask when static)', {
      deprecated: 'ips',
      filter: true,
    }),
    netmask: sp('string', ALL, 'yes', 'IPv4 netmask for ip; converted into the ips prefix', {
      deprecated: 'ips',
      filter: true,
    }),
    gateways: sp('list', ALL, 'yes', 'IPv4 default gateways'),
    gateway: sp('string', ALL, 'yes', 'IPv4 default gateway; converted to gateways', {
      deprecated: 'gateways',
      filter: true,
    }),
    vlan_id: sp('integer', ALL, 'yes', 'VLAN id (0 = untagged)', {
      min: 0,
      max: 4095,
      implied: 0,
      filter: true,
    }),
    mtu: sp('integer', ALL, 'reboot', 'MTU; defaults to the link MTU', { min: 576, max: 9000 }),
    primary: sp('boolean', ALL, 'yes', 'The NIC that carries the default route; only true is valid', {
      implied: false,
    }),
    model: sp('string', HVM, 'yes', 'Emulated NIC (kvm: virtio, e1000, rtl8139); required when adding', {
      filter: true,
    }),
    allow_dhcp_spoofing: sp('boolean', ALL, 'live', 'Let the guest act as a DHCP server', { implied: false }),
    allow_ip_spoofing: sp('boolean', ALL, 'live', 'Let the guest send from any IP', { implied: false }),
    allow_mac_spoofing: sp('boolean', ALL, 'live', 'Let the guest send from any MAC', { implied: false }),
    allow_restricted_traffic: sp('boolean', ALL, 'live', 'Let non-IP/ARP traffic through', {
      implied: false,
    }),
    allow_unfiltered_promisc: sp('boolean', HVM, 'live', 'Allow promiscuous mode without filtering', {
      implied: false,
    }),
    dhcp_server: sp('boolean', ALL, 'live', 'Old name of allow_dhcp_spoofing', {
      deprecated: 'allow_dhcp_spoofing',
      implied: false,
      filter: true,
    }),
    allowed_ips: sp('list', ALL, 'yes', 'More addresses or CIDRs the guest may use (at most 13)'),
    allowed_dhcp_cids: sp('list', except(ALL, 'bhyve'), 'yes', 'DHCP client ids the guest may use (0x…)', {
      validator: isClientId,
    }),
    blocked_outgoing_ports: sp('list', ALL, 'live', 'TCP/UDP ports the guest may not send to'),
    maxbw: sp('string', ALL, 'live', 'Bandwidth cap each way, as dladm maxbw: 100M, 1G (Zonix)', {
      validator: isMaxbw,
    }),
    network_uuid: sp('uuid', ALL, 'yes', 'NAPI network this NIC belongs to'),
    vrrp_vrid: sp('integer', ALL, 'yes', 'VRRP router id; the MAC becomes 00:00:5e:00:01:<vrid>', {
      min: 0,
      max: 255,
    }),
    vrrp_primary_ip: sp('string', ALL, 'yes', 'Address of the VM used to send VRRP adverts'),
  },
};

export const DISK_PROPERTIES: SubTable = {
  key: 'path',
  props: {
    path: sp('string', HVM, 'no', 'Device path; set on add only for cdroms or with nocreate', {
      // The key of update_disks (not changeable itself), as mac is for update_nics.
      update: HVM,
      filter: true,
    }),
    // Zonix resizes kvm disks too (SmartOS: bhyve only): both brands are QEMU here.
    size: sp('integer', HVM, 'reboot', 'Size in MiB; required without image_uuid', {
      min: 0,
      update: HVM,
      filter: true,
    }),
    image_uuid: sp('uuid', HVM, 'no', 'zvol image to clone the disk from', { filter: true }),
    image_size: sp('integer', HVM, 'no', 'Size of that image in MiB (taken from the manifest)', {
      min: 0,
      filter: true,
    }),
    image_name: sp('string', KVM, 'yes', 'Name of that image', { filter: true }),
    boot: sp('boolean', HVM, 'reboot', 'Boot from this disk', { implied: false, filter: true }),
    model: sp('string', HVM, 'reboot', 'kvm: virtio, scsi, ide; bhyve: virtio, ahci, nvme', { filter: true }),
    media: sp('string', HVM, 'reboot', 'disk or cdrom', {
      choices: ['disk', 'cdrom'],
      implied: 'disk',
      filter: true,
    }),
    block_size: sp('integer', HVM, 'no', 'Volume block size: a power of 2 from 512 to 131072', { min: 0 }),
    compression: sp('string', HVM, 'live', 'ZFS compression of the volume', {
      choices: COMPRESSION_TYPES,
      implied: 'off',
    }),
    refreservation: sp('integer', HVM, 'live', 'Reserved MiB (defaults to size)', { min: 0 }),
    nocreate: sp('boolean', HVM, 'no', 'Use an existing volume at path', { implied: false }),
    zpool: sp('string', HVM, 'no', 'Pool holding the volume', { implied: 'zones', filter: true }),
    uuid: sp('uuid', BHYVE, 'yes', 'Disk identity shown to the guest'),
    pci_slot: sp('string', BHYVE, 'reboot', 'Guest PCI slot: dev, dev:fn or bus:dev:fn'),
    notrim: sp('boolean', BHYVE, 'reboot', 'Do not pass TRIM to the volume', { implied: false }),
    guest_block_size: sp('string', BHYVE, 'reboot', 'Sector size shown to the guest: "512" or "512/4096"', {
      validator: isBhyveSectorSize,
    }),
    dangerous_allow_shrink: sp('boolean', [], 'yes', 'Allow update_disks to make a disk smaller', {
      update: HVM,
    }),
  },
};

export const FILESYSTEM_PROPERTIES: SubTable = {
  key: 'target',
  props: {
    type: sp('string', OS, 'reboot', 'Mount type, e.g. lofs'),
    source: sp('string', OS, 'reboot', 'Host path; must exist'),
    target: sp('string', OS, 'reboot', 'Path in the zone; identifies the entry'),
    raw: sp('string', OS, 'reboot', 'Raw device, for filesystems that need one'),
    options: sp('list', OS, 'reboot', 'Mount options, e.g. ["ro", "nodevice"]'),
  },
};

export const PCI_DEVICE_PROPERTIES: SubTable = {
  key: 'path',
  props: {
    path: sp('string', BHYVE, 'reboot', 'Host device path under /devices'),
    pci_slot: sp('string', BHYVE, 'reboot', 'Guest PCI slot: dev, dev:fn or bus:dev:fn'),
    model: sp('string', BHYVE, 'reboot', 'Only passthru', { choices: ['passthru'], implied: 'passthru' }),
  },
};
