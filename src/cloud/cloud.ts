/**
 * The cloud as CloudAPI's accounts see it: their machines, images, packages, networks, keys, rules
 * and audit, over a Compute (one host now, a cluster's nodes later). Each account sees only what is
 * its own (a machine through its `owner_uuid`); another account's machine is "not found", as in
 * CloudAPI. Mutations answer at once and finish in the background, as CloudAPI's jobs do: an audit
 * entry is written when each one ends, which is what `triton ... -w` waits for.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { ipv4ToNumber, numberToIpv4, type Operation } from '../common/index.ts';
import { makeRecord, type FwRuleRecord } from '../net/index.ts';
import type { VmRecord } from '../vm/index.ts';
import { Accounts, type Account } from './accounts.ts';
import type { Compute } from './compute.ts';
import { CloudError, invalid, missing, notFound } from './errors.ts';
import { imageFilter, toImage, usableImage, type CloudImage } from './images.ts';
import {
  createPayload,
  requestedNetworks,
  requireField,
  statesFor,
  toMachine,
  validMachineName,
  type Machine,
} from './machines.ts';
import { inSubnet, Networks, usableBy, type CloudNetwork } from './networks.ts';
import { packagePayload, Packages, type Package } from './packages.ts';

export interface AuditEntry {
  action: string;
  success: 'yes' | 'no';
  time: string;
  caller?: { type: string; ip?: string; keyId?: string };
}

export interface CallerInfo {
  type: string;
  ip?: string;
  keyId?: string;
}

interface Pending {
  owner: string;
  machine: Machine;
}

interface Tombstone {
  owner: string;
  machine: Machine;
  deleted: string;
}

const AUDIT_KEEP = 100;
/** How long CreateMachine waits for the create to end before it answers `provisioning`. */
const CREATE_ANSWER_WAIT_MS = 2000;
const TOMBSTONES_KEEP = 1000;
const SNAPSHOT_NAME = /^[a-zA-Z0-9_.:%-]{1,64}$/;

/** CloudAPI's default snapshot name: the time, `YYYYMMDDTHHMMSSZ`. */
export const snapshotName = (d = new Date()) =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');

export class Cloud {
  readonly accounts: Accounts;
  readonly packages: Packages;
  readonly networks: Networks;
  private readonly pending = new Map<string, Pending>();
  /** Machines CloudAPI created or renamed since the last VM list was read (that list lacks them). */
  private readonly named = new Map<string, { owner: string; name: string; at: number }>();
  /** The last VM list read, and the compute version it was read at. */
  private seen: { version: number | undefined; vms: VmRecord[] } | undefined;
  /** Deletes under way: what their tombstone will say. */
  private readonly deleting = new Map<string, Tombstone>();
  /** Snapshots being made or that failed: machine → name → state. */
  private readonly snapshotStates = new Map<string, Map<string, string>>();
  private readonly tasks = new Set<Promise<unknown>>();

  constructor(
    readonly compute: Compute,
    readonly datacenter: string,
  ) {
    this.accounts = new Accounts(() => compute.docs('accounts'));
    this.packages = new Packages(() => compute.docs('packages'));
    this.networks = new Networks(
      () => compute.docs('networks'),
      (name) => compute.nicTag(name),
    );
  }

  /** Wait for the background work under way (a stop of the service). */
  async drain(): Promise<void> {
    while (this.tasks.size) await Promise.allSettled([...this.tasks]);
  }

  private background(p: Promise<unknown>): void {
    const t = p.catch(() => undefined).finally(() => this.tasks.delete(t));
    this.tasks.add(t);
  }

  // ---- audit and tombstones ----

  audit(machine: string): AuditEntry[] {
    return this.compute.docs('cloud-audit').get<AuditEntry[]>(machine) ?? [];
  }

  private record(machine: string, action: string, ok: boolean, caller?: CallerInfo): void {
    const d = this.compute.docs('cloud-audit');
    const entries = d.get<AuditEntry[]>(machine) ?? [];
    const e: AuditEntry = {
      action,
      success: ok ? 'yes' : 'no',
      time: new Date().toISOString(),
      ...(caller ? { caller } : {}),
    };
    d.put(machine, [e, ...entries].slice(0, AUDIT_KEEP));
  }

  /** Run `work` after the answer has gone, then write its audit entry (when it ended, as CloudAPI's jobs). */
  private job(
    machine: string,
    action: string,
    caller: CallerInfo | undefined,
    work: () => Promise<unknown>,
  ): void {
    this.background(
      (async () => {
        // After the answer: a client that waits compares audit times with when it began to wait.
        await new Promise((r) => setImmediate(r));
        let ok = false;
        try {
          await work();
          ok = true;
        } finally {
          this.record(machine, action, ok, caller);
        }
      })(),
    );
  }

  private tombstones() {
    return this.compute.docs('cloud-tombstones');
  }

  /** The machine's tombstone; also for one whose delete is under way (once its VM is gone, it was deleted). */
  private tombstone(uuid: string): Tombstone | undefined {
    return this.deleting.get(uuid) ?? this.tombstones().get<Tombstone>(uuid);
  }

  private bury(owner: string, machine: Machine): void {
    const d = this.tombstones();
    const deleted = new Date().toISOString();
    d.put(machine.id, { owner, machine: { ...machine, state: 'deleted', updated: deleted }, deleted });
    const keys = d.keys();
    if (keys.length > TOMBSTONES_KEEP) {
      const all = keys
        .map((k) => [k, d.get<Tombstone>(k)?.deleted ?? ''] as const)
        .sort((a, b) => a[1].localeCompare(b[1]));
      for (const [k] of all.slice(0, keys.length - TOMBSTONES_KEEP)) d.delete(k);
    }
  }

  // ---- machines ----

  private packageName = (uuid: string) => this.packages.find(uuid)?.name ?? '';
  /** Machines made from VM records, while the record (the same object) and the packages stay. */
  private readonly mapped = new WeakMap<VmRecord, { pkgs: string; machine: Machine }>();
  /** Bumped when what listMachines shows changes outside the VMs (a create begun, a delete ended). */
  private changes = 0;

  machineOf(vm: VmRecord): Machine {
    const pkgs = this.packages.version();
    const hit = this.mapped.get(vm);
    if (hit?.pkgs === pkgs) return hit.machine;
    const machine = toMachine(vm, { packageName: this.packageName });
    this.mapped.set(vm, { pkgs, machine });
    return machine;
  }

  /**
   * Changes whenever what listMachines would answer may have; undefined when that cannot be told
   * (then nothing may be kept).
   */
  listVersion(): string | undefined {
    const v = this.compute.version();
    return v === undefined ? undefined : `${v}/${this.changes}/${this.packages.version()}`;
  }

  /** Every VM, as compute has them; the list is kept as the last one seen. */
  private async allVms(): Promise<VmRecord[]> {
    const version = this.compute.version();
    const started = Date.now();
    const vms = await this.compute.vms();
    this.seen = { version, vms };
    for (const [k, r] of this.named) if (r.at < started) this.named.delete(k);
    return vms;
  }

  /**
   * Has the account a machine of that name (VMAPI refuses a second)? From the last VM list seen when
   * nothing changed since; when something did, its VMs of that name are each looked at again (one
   * might have gone or been renamed) rather than every VM read anew: a thousand VMs cost a fifth of a
   * second to read. What this can miss is a VM of that name made outside CloudAPI since that list.
   */
  private async nameTaken(owner: string, name: string): Promise<boolean> {
    const match = (vm: VmRecord) => vm.owner_uuid === owner && vm.alias === name && vm.state !== 'destroyed';
    for (const p of this.pending.values())
      if (p.owner === owner && p.machine.name === name && p.machine.state !== 'failed') return true;
    const seen = this.seen;
    if (!seen || seen.version === undefined) return (await this.allVms()).some(match);
    if (seen.version === this.compute.version()) return seen.vms.some(match);
    const candidates = new Set(seen.vms.filter(match).map((vm) => vm.uuid));
    for (const [uuid, n] of this.named) if (n.owner === owner && n.name === name) candidates.add(uuid);
    for (const uuid of candidates) {
      const now = await this.compute.vm(uuid);
      if (now && match(now)) return true;
    }
    return false;
  }

  /** The account's machines (with those being created), filtered as ListMachines does. */
  async listMachines(account: Account, q: Record<string, string | undefined>): Promise<Machine[]> {
    const state = q.state;
    const wantDeleted = q.tombstone !== undefined || state === 'destroyed' || state === 'deleted';
    const stateOk = state === undefined ? () => true : statesFor(state);
    const out: Machine[] = [];
    const seen = new Set<string>();
    for (const vm of await this.allVms()) {
      if (vm.owner_uuid !== account.uuid) continue;
      seen.add(vm.uuid);
      out.push(this.machineOf(vm));
    }
    for (const [uuid, p] of this.pending)
      if (p.owner === account.uuid && !seen.has(uuid)) out.push(p.machine);
    if (wantDeleted)
      for (const k of this.tombstones().keys()) {
        const t = this.tombstone(k);
        if (t && t.owner === account.uuid && !seen.has(k)) out.push(t.machine);
      }
    const tagFilters = Object.entries(q)
      .filter(([k]) => k.startsWith('tag.'))
      .map(([k, v]) => [k.slice(4), v] as const);
    return out
      .filter(
        (m) =>
          stateOk(m.state) &&
          (wantDeleted || m.state !== 'deleted') &&
          (q.name === undefined || m.name === q.name) &&
          (q.brand === undefined || m.brand === q.brand) &&
          (q.type === undefined || m.type === q.type) &&
          (q.image === undefined || m.image === q.image) &&
          (q.memory === undefined || String(m.memory) === q.memory) &&
          (q.docker === undefined || String(m.docker === true) === q.docker) &&
          tagFilters.every(([k, v]) => k in m.tags && String(m.tags[k]) === v),
      )
      .sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
  }

  /** The account's VM, or 404 (another account's machine is not found either). */
  private async vmOf(account: Account, id: string): Promise<VmRecord> {
    const vm = await this.compute.vm(id);
    if (vm && vm.owner_uuid === account.uuid) return vm;
    const t = this.tombstone(id);
    if (t && t.owner === account.uuid) throw gone(t.machine);
    throw notFound('VM not found');
  }

  /** GetMachine: 410 with the machine for a deleted one. */
  async getMachine(account: Account, id: string): Promise<Machine> {
    const vm = await this.compute.vm(id);
    if (vm && vm.owner_uuid === account.uuid) return { ...this.machineOf(vm), dns_names: [] };
    const p = this.pending.get(id);
    if (p && p.owner === account.uuid) return p.machine;
    const t = this.tombstone(id);
    if (t && t.owner === account.uuid) throw gone(t.machine);
    throw notFound('VM not found');
  }

  /** How many addresses of the network's range are free. */
  async freeAddresses(net: CloudNetwork): Promise<number> {
    const used = new Set(await this.addressesOn(net));
    if (net.gateway) used.add(net.gateway);
    let free = 0;
    for (let n = ipv4ToNumber(net.provision_start_ip); n <= ipv4ToNumber(net.provision_end_ip); n++)
      if (!used.has(numberToIpv4(n))) free++;
    return free;
  }

  /** The addresses VMs hold on a network. */
  async addressesOn(net: CloudNetwork): Promise<string[]> {
    const out: string[] = [];
    for (const vm of await this.allVms())
      for (const n of (vm.nics as
        { ip?: string; network_uuid?: string; nic_tag?: string; vlan_id?: number }[] | undefined) ?? []) {
        if (typeof n.ip !== 'string') continue;
        if (
          n.network_uuid === net.uuid ||
          (n.nic_tag === net.nic_tag && (n.vlan_id ?? 0) === net.vlan_id && inSubnet(net, n.ip))
        )
          out.push(n.ip);
      }
    return out;
  }

  /**
   * A vmadm payload whose NICs name a network (`{"network_uuid": U}`, or with an `ip` of its range)
   * made whole: the network's tag, VLAN, netmask and gateway, and a free address. The addresses are
   * held until `release` (call it once the create ended, well or not).
   */
  async placeNics(
    payload: Record<string, unknown>,
  ): Promise<{ payload: Record<string, unknown>; release: () => void }> {
    if (!Array.isArray(payload.nics)) return { payload, release: () => undefined };
    const all = payload.nics as unknown[];
    const named = (n: unknown): n is Record<string, unknown> & { network_uuid: string } =>
      typeof n === 'object' &&
      n !== null &&
      typeof (n as { network_uuid?: unknown }).network_uuid === 'string' &&
      (n as { nic_tag?: unknown }).nic_tag === undefined;
    const wanted = all.filter(named).map((nic) => {
      const net = this.networks.find(nic.network_uuid);
      if (!net) throw invalid(`nics: network ${nic.network_uuid} does not exist`);
      return { net, ...(typeof nic.ip === 'string' ? { ip: nic.ip } : {}) };
    });
    const { held, release } = await this.hold(wanted);
    let next = 0;
    const nics = all.map((nic) => {
      if (!named(nic)) return nic;
      const { net, ip } = held[next++]!;
      const { network_uuid: _u, ip: _ip, ...rest } = nic;
      return { ...Networks.nic(net, ip, nic.primary === true), ...rest };
    });
    const resolvers = payload.resolvers ?? [...new Set(held.flatMap((h) => h.net.resolvers))];
    return { payload: { ...payload, nics, ...(held.length ? { resolvers } : {}) }, release };
  }

  /**
   * A free address on each network (or the one asked for), held until `release`; if one cannot be
   * had, those already taken are let go.
   */
  private async hold(
    wanted: { net: CloudNetwork; ip?: string }[],
  ): Promise<{ held: { net: CloudNetwork; ip: string }[]; release: () => void }> {
    const held: { net: CloudNetwork; ip: string }[] = [];
    const release = () => held.splice(0).forEach((h) => this.networks.release(h.net, h.ip));
    try {
      for (const w of wanted)
        held.push({
          net: w.net,
          ip: await this.networks.allocate(w.net, () => this.addressesOn(w.net), w.ip),
        });
    } catch (err) {
      release();
      throw err;
    }
    return { held, release };
  }

  /** The networks an account may use; the first public one is its default. */
  networksFor(account: Account | undefined): CloudNetwork[] {
    return this.networks.list().filter((n) => usableBy(n, account?.uuid));
  }

  async imagesFor(account: Account | undefined): Promise<CloudImage[]> {
    return (await this.compute.images()).filter((m) => usableImage(m, account?.uuid)).map(toImage);
  }

  async listImages(account: Account, q: Record<string, string | undefined>): Promise<CloudImage[]> {
    const keep = imageFilter(q);
    return (await this.imagesFor(account)).filter(keep);
  }

  async getImage(account: Account, id: string): Promise<CloudImage> {
    const i = (await this.imagesFor(account)).find((x) => x.id === id);
    if (!i) throw notFound(`${id} not found`);
    return i;
  }

  /** CreateMachine: answers with the machine `provisioning`; the create goes on in the background. */
  async createMachine(
    account: Account,
    body: Record<string, unknown>,
    caller?: CallerInfo,
  ): Promise<Machine> {
    const imageId = requireField(body, 'image');
    const image = (await this.compute.images()).find(
      (m) => (m.uuid === imageId || m.name === imageId) && usableImage(m, account.uuid),
    );
    if (!image) throw notFound(`image ${imageId} not found`);
    const pkgId = requireField(body, 'package');
    const pkg = this.packages.find(pkgId);
    if (!pkg || !pkg.active) throw notFound(`package ${pkgId} not found`);
    if (!account.keys.length)
      throw new CloudError('KeyRequired', 'At least one SSH key is required to provision');
    if (typeof body.name === 'string' && (await this.nameTaken(account.uuid, body.name)))
      throw invalid(`machine name ${body.name} is already in use`);
    const wanted: { id: string; ip?: string }[] =
      requestedNetworks(body.networks) ?? this.defaultNetworks(account);
    const nets = wanted.map((w) => {
      const n = this.networks.find(w.id);
      if (!n || !usableBy(n, account.uuid)) throw notFound(`network ${w.id} not found`);
      return { net: n, ...(w.ip ? { ip: w.ip } : {}) };
    });
    const { held, release } = await this.hold(nets);
    try {
      const uuid = randomUUID();
      const payload = {
        uuid,
        ...createPayload(body, {
          owner: account.uuid,
          image,
          pkg,
          networks: held,
          authorizedKeys: account.keys.map((k) => k.key).join('\n'),
        }),
      };
      const now = new Date().toISOString();
      const machine: Machine = {
        ...toMachine(
          {
            ...payload,
            state: 'provisioning',
            create_timestamp: now,
            server_uuid: await this.compute.serverUuid(),
          },
          {
            packageName: () => pkg.name,
          },
        ),
      };
      // Started here; answered once the payload passed its checks (its first progress) or failed them.
      const { done } = await firstProgress((op) => this.compute.create(payload, op));
      this.pending.set(uuid, { owner: account.uuid, machine });
      this.changes++;
      this.background(
        done.then(
          () => {
            if (machine.name)
              this.named.set(uuid, { owner: account.uuid, name: machine.name, at: Date.now() });
            this.pending.delete(uuid);
            this.changes++;
            release();
            this.record(uuid, 'provision', true, caller);
          },
          () => {
            release();
            this.pending.set(uuid, { owner: account.uuid, machine: { ...machine, state: 'failed' } });
            this.changes++;
            this.record(uuid, 'provision', false, caller);
          },
        ),
      );
      // A create that is done soon (a zone: a tenth of a second) is answered done, so that a client
      // that waits (`triton instance create -w`) sees it running at its first look; a longer one is
      // answered `provisioning` after a while, as CloudAPI answers every create.
      const soon = await Promise.race([
        done.then(
          () => true,
          () => true,
        ),
        new Promise<false>((r) => setTimeout(() => r(false), CREATE_ANSWER_WAIT_MS).unref()),
      ]);
      if (!soon) return machine;
      return (
        (await this.getMachine(account, uuid).catch(() => undefined)) ??
        this.pending.get(uuid)?.machine ??
        machine
      );
    } catch (err) {
      release();
      throw err;
    }
  }

  private defaultNetworks(account: Account): { id: string }[] {
    const n = this.networksFor(account).find((x) => x.public) ?? this.networksFor(account)[0];
    return n ? [{ id: n.uuid }] : [];
  }

  /** UpdateMachine: start, stop, reboot, resize, rename, the firewall and deletion protection. */
  async machineAction(
    account: Account,
    id: string,
    body: Record<string, unknown>,
    caller?: CallerInfo,
  ): Promise<void> {
    const vm = await this.vmOf(account, id);
    if (body.action === undefined || body.action === '') throw missing('action is required');
    if (typeof body.action !== 'string')
      throw invalid(`${JSON.stringify(body.action)} is not a valid action`);
    const action = body.action;
    const job = (name: string, work: () => Promise<unknown>) => this.job(vm.uuid, name, caller, work);
    switch (action) {
      case 'start':
        return job('start', () => this.compute.start(vm.uuid));
      case 'stop':
        return job('stop', () => this.compute.stop(vm.uuid));
      case 'reboot':
        return job('reboot', () => this.compute.reboot(vm.uuid));
      case 'resize': {
        const p = this.packages.find(requireField(body, 'package'));
        if (!p) throw notFound(`package ${String(body.package)} not found`);
        const { billing_id, ...limits } = packagePayload(p);
        return job('resize', () => this.compute.update(vm.uuid, { ...limits, billing_id }));
      }
      case 'rename': {
        const name = requireField(body, 'name');
        if (!validMachineName(name)) throw invalid(`name '${name}' is invalid`);
        if (await this.nameTaken(account.uuid, name)) throw invalid(`machine name ${name} is already in use`);
        return job('rename', async () => {
          await this.compute.update(vm.uuid, { alias: name });
          this.named.set(vm.uuid, { owner: account.uuid, name, at: Date.now() });
        });
      }
      case 'enable_firewall':
      case 'disable_firewall':
        return job(action, () =>
          this.compute.update(vm.uuid, { firewall_enabled: action === 'enable_firewall' }),
        );
      case 'enable_deletion_protection':
      case 'disable_deletion_protection':
        return job(action, () =>
          this.compute.update(vm.uuid, { indestructible_zoneroot: action === 'enable_deletion_protection' }),
        );
      default:
        throw invalid(`${action} is not a valid action`);
    }
  }

  /** DeleteMachine: 204 at once; the machine is a tombstone (410) once gone. */
  async deleteMachine(account: Account, id: string, caller?: CallerInfo): Promise<void> {
    const vm = await this.vmOf(account, id);
    if (vm.indestructible_zoneroot === true)
      throw new CloudError(
        'CannotDestroyMachine',
        'Instance has "deletion_protection" enabled, preventing deletion',
      );
    const machine = this.machineOf(vm);
    const deleted = new Date().toISOString();
    this.deleting.set(vm.uuid, {
      owner: account.uuid,
      machine: { ...machine, state: 'deleted', updated: deleted },
      deleted,
    });
    this.job(vm.uuid, 'destroy', caller, async () => {
      try {
        await this.compute.delete(vm.uuid);
        this.bury(account.uuid, machine);
      } finally {
        this.deleting.delete(vm.uuid);
        this.changes++;
      }
    });
  }

  // ---- tags and metadata ----

  async tags(account: Account, id: string): Promise<Record<string, unknown>> {
    return { ...((await this.vmOf(account, id)).tags as Record<string, unknown> | undefined) };
  }

  /** AddMachineTags (merge) or ReplaceMachineTags: answers with the tags as they will be. */
  async setTags(
    account: Account,
    id: string,
    tags: Record<string, unknown>,
    replace: boolean,
    caller?: CallerInfo,
  ) {
    const vm = await this.vmOf(account, id);
    const old = (vm.tags as Record<string, unknown> | undefined) ?? {};
    for (const [k, v] of Object.entries(tags))
      if (!['string', 'number', 'boolean'].includes(typeof v))
        throw invalid(`tag ${k}: a string, number or boolean`);
    const next = replace ? { ...tags } : { ...old, ...tags };
    const removed = replace ? Object.keys(old).filter((k) => !(k in tags)) : [];
    this.job(vm.uuid, replace ? 'replace_tags' : 'set_tags', caller, () =>
      this.compute.update(vm.uuid, { set_tags: tags, ...(removed.length ? { remove_tags: removed } : {}) }),
    );
    return next;
  }

  async deleteTags(
    account: Account,
    id: string,
    key: string | undefined,
    caller?: CallerInfo,
  ): Promise<void> {
    const vm = await this.vmOf(account, id);
    const old = (vm.tags as Record<string, unknown> | undefined) ?? {};
    if (key !== undefined && !(key in old)) throw notFound(`tag "${key}" not found`);
    const keys = key === undefined ? Object.keys(old) : [key];
    this.job(vm.uuid, 'remove_tags', caller, () =>
      keys.length ? this.compute.update(vm.uuid, { remove_tags: keys }) : Promise.resolve(),
    );
  }

  async metadata(account: Account, id: string): Promise<Record<string, string>> {
    return this.machineOf(await this.vmOf(account, id)).metadata;
  }

  async setMetadata(account: Account, id: string, md: Record<string, unknown>, caller?: CallerInfo) {
    const vm = await this.vmOf(account, id);
    const set: Record<string, string> = {};
    for (const [k, v] of Object.entries(md)) {
      // CloudAPI ignores these: credentials are not the caller's to set this way.
      if (k === 'credentials' || k.endsWith('_pw')) continue;
      set[k] = typeof v === 'string' ? v : JSON.stringify(v);
    }
    const next = { ...this.machineOf(vm).metadata, ...set };
    this.job(vm.uuid, 'set_metadata', caller, () =>
      Object.keys(set).length
        ? this.compute.update(vm.uuid, { set_customer_metadata: set })
        : Promise.resolve(),
    );
    return next;
  }

  async deleteMetadata(account: Account, id: string, key: string | undefined, caller?: CallerInfo) {
    const vm = await this.vmOf(account, id);
    const old = this.machineOf(vm).metadata;
    if (key !== undefined) {
      if (['credentials', 'administrator_pw', 'root_authorized_keys'].includes(key))
        throw invalid(`${key} cannot be deleted`);
      if (!(key in old)) throw notFound(`${key} is not metadata`);
    }
    const keys = key === undefined ? Object.keys(old).filter((k) => k !== 'root_authorized_keys') : [key];
    this.job(vm.uuid, key === undefined ? 'replace_metadata' : 'remove_metadata', caller, () =>
      keys.length ? this.compute.update(vm.uuid, { remove_customer_metadata: keys }) : Promise.resolve(),
    );
  }

  // ---- snapshots ----

  async snapshots(account: Account, id: string) {
    const vm = await this.vmOf(account, id);
    const made = (
      (vm.snapshots as { name: string; created_at?: string; size?: number }[] | undefined) ?? []
    ).map((s) => ({
      name: s.name,
      state: 'created',
      size: s.size ?? 0,
      created: s.created_at ?? '',
      updated: s.created_at ?? '',
    }));
    const names = new Set(made.map((s) => s.name));
    const other = [...(this.snapshotStates.get(vm.uuid) ?? [])]
      .filter(([n]) => !names.has(n))
      .map(([name, state]) => ({ name, state, size: 0, created: '', updated: '' }));
    return [...other, ...made];
  }

  async snapshot(account: Account, id: string, name: string) {
    const s = (await this.snapshots(account, id)).find((x) => x.name === name);
    if (!s) throw notFound(`snapshot ${name} not found`);
    return s;
  }

  async createSnapshot(account: Account, id: string, name: string | undefined, caller?: CallerInfo) {
    const vm = await this.vmOf(account, id);
    const n = name ?? snapshotName();
    if (!SNAPSHOT_NAME.test(n)) throw invalid(`snapshot name ${n} is invalid`);
    if ((await this.snapshots(account, id)).some((s) => s.name === n && s.state !== 'failed'))
      throw invalid(`snapshot ${n} already exists`);
    let st = this.snapshotStates.get(vm.uuid);
    if (!st) {
      st = new Map<string, string>();
      this.snapshotStates.set(vm.uuid, st);
    }
    st.set(n, 'queued');
    this.job(vm.uuid, 'create_snapshot', caller, async () => {
      try {
        await this.compute.createSnapshot(vm.uuid, n);
        st.delete(n);
      } catch (err) {
        st.set(n, 'failed');
        throw err;
      }
    });
    return { name: n, state: 'queued' };
  }

  async deleteSnapshot(account: Account, id: string, name: string, caller?: CallerInfo) {
    const vm = await this.vmOf(account, id);
    await this.snapshot(account, id, name);
    this.job(vm.uuid, 'delete_snapshot', caller, async () => {
      this.snapshotStates.get(vm.uuid)?.delete(name);
      await this.compute.deleteSnapshot(vm.uuid, name);
    });
  }

  /** StartMachineFromSnapshot: roll back, then run. */
  async startFromSnapshot(account: Account, id: string, name: string, caller?: CallerInfo) {
    const vm = await this.vmOf(account, id);
    await this.snapshot(account, id, name);
    this.job(vm.uuid, 'rollback_snapshot', caller, async () => {
      await this.compute.rollbackSnapshot(vm.uuid, name);
      const now = await this.compute.vm(vm.uuid);
      if (now?.state !== 'running') await this.compute.start(vm.uuid);
    });
  }

  // ---- firewall rules ----

  /** The account's rules, and the global ones. */
  fwrules(account: Account): FwRuleRecord[] {
    return this.compute.fwrules().filter((r) => r.owner_uuid === account.uuid || r.global === true);
  }

  fwrule(account: Account, id: string): FwRuleRecord {
    const r = this.fwrules(account).find((x) => x.uuid === id);
    if (!r) throw notFound(`firewall rule ${id} not found`);
    return r;
  }

  async addFwrule(account: Account, body: Record<string, unknown>): Promise<FwRuleRecord> {
    const ruleText = requireField(body, 'rule');
    let rule: FwRuleRecord;
    try {
      rule = makeRecord({
        rule: ruleText,
        enabled: body.enabled === true,
        owner_uuid: account.uuid,
        ...(typeof body.description === 'string' ? { description: body.description } : {}),
      });
    } catch (err) {
      throw invalid((err as Error).message);
    }
    await this.compute.applyFwrules([{ kind: 'added', rule }]);
    return rule;
  }

  async updateFwrule(account: Account, id: string, change: Record<string, unknown>): Promise<FwRuleRecord> {
    const old = this.fwrule(account, id);
    if (old.owner_uuid !== account.uuid) throw new CloudError('NotAuthorized', `rule ${id} is global`);
    let rule: FwRuleRecord;
    try {
      rule = makeRecord(
        {
          ...(typeof change.rule === 'string' ? { rule: change.rule } : {}),
          ...(typeof change.enabled === 'boolean' ? { enabled: change.enabled } : {}),
          ...(typeof change.description === 'string' ? { description: change.description } : {}),
        },
        old,
      );
    } catch (err) {
      throw invalid((err as Error).message);
    }
    await this.compute.applyFwrules([{ kind: 'updated', rule, old }]);
    return rule;
  }

  async deleteFwrule(account: Account, id: string): Promise<void> {
    const old = this.fwrule(account, id);
    if (old.owner_uuid !== account.uuid) throw new CloudError('NotAuthorized', `rule ${id} is global`);
    await this.compute.applyFwrules([{ kind: 'deleted', old }]);
  }

  /** Packages an account may use (all active ones). */
  packagesFor(): Package[] {
    return this.packages.list().filter((p) => p.active);
  }
}

/** 410 with the deleted machine as the body (what `triton delete -w` waits for). */
export class GoneError extends CloudError {
  constructor(readonly machine: Machine) {
    super('Gone', 'VM has been deleted', 410);
  }
}
const gone = (m: Machine) => new GoneError(m);

/**
 * Start `work`; resolve once it reported its first progress (its input passed the checks) with the
 * promise of its end, or reject with its error if it failed before that.
 */
function firstProgress<T>(work: (op: Operation) => Promise<T>): Promise<{ done: Promise<T> }> {
  return new Promise((resolve, reject) => {
    let begun = false;
    const done: Promise<T> = work({
      progress: () => {
        if (begun) return;
        begun = true;
        resolve({ done });
      },
    });
    done.then(
      () => {
        if (!begun) {
          begun = true;
          resolve({ done });
        }
      },
      (err: unknown) => {
        if (!begun) {
          begun = true;
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      },
    );
  });
}
