/**
 * The six brands and what each can do, as data. Shared code asks these records (`brand.hvm`,
 * `brand.memoryOverhead`, ...) and never compares brand names.
 * @module
 */
import type { BrandName } from '../schema/types.ts';

export interface BrandInfo {
  readonly name: BrandName;
  /** The TYPE column of `vmadm list` (SmartOS truncates the feature type to 4 characters). */
  readonly listType: 'OS' | 'LX' | 'KVM' | 'BHYV';
  /** Hardware-virtualised: a guest kernel under QEMU, with disks instead of a zone root. */
  readonly hvm: boolean;
  /** Image types the zone root (`image_uuid`) may be created from. */
  readonly imageTypes: readonly string[];
  /** Image types a disk (`disks.*.image_uuid`) may be created from; empty when the brand has no disks. */
  readonly diskImageTypes: readonly string[];
  /** A create without `image_uuid` is missing a property. */
  readonly requiresImage: boolean;
  /** A create without `kernel_version` is missing a property. */
  readonly requiresKernelVersion: boolean;
  /** MiB added to `ram` to get `max_physical_memory` when only `ram` is given. */
  readonly memoryOverhead: number;
  /** MiB that `max_physical_memory` and `max_locked_memory` must keep above `ram`. */
  readonly minMemoryOverhead: number;
  /** Mounts a tmpfs /tmp sized by `tmpfs`. */
  readonly usesTmpfs: boolean;
  /** Interface names are `<prefix>N`. */
  readonly interfacePrefix: 'net' | 'eth';
  /** An added NIC needs a `model` (or `nic_driver`, or the first NIC's model). */
  readonly nicModelRequired: boolean;
  /** Accepted `disks.*.model` values. */
  readonly diskModels: readonly string[];
  /** NIC models its guests take (empty: zones, whose NICs have no model). */
  readonly nicModels: readonly string[];
  /** `limit_priv` of a new VM. */
  readonly limitPriv: readonly string[];
  /** The signal that asks the brand's init to halt (busybox init powers off on USR2). */
  readonly haltSignal: string;
  /** The state `get` shows while a stop waits for the guest (SmartOS: zones shut down, HVMs stop). */
  readonly haltingState: 'shutting_down' | 'stopping';
  /**
   * Run in the zone to halt or reboot it, when the zone has it (lx: the distribution's shutdown, as
   * SmartOS does); otherwise the halt signal is sent to init.
   */
  readonly haltCommand?: readonly string[];
  readonly rebootCommand?: readonly string[];
  /**
   * Where the zone sees its control folder (the metadata socket): `/.zonecontrol`, or under /native
   * for lx; none for HVM brands (their guests use a serial port).
   */
  readonly zoneControl?: string;
  /**
   * The guest reads metadata on its second serial port, which its hypervisor offers as a socket
   * in its zone (HVM brands); zones have their control folder instead.
   */
  readonly guestSerial?: boolean;
  /** `vmadm stop -t SECONDS` applies (how long the guest gets before the stop is forced). */
  readonly stopTimeout?: boolean;
  /** `vmadm info` types the brand answers (`all` is every one); none for zones. */
  readonly infoTypes?: readonly string[];
  /** `vmadm sysrq` kinds the brand takes. */
  readonly sysrqKinds?: readonly string[];
  /** `vmadm create-snapshot` works (SmartOS refuses kvm VMs: their disks are zvols it does not snapshot). */
  readonly snapshots: boolean;
  /** What `imgadm create` makes of a VM of this brand. */
  readonly image: ImageRules;
}

/** The image rules of a brand, as SmartOS's imgadm applies them. */
export interface ImageRules {
  /** Images can be made from its VMs. */
  readonly creatable: boolean;
  /** What the image holds: the zone's root filesystem, or the VM's boot disk (a zvol image). */
  readonly holds: 'root' | 'boot-disk';
  /** The image is marked as needing this brand (`requirements.brand`). */
  readonly requiresBrand: boolean;
  /** The image needs the platform the VM was made on (`requirements.min_platform`). */
  readonly requiresPlatform: boolean;
  /** The VM's bootrom goes into the image's requirements (`requirements.bootrom`). */
  readonly recordsBootrom: boolean;
}

const OS_LIMIT_PRIV = ['default'];
const HVM_LIMIT_PRIV = [
  'default',
  '-file_link_any',
  '-net_access',
  '-proc_fork',
  '-proc_info',
  '-proc_session',
];

const osBrand = (name: BrandName): BrandInfo => ({
  name,
  listType: 'OS',
  hvm: false,
  imageTypes: ['zone-dataset'],
  diskImageTypes: [],
  requiresImage: true,
  requiresKernelVersion: false,
  memoryOverhead: 0,
  minMemoryOverhead: 0,
  usesTmpfs: true,
  interfacePrefix: 'net',
  nicModelRequired: false,
  diskModels: [],
  nicModels: [],
  limitPriv: OS_LIMIT_PRIV,
  haltSignal: 'USR2',
  haltingState: 'shutting_down',
  zoneControl: '/.zonecontrol',
  snapshots: true,
  image: {
    creatable: true,
    holds: 'root',
    requiresBrand: false,
    requiresPlatform: true,
    recordsBootrom: false,
  },
});

export const BRANDS: Readonly<Record<BrandName, BrandInfo>> = {
  joyent: osBrand('joyent'),
  'joyent-minimal': osBrand('joyent-minimal'),
  builder: { ...osBrand('builder'), image: { ...osBrand('builder').image, requiresPlatform: false } },
  lx: {
    ...osBrand('lx'),
    listType: 'LX',
    imageTypes: ['lx-dataset', 'docker'],
    requiresKernelVersion: true,
    interfacePrefix: 'eth',
    haltSignal: 'TERM',
    haltingState: 'shutting_down',
    zoneControl: '/native/.zonecontrol',
    haltCommand: ['/sbin/shutdown', '-h', 'now'],
    rebootCommand: ['/sbin/shutdown', '-r', 'now'],
    image: {
      creatable: true,
      holds: 'root',
      requiresBrand: true,
      requiresPlatform: false,
      recordsBootrom: false,
    },
  },
  kvm: {
    name: 'kvm',
    listType: 'KVM',
    hvm: true,
    imageTypes: ['zone-dataset'],
    diskImageTypes: ['zvol'],
    requiresImage: false,
    requiresKernelVersion: false,
    memoryOverhead: 1024,
    minMemoryOverhead: 256,
    usesTmpfs: false,
    interfacePrefix: 'net',
    nicModelRequired: true,
    diskModels: ['virtio', 'scsi', 'ide'],
    nicModels: ['virtio', 'e1000', 'rtl8139'],
    limitPriv: HVM_LIMIT_PRIV,
    haltSignal: 'TERM',
    haltingState: 'stopping',
    guestSerial: true,
    stopTimeout: true,
    infoTypes: ['block', 'blockstats', 'chardev', 'cpus', 'kvm', 'pci', 'spice', 'status', 'version', 'vnc'],
    sysrqKinds: ['nmi', 'screenshot'],
    snapshots: false,
    image: {
      creatable: true,
      holds: 'boot-disk',
      requiresBrand: false,
      requiresPlatform: false,
      recordsBootrom: false,
    },
  },
  bhyve: {
    name: 'bhyve',
    listType: 'BHYV',
    hvm: true,
    imageTypes: ['zone-dataset'],
    diskImageTypes: ['zvol'],
    requiresImage: false,
    requiresKernelVersion: false,
    memoryOverhead: 1280,
    minMemoryOverhead: 256,
    usesTmpfs: false,
    interfacePrefix: 'net',
    nicModelRequired: true,
    diskModels: ['virtio', 'ahci', 'nvme'],
    nicModels: ['virtio', 'e1000'],
    limitPriv: HVM_LIMIT_PRIV,
    haltSignal: 'TERM',
    haltingState: 'stopping',
    guestSerial: true,
    stopTimeout: true,
    infoTypes: ['vnc'],
    sysrqKinds: ['nmi'],
    snapshots: true,
    image: {
      creatable: true,
      holds: 'boot-disk',
      requiresBrand: true,
      requiresPlatform: false,
      recordsBootrom: true,
    },
  },
};

export const BRAND_NAMES = Object.keys(BRANDS) as readonly BrandName[];

export function isBrandName(name: unknown): name is BrandName {
  return typeof name === 'string' && Object.hasOwn(BRANDS, name);
}

/** The brand record for `name`, or undefined for an unknown brand. */
export function getBrand(name: unknown): BrandInfo | undefined {
  return isBrandName(name) ? BRANDS[name] : undefined;
}

/** Names of the brands whose record satisfies `test`: the table's brand groups are built from these. */
export function brandsWhere(test: (b: BrandInfo) => boolean): readonly BrandName[] {
  return BRAND_NAMES.filter((n) => test(BRANDS[n]));
}

/** Every brand. */
export const ALL = BRAND_NAMES;
/** joyent, joyent-minimal, builder, lx. */
export const OS = brandsWhere((b) => !b.hvm);
/** kvm, bhyve. */
export const HVM = brandsWhere((b) => b.hvm);
