/**
 * Where machines run, as the CloudAPI layer sees it: every VM it may show, and the operations on one
 * by UUID. On a single host it is that host's core (LocalCompute); a head node will route each call
 * to the node holding the VM. Nothing above this interface assumes one node or one pool.
 * @module
 */
import type { Operation } from '../common/index.ts';
import type { Host } from '../host/index.ts';
import { ImageStore, type ImageManifest } from '../images/index.ts';
import type { FwRuleRecord, NicTag, RuleChange } from '../net/index.ts';
import { importedPoolNames, type DocStore } from '../storage/index.ts';
import { VmError, type VmRecord } from '../vm/index.ts';

export interface Compute {
  /** Every VM, on every node. */
  vms(): Promise<VmRecord[]>;
  /**
   * Changes whenever any VM changes, while something watches them (undefined otherwise: nothing
   * derived from `vms()` may then be kept).
   */
  version(): number | undefined;
  /** One VM, wherever it is; undefined when none has that UUID. */
  vm(uuid: string): Promise<VmRecord | undefined>;
  /** Create (the payload has its uuid); resolves once the VM exists and booted if asked. */
  create(payload: Record<string, unknown>, op?: Operation): Promise<string>;
  start(uuid: string): Promise<void>;
  stop(uuid: string): Promise<void>;
  reboot(uuid: string): Promise<void>;
  delete(uuid: string): Promise<void>;
  update(uuid: string, payload: Record<string, unknown>): Promise<void>;
  createSnapshot(uuid: string, name: string): Promise<void>;
  rollbackSnapshot(uuid: string, name: string): Promise<void>;
  deleteSnapshot(uuid: string, name: string): Promise<void>;
  /** Images a machine can be created from. */
  images(): Promise<ImageManifest[]>;
  /** A nic tag (or etherstub) networks can be made on. */
  nicTag(name: string): NicTag | undefined;
  /** The cloud firewall's rules. */
  fwrules(): FwRuleRecord[];
  applyFwrules(changes: RuleChange[]): Promise<void>;
  /** Where the cloud keeps its records (accounts, packages, networks, audit). */
  docs(namespace: string): DocStore;
  /** The node machines are created on (its UUID, for `compute_node`). */
  serverUuid(): Promise<string>;
}

/** The compute of one host: its pools, as vmadm sees them. */
export class LocalCompute implements Compute {
  private watched: { vms: () => Promise<VmRecord[]>; version: () => number | undefined } | undefined;

  constructor(
    private readonly host: Host,
    private readonly server: () => Promise<string>,
  ) {}

  /**
   * Read the VMs through a watched, cached list (zonixd's API keeps one, with a generation that
   * changes with every VM change) rather than from the pools at each call.
   */
  useWatchedList(vms: () => Promise<VmRecord[]>, version: () => number | undefined): void {
    this.watched = { vms, version };
  }

  vms(): Promise<VmRecord[]> {
    return this.watched?.vms() ?? this.host.allVms();
  }

  version(): number | undefined {
    return this.watched?.version();
  }

  async vm(uuid: string): Promise<VmRecord | undefined> {
    const pool = await this.host.poolOf(uuid);
    return pool === undefined ? undefined : this.host.get(uuid, { pool });
  }

  private async on<T>(uuid: string, f: (pool: string) => Promise<T>): Promise<T> {
    const pool = await this.host.poolOf(uuid);
    if (pool === undefined) throw new VmError('ENOENT', `zoneadm: ${uuid}: No such zone configured`);
    return f(pool);
  }

  async create(payload: Record<string, unknown>, op?: Operation): Promise<string> {
    return (await this.host.create(payload, op)).uuid;
  }
  start(uuid: string) {
    return this.on(uuid, (pool) => this.host.start(uuid, { pool }));
  }
  stop(uuid: string) {
    return this.on(uuid, (pool) => this.host.stop(uuid, { pool }));
  }
  reboot(uuid: string) {
    return this.on(uuid, (pool) => this.host.reboot(uuid, { pool }));
  }
  delete(uuid: string) {
    return this.on(uuid, (pool) => this.host.delete(uuid, { pool }));
  }
  async update(uuid: string, payload: Record<string, unknown>) {
    await this.on(uuid, (pool) => this.host.update(uuid, payload, { pool }));
  }
  createSnapshot(uuid: string, name: string) {
    return this.on(uuid, (pool) => this.host.createSnapshot(uuid, name, { pool }));
  }
  rollbackSnapshot(uuid: string, name: string) {
    return this.on(uuid, (pool) => this.host.rollbackSnapshot(uuid, name, { pool }));
  }
  deleteSnapshot(uuid: string, name: string) {
    return this.on(uuid, (pool) => this.host.deleteSnapshot(uuid, name, { pool }));
  }
  async images(): Promise<ImageManifest[]> {
    const seen = new Map<string, ImageManifest>();
    for (const name of importedPoolNames())
      for (const img of new ImageStore(this.host.pool(name)).list())
        if (!seen.has(img.manifest.uuid)) seen.set(img.manifest.uuid, img.manifest);
    return [...seen.values()];
  }
  nicTag(name: string): NicTag | undefined {
    return this.host.net.tags.get(name);
  }
  fwrules(): FwRuleRecord[] {
    return this.host.net.firewall.list();
  }
  async applyFwrules(changes: RuleChange[]): Promise<void> {
    await this.host.net.firewall.apply(changes);
  }
  docs(namespace: string): DocStore {
    return this.host.pool().docs(namespace);
  }
  serverUuid(): Promise<string> {
    return this.server();
  }
}
