/**
 * Networking (Crossbow on Linux): nic tags and etherstubs as bridges, VM NICs as veth pairs with
 * anti-spoofing and bandwidth caps, host networks with NAT and DHCP. The VM core reaches it only
 * through the lifecycle hook `Network.hook()` (check, prepare, attach, update, detach, release); the
 * CLIs (nictagadm, dladm) through `Network`'s methods.
 * @module
 */
import { readdirSync } from 'node:fs';
import { writeZoneEtcFile } from '../common/index.ts';
import { links, nftTables } from './exec.ts';
import { conflictError, hasConflict } from './conflicts.ts';
import { leaseDir } from './dhcp.ts';
import { dnsmasqPid, HostNetworks } from './hostnet.ts';
import { parseVmLinkAlias, uuidOfTable } from './names.ts';
import { NicTags, tagError, type NicTag, type TagDocs } from './tags.ts';
import { tagOf, type TagRequest } from './tag-requests.ts';
import { nicsOf, readPlumbed, VmNetwork, type NetVm } from './vnics.ts';
import { Firewall, type RuleDocs } from './firewall.ts';

export { isMac, normalizeMac, tagError, validMtu, validStubName, validTagName } from './tags.ts';
export type { HostNetConfig, NicTag, TagKind } from './tags.ts';
export type { TagRequest } from './tag-requests.ts';
export { links, type LinkInfo } from './exec.ts';
export { subnetOf, validGateway } from './hostnet.ts';
export { parseMaxbw } from './shaping.ts';
export { vnicCounters, type VnicCounters } from './stats.ts';
export { isUplinkCandidate } from './tags.ts';
export { FwRuleError, makeRecord, type FwRuleRecord, type RuleChange } from './firewall.ts';

/** A VM NIC as the host sees it. */
export interface Vnic {
  /** The host end of its veth pair. */
  link: string;
  uuid: string;
  iface: string;
  mac: string;
  bridge: string;
  tag: string;
  vlan: number;
  maxbw?: string;
  mtu?: number;
}

/** What the hook is given by the VM core (see vm/brands/types.ts: the hook's side of the interface). */
interface Ctx {
  zonepath: string;
  /** The VM's brand, when the step is part of its boot (HVM guests get taps). */
  brand?: { hvm: boolean };
}

export class Network {
  readonly tags: NicTags;
  readonly vms: VmNetwork;
  readonly hostnets: HostNetworks;
  readonly firewall: Firewall;

  /** `docs`: where tags are kept; `fw.rules`: firewall rules; `fw.vms`: every VM on the host. */
  constructor(docs: () => TagDocs, fw: { rules: () => RuleDocs; vms: () => Promise<NetVm[]> }) {
    this.tags = new NicTags(docs);
    this.vms = new VmNetwork(this.tags);
    this.hostnets = new HostNetworks(this.tags);
    this.firewall = new Firewall(fw.rules, fw.vms);
  }

  /**
   * A VM came, went or changed: reload the firewall, unless it has nothing to do with it (no rules
   * on the host, and neither the VM as it is nor as it was has its firewall on).
   */
  private async refirewall(vm: NetVm, opts: { old?: NetVm; gone?: boolean } = {}): Promise<void> {
    const on = (v?: NetVm) => v?.firewall_enabled === true;
    if (!on(vm) && !on(opts.old) && this.firewall.list().length === 0) return;
    await this.firewall.sync(opts.gone ? { except: vm.uuid } : {});
  }

  /** The lifecycle hook the VM core runs for every VM (a VM without NICs costs it nothing). */
  hook() {
    const has = (vm: NetVm) => nicsOf(vm).length > 0;
    return {
      name: 'net',
      check: async (vm: NetVm, ctx: { peers(): Promise<NetVm[]> }) => {
        if (!has(vm)) return;
        this.vms.checkTags(vm);
        if (hasConflict(vm, await ctx.peers())) throw conflictError();
      },
      prepare: async (vm: NetVm) => {
        if (!has(vm)) return;
        this.vms.checkTags(vm);
        for (const tag of new Set(nicsOf(vm).map((n) => n.tag))) {
          const t = this.tags.get(tag);
          if (t?.net) await this.hostnets.ensure(t);
        }
      },
      attach: async (vm: NetVm, ctx: Ctx & { pid: number }) => {
        if (!has(vm)) return;
        const { dns } = await this.vms.plumb(vm, ctx.pid, { guest: ctx.brand?.hvm === true });
        await this.refirewall(vm);
        const named = Array.isArray(vm.resolvers) && vm.resolvers.length > 0;
        if (dns.length && !named)
          writeZoneEtcFile(
            `${ctx.zonepath}/root`,
            'resolv.conf',
            dns.map((d) => `nameserver ${d}\n`).join(''),
          );
      },
      update: async (vm: NetVm, ctx: { old: NetVm }) => {
        await this.vms.refresh(vm);
        await this.refirewall(vm, { old: ctx.old });
      },
      detach: async (vm: NetVm) => {
        await this.vms.unplumb(vm.uuid);
        if (has(vm)) await this.refirewall(vm);
      },
      release: async (vm: NetVm) => {
        await this.vms.unplumb(vm.uuid);
        if (has(vm)) await this.refirewall(vm, { gone: true });
      },
    };
  }

  /**
   * Take away what VMs that no longer run left on the host (a crash, a zone that ended on its own):
   * their records first (cheap: a folder read), and with `full` (host start) every link and table
   * that carries a VM's mark.
   */
  async reconcile(live: (uuid: string) => boolean, opts: { full?: boolean } = {}): Promise<void> {
    let records: string[] = [];
    try {
      records = readdirSync(leaseDir())
        .filter((f) => /^[0-9a-f-]{36}\.json$/.test(f))
        .map((f) => f.slice(0, 36));
    } catch {
      /* none */
    }
    const dead = records.filter((u) => !live(u));
    if (!opts.full) {
      for (const u of dead) await this.vms.unplumb(u);
      return;
    }
    const all = await links();
    for (const u of dead) await this.vms.unplumb(u, all);
    const strays = new Set<string>();
    for (const l of all) {
      const owner = parseVmLinkAlias(l.ifalias)?.uuid;
      if (owner && !live(owner) && !dead.includes(owner)) strays.add(owner);
    }
    for (const [family, name] of await nftTables()) {
      const owner = family === 'bridge' ? uuidOfTable(name) : undefined;
      if (owner && !live(owner) && !dead.includes(owner)) strays.add(owner);
    }
    for (const u of strays) await this.vms.unplumb(u, all, { table: true });
  }

  /**
   * Keep host networks serving (zonixd calls it every few seconds): a network whose dnsmasq is gone
   * gets it back. Resolves to the networks that were restarted.
   */
  async supervise(): Promise<string[]> {
    const restarted: string[] = [];
    for (const t of this.tags.list()) {
      if (!t.net?.dhcp || dnsmasqPid(t.name) !== undefined) continue;
      await this.hostnets.ensure(t);
      restarted.push(t.name);
    }
    return restarted;
  }

  /** Host start: every tag's bridge, every host network, then what dead VMs left. */
  async restore(live: (uuid: string) => boolean): Promise<string[]> {
    const problems = await this.tags.restore();
    for (const t of this.tags.list()) {
      if (!t.net) continue;
      await this.hostnets
        .ensure(t)
        .catch((err: unknown) => problems.push(`network ${t.name}: ${(err as Error).message}`));
    }
    await this.reconcile(live, { full: true });
    await this.firewall.sync().catch((err: unknown) => problems.push(`firewall: ${(err as Error).message}`));
    return problems;
  }

  /** The VNICs of running VMs (`dladm show-vnic`): host link, the VM's NIC, its tag and bridge. */
  static vnics(vms: readonly NetVm[]): Vnic[] {
    const out: Vnic[] = [];
    for (const vm of vms) {
      const p = readPlumbed(vm.uuid);
      if (!p) continue;
      const byMac = new Map(nicsOf(vm).map((n) => [n.mac, n]));
      for (const n of p.nics) {
        const nic = byMac.get(n.mac);
        out.push({
          link: n.hostLink,
          uuid: vm.uuid,
          iface: n.iface,
          mac: n.mac,
          bridge: n.bridge,
          tag: nic?.tag ?? n.bridge,
          vlan: nic?.vlan ?? 0,
          ...(nic?.maxbw ? { maxbw: nic.maxbw } : {}),
          ...(nic?.mtu ? { mtu: nic.mtu } : {}),
        });
      }
    }
    return out.sort((a, b) => (a.link < b.link ? -1 : a.link > b.link ? 1 : 0));
  }

  /** VMs whose NICs use `tag` (`nictagadm vms`, and what `delete` refuses over). */
  /** Add a nic tag or etherstub (`nictagadm add`); a host network's address, NAT and DHCP come up with it. */
  async addTag(req: TagRequest): Promise<NicTag> {
    const tag = await tagOf(req, this.tags);
    await this.tags.add(tag);
    if (tag.net) {
      try {
        await this.hostnets.ensure(tag);
      } catch (err) {
        await this.hostnets.remove(tag).catch(() => undefined);
        await this.tags.delete(tag.name).catch(() => undefined);
        throw err;
      }
    }
    return tag;
  }

  /** Delete a nic tag (`nictagadm delete`), refused while a VM uses it unless forced. */
  async deleteTag(name: string, opts: { force?: boolean; vms: () => Promise<NetVm[]> }): Promise<void> {
    const tag = this.tags.get(name);
    if (!tag) throw tagError(`nic tag '${name}' does not exist`);
    if (!opts.force && Network.vmsUsing(name, await opts.vms()).length > 0)
      throw tagError(`nic tag '${name}' is in use`);
    await this.hostnets.remove(tag);
    await this.tags.delete(name);
  }

  static vmsUsing(tag: string, vms: readonly NetVm[]): string[] {
    return vms.filter((vm) => nicsOf(vm).some((n) => n.tag === tag)).map((vm) => vm.uuid);
  }
}
