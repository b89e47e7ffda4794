/**
 * Payload errors: a stable code plus the data, and SmartOS's exact wording for each code in one place
 * (smartos.md §3.2). The create/update checks throw these; `vmadm` prints `message` and exits 1.
 * @module
 */
import { ZonixError } from '../../common/index.ts';
import { COMPRESSION_TYPES, MINIMUM_MAX_SWAP, VGA_TYPES } from './values.ts';

const json = (v: unknown): string => (v === undefined ? 'undefined' : JSON.stringify(v));
const stateOf = (state: unknown, zoneState: unknown) => `currently: ${String(state)} (${String(zoneState)})`;

export const MESSAGES = {
  // Types and validation
  InvalidValue: (prop: string, value: unknown) => `Invalid value for ${prop}: ${json(value)}:${typeof value}`,
  InvalidValues: (props: readonly string[]) => `Invalid value(s) for: ${props.join(',')}`,
  MissingProperties: (props: readonly string[]) => `Missing required properties: ${props.join(',')}`,
  InvalidBrand: (brand: unknown) => `Invalid brand while validating payload: ${json(brand)}`,
  UnsupportedBrand: (brand: unknown) => `Unsupported brand: ${String(brand)}`,
  BothGiven: (prop: string) => `Cannot specify both "${prop}" and "add_${prop}"`,
  NotAnArray: (field: string) => `${field} must be an array.`,

  // Memory
  MaxLockedAboveMaxPhys: () => 'max_locked_memory must be <= max_physical_memory',
  MaxSwapBelowMaxPhys: () => 'max_swap must be >= max_physical_memory',
  BelowRam: (prop: string, value: number, ram: number) =>
    `vm.${prop} (${value}) cannot be lower than vm.ram (${ram})`,
  SwapBelowMinimum: (value: number) => `vm.max_swap (${value}) cannot be lower than ${MINIMUM_MAX_SWAP}MiB`,

  // NICs
  DuplicateMac: (mac: unknown) => `Cannot add multiple NICs with the same MAC: ${String(mac)}`,
  DuplicateIp: (ip: string) => `Cannot add multiple NICs with the same IP: ${ip}`,
  DuplicateVrid: (vrid: unknown) => `Cannot add multiple NICs with the same VRID: ${String(vrid)}`,
  MacWithVrid: () => 'Cannot set both mac and vrrp_vrid',
  InvalidPrimary: (v: unknown) => `invalid value for NIC's primary flag: ${String(v)} (must be true)`,
  MultiplePrimary: () => 'payload specifies more than 1 primary NIC',
  GatewayNotIPv4: (gw: unknown) => `Static gateways must be IPv4 addresses: ${String(gw)}`,
  TooManyIps: (n: number) => `nic.*.ips contains ${n} addresses, but is limited to 20`,
  InvalidNicIp: (nic: unknown) => `Invalid IP for NIC: ${json(nic)}`,
  MissingNetmask: (nic: unknown) => `Missing .netmask option for NIC: ${json(nic)}`,
  InvalidNetmask: (mask: unknown) => `Specified netmask value is invalid: ${String(mask)}`,
  InvalidNicTag: (nic: unknown) => `invalid or missing .nic_tag option for NIC: ${json(nic)}`,
  InvalidUpdateNicTag: (nic: unknown) => `invalid .nic_tag option for NIC: ${json(nic)}`,
  MissingNicModel: (nic: unknown) => `missing .model option for NIC: ${json(nic)}`,
  // Worded as SmartOS's disk model error (SmartOS passes an unknown NIC model on to the hypervisor).
  InvalidNicModel: (model: unknown, brand: string, models: readonly string[]) =>
    `"${String(model)}" is not a valid NIC model for ${brand} brand. Valid are: ${models.join(',')}`,
  InvalidUpdateNicModel: (nic: unknown) => `invalid .model option for NIC: ${json(nic)}`,
  UpdateNicNeedsMac: () => 'NIC object needs a .mac property to update',
  NoSuchNic: () => 'There is no existing NIC with that mac address',
  UpdateIpWithoutNetmask: () => 'Updating IP address of NIC, but there is currently no specified netmask',
  NeedSingleIPv4: () => 'Need a single existing IPv4 address to update .ip or .netmask',
  VrrpWithoutPrimaryIp: () => 'vrrp_vrid set but not vrrp_primary_ip',
  VrrpPrimaryIsVrrp: () => 'Cannot set vrrp_primary_ip to the IP of a VRRP nic',
  OnlyVrrpNics: () => 'VM cannot contain only VRRP nics',
  VrrpPrimaryNotOwn: () => 'vrrp_primary_ip must belong to the same VM',
  TooManyNicAddresses: () => 'More than 32 IPs cannot be associated with a NIC',
  InvalidAllowedIps: (bad: readonly string[]) => `invalid allowed_ips: ${bad.join(', ')}`,
  TooManyAllowedIps: () => 'Maximum of 13 allowed_ips per nic',
  TooManyClientIds: (n: number) =>
    `nics.*.allowed_dhcp_cids contains ${n} Client Identifiers, but is limited to 20`,
  ClientIdsTooLong: () => 'nics.*.allowed_dhcp_cids contains too many long Client Identifiers',
  /** Host state (for the vmadm core): a MAC, IP, VRID or vnc_port already used by another VM. */
  Conflict: () => 'Conflict detected with another vm, please check the MAC, IP, and VRID',
  /** Host state (for the vmadm core): nic tags that do not exist on this host. */
  UnknownNicTags: (tags: readonly string[]) => tags.map((t) => `Invalid nic tag "${t}"`).join('\n'),

  // Routes
  InvalidRouteDestination: (dst: string) =>
    `Invalid route destination: "${dst}" (must be IP address or CIDR)`,
  InvalidRouteGateway: (gw: unknown) =>
    `Invalid route gateway: "${String(gw)}" (must be IP address, MAC address, or nic)`,
  RouteToMissingNic: (gw: unknown) => `Route gateway: "${String(gw)}" refers to non-existent or DHCP nic`,

  // Disks and filesystems
  DisksNeedStopped: (state: unknown, zoneState: unknown) =>
    `updates to disks are only allowed when state is "stopped", ${stateOf(state, zoneState)}`,
  DiskUpdateNeedsStopped: (state: unknown, zoneState: unknown) =>
    `at least one specified update to disks is only allowed when state is "stopped", ${stateOf(state, zoneState)}`,
  PciNeedsStopped: (state: unknown, zoneState: unknown) =>
    `updates to pci_devices are only allowed when state is "stopped", ${stateOf(state, zoneState)}`,
  DiskPathNeedsNocreate: () => 'you cannot specify a path for a disk unless you set nocreate=true',
  InvalidBlockSize: (v: unknown) => `invalid .block_size(${String(v)}), must be 512-131072 and a power of 2.`,
  BlockSizeWithImage: () => 'setting both .block_size and .image_uuid on a volume is invalid',
  BlockSizeChange: () => 'cannot change .block_size for a disk after creation',
  RefreservationAuto: () => 'cannot change refreservation to auto on existing disk',
  InvalidDiskCompression: () =>
    `invalid compression setting for disk, must be one of: ${COMPRESSION_TYPES.join(', ')}`,
  InvalidDiskCompressionUpdate: () =>
    `invalid compression type for disk, must be one of: ${COMPRESSION_TYPES.join(', ')}`,
  MissingDiskModel: (disk: unknown) => `missing .model option for disk: ${json(disk)}`,
  InvalidDiskModel: (model: unknown, brand: string, models: readonly string[]) =>
    `"${String(model)}" is not a valid disk model for ${brand} brand. Valid are: ${models.join(',')}`,
  /** Host state (for the vmadm core): a filesystems[].source that does not exist. */
  MissingFilesystem: (source: unknown) => `missing requested filesystem: ${String(source)}`,

  // Other properties
  InvalidVga: (v: unknown) => `Invalid VGA type: "${String(v)}", supported types are: ${VGA_TYPES.join(',')}`,
  VncPasswordTooLong: () => 'VNC password is too long, maximum length is 8 characters.',
  InvalidRecsize: (prop: string, v: unknown) =>
    `invalid ${prop} (${String(v)}), must be 512-131072 and a power of 2. (0 to disable)`,
  InvalidCompression: (v: unknown) =>
    `invalid compression type for ${String(v)}, must be one of: ${COMPRESSION_TYPES.join(', ')}`,
  InvalidLimit: (prop: string, v: unknown) =>
    `invalid ${prop} (${String(v)}), must be a number >= 0 (or '' to disable)`,
} as const;

export type PayloadErrorCode = keyof typeof MESSAGES;
type ArgsOf<C extends PayloadErrorCode> = Parameters<(typeof MESSAGES)[C]>;

/** A payload a user gave is refused: exit 1, HTTP 422; `code` is stable, `args` carry the data. */
export class PayloadError extends ZonixError {
  override readonly code: PayloadErrorCode;
  readonly args: readonly unknown[];
  constructor(code: PayloadErrorCode, message: string, args: readonly unknown[]) {
    super(code, message, { httpStatus: 422 });
    this.code = code;
    this.args = args;
  }
}

/** Builds the error for `code` with SmartOS's wording. */
export function payloadError<C extends PayloadErrorCode>(code: C, ...args: ArgsOf<C>): PayloadError {
  const format = MESSAGES[code] as (...a: ArgsOf<C>) => string;
  return new PayloadError(code, format(...args), args);
}
