/**
 * The cloud firewall (SmartOS `fwadm`): rules kept in the system pool (one document per rule), and
 * compiled for the VMs with `firewall_enabled` into one nftables table of the inet family, loaded as
 * one transaction. Bridged traffic reaches the inet hooks through br_netfilter (turned on for each
 * bridge a firewalled VM uses), so connection tracking gives "established traffic comes back".
 *
 * The table: `fw` sends packets from a firewalled VM's address to `fw_out` (its outbound rules:
 * a BLOCK drops, an ALLOW skips the rest) and then every packet to `fw_in` (to a firewalled VM: its
 * inbound rules, then drop). Each rule has its own chains (`r_<uuid hex>_i` and `_o`), jumped to
 * from buckets by priority and action, in SmartOS's order: higher priority first; at one priority,
 * the action that goes against the default (inbound ALLOW, outbound BLOCK) first. Addresses of the
 * VMs a target names are named sets shared by the rules that use them. Changing one rule rewrites
 * its chains and the sets it uses; a VM that comes, goes or changes reloads the whole table.
 * @module
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { isIP, isIPv4 } from 'node:net';
import { join } from 'node:path';
import { withLock } from '../common/index.ts';
import { ipBatch, nft } from './exec.ts';
import { FwRuleError, isUuid, parseRule, ruleText, type ParsedRule, type Target } from './fwrule.ts';
import { leaseDir } from './dhcp.ts';
import { nicsOf, readPlumbed, type NetVm } from './vnics.ts';
import { bridgeName } from './names.ts';
import type { TagDocs } from './tags.ts';

export { FwRuleError } from './fwrule.ts';

/** A rule as stored and shown (`fwadm get`). */
export interface FwRuleRecord {
  created_by?: string;
  description?: string;
  enabled: boolean;
  global?: boolean;
  owner_uuid?: string;
  rule: string;
  uuid: string;
  version: string;
}

/** Where rules are kept (the system pool's documents, `fwrules`): the same store as tags'. */
export interface RuleDocs extends TagDocs {
  /** Many rules stored with one sync (a pool's DocStore); without it, one put each. */
  putMany?(entries: readonly [string, unknown][]): Promise<void>;
}

/** What the firewall reads of a VM. */
interface FwVm {
  uuid: string;
  owner?: string;
  tags: Record<string, unknown>;
  enabled: boolean;
  v4: string[];
  v6: string[];
  bridges: string[];
}

/** The table's name (tests give their own, so that they never touch the host's). */
export function fwTable(): string {
  return process.env.ZONIX_FW_TABLE ?? 'zonix_fw';
}

const hex = (uuid: string) => uuid.replace(/-/g, '');

/** A rule's version: milliseconds and the writer's pid, as fwadm makes it. */
export function ruleVersion(): string {
  return `${Date.now()}.${String(process.pid).padStart(6, '0')}`;
}

/** A payload value in a message: strings as they are, anything else as JSON. */
const shown = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

// ---- records --------------------------------------------------------------------------------------

/** A rule payload (`fwadm add -f`, one of `rules`), checked as fwrule checks it: all errors at once. */
export function makeRecord(payload: Record<string, unknown>, base?: FwRuleRecord): FwRuleRecord {
  const errs: FwRuleError[] = [];
  let parsed: ParsedRule | undefined;
  const ruleSrc = payload.rule ?? base?.rule;
  if (typeof ruleSrc !== 'string' || ruleSrc === '') errs.push(new FwRuleError('rule', 'No rule specified!'));
  else
    try {
      parsed = parseRule(ruleSrc);
    } catch (err) {
      if (err instanceof FwRuleError) errs.push(err);
      else throw err;
    }
  const uuid = payload.uuid ?? base?.uuid ?? randomUUID();
  if (typeof uuid !== 'string' || !isUuid(uuid))
    errs.push(new FwRuleError('uuid', `Invalid rule UUID "${shown(uuid)}"`));
  const owner = 'owner_uuid' in payload ? payload.owner_uuid : base?.owner_uuid;
  if (owner !== undefined && (typeof owner !== 'string' || !isUuid(owner)))
    errs.push(new FwRuleError('owner_uuid', `Invalid owner UUID "${shown(owner)}"`));
  const en = 'enabled' in payload ? payload.enabled : (base?.enabled ?? false);
  if (typeof en !== 'boolean' && en !== 'true' && en !== 'false')
    errs.push(new FwRuleError('enabled', 'enabled must be true or false'));
  const global = 'global' in payload ? payload.global : base?.global;
  if (global !== undefined && typeof global !== 'boolean' && global !== 'true' && global !== 'false')
    errs.push(new FwRuleError('global', 'global must be true or false'));
  const isGlobal = global === true || global === 'true';
  if (isGlobal && owner !== undefined)
    errs.push(new FwRuleError('owner_uuid', 'owner_uuid cannot be set for a global rule'));
  const desc = 'description' in payload ? payload.description : base?.description;
  if (desc !== undefined && typeof desc !== 'string')
    errs.push(new FwRuleError('description', 'description must be a string'));
  if (errs.length === 1) throw errs[0]!;
  if (errs.length > 1) throw new FwRuleError(errs[0]!.field, errs.map((e) => e.message).join('\n'));
  return {
    ...(typeof base?.created_by === 'string' ? { created_by: base.created_by } : {}),
    ...(typeof payload.created_by === 'string' ? { created_by: payload.created_by } : {}),
    ...(typeof desc === 'string' && desc !== '' ? { description: desc } : {}),
    enabled: en === true || en === 'true',
    ...(isGlobal ? { global: true } : {}),
    ...(typeof owner === 'string' ? { owner_uuid: owner } : {}),
    rule: ruleText(parsed!),
    uuid: uuid as string,
    version: ruleVersion(),
  };
}

// ---- the VMs' view --------------------------------------------------------------------------------

function fwVm(vm: NetVm): FwVm {
  const v4 = new Set<string>();
  const v6 = new Set<string>();
  const add = (cidr: string) => {
    const a = cidr.split('/')[0]!.toLowerCase();
    if (isIP(a) === 4) v4.add(a);
    else if (isIP(a) === 6) v6.add(a);
  };
  const nics = nicsOf(vm);
  for (const n of nics) n.ips.forEach(add);
  for (const l of Object.values(readPlumbed(vm.uuid)?.leases ?? {})) add(l.cidr);
  const tags = vm.tags !== null && typeof vm.tags === 'object' ? (vm.tags as Record<string, unknown>) : {};
  return {
    uuid: vm.uuid,
    ...(typeof vm.owner_uuid === 'string' ? { owner: vm.owner_uuid } : {}),
    tags,
    enabled: vm.firewall_enabled === true,
    v4: [...v4].sort(),
    v6: [...v6].sort(),
    bridges: [...new Set(nics.map((n) => bridgeName(n.tag, n.vlan)))],
  };
}

const isGlobalRule = (r: FwRuleRecord) => r.global === true || r.owner_uuid === undefined;
const inScope = (r: FwRuleRecord, vm: FwVm) => isGlobalRule(r) || vm.owner === r.owner_uuid;

function matches(t: Target, vm: FwVm): boolean {
  if (t.kind === 'all') return true;
  if (t.kind === 'vm') return t.uuid === vm.uuid;
  if (t.kind !== 'tag' || !(t.name in vm.tags)) return false;
  return t.value === undefined || String(vm.tags[t.name]) === t.value;
}

// ---- compiling ------------------------------------------------------------------------------------

interface NftSet {
  type: 'ipv4_addr' | 'ipv6_addr';
  elements: string[];
}

interface CompiledRule {
  uuid: string;
  priority: number;
  action: 'allow' | 'block';
  lines: { i: string[]; o: string[] };
  sets: Map<string, NftSet>;
}

interface Compiled {
  rules: CompiledRule[];
  sets: Map<string, NftSet>;
  fw4: string[];
  fw6: string[];
  priorities: number[];
  bridges: string[];
}

const FAMILIES = [
  { fam: 4 as const, proto: 'ip', nfproto: 'ipv4', type: 'ipv4_addr' as const },
  { fam: 6 as const, proto: 'ip6', nfproto: 'ipv6', type: 'ipv6_addr' as const },
];

/** The protocol part of a rule's nft lines for one family (none: the rule has no such traffic). */
function protoMatches(p: ParsedRule, fam: 4 | 6): string[] {
  if (p.protocol === 'tcp' || p.protocol === 'udp') {
    if (p.ports === 'all' || !p.ports) return [`meta l4proto ${p.protocol}`];
    return p.ports.map((x) => `${p.protocol} dport ${typeof x === 'number' ? x : `${x.start}-${x.end}`}`);
  }
  if (p.protocol === 'icmp' || p.protocol === 'icmp6') {
    if ((p.protocol === 'icmp') !== (fam === 4)) return [];
    const kw = fam === 4 ? 'icmp' : 'icmpv6';
    if (p.types === 'all' || !p.types) return [`meta l4proto ${fam === 4 ? 'icmp' : 'ipv6-icmp'}`];
    return p.types.map((t) => `${kw} type ${t.type}${t.code === undefined ? '' : ` ${kw} code ${t.code}`}`);
  }
  return [`meta l4proto ${p.protocol}`];
}

/** Compile every rule for the VMs as they are now. */
export function compile(records: readonly FwRuleRecord[], vmsIn: readonly NetVm[]): Compiled {
  const vms = vmsIn.map(fwVm);
  const sets = new Map<string, NftSet>();
  const fwVms = vms.filter((v) => v.enabled);

  /** The named set of the addresses of `vms` matching `t` (`p` side: firewalled VMs only). */
  const memo = new Map<string, string | undefined>();
  const setFor = (r: FwRuleRecord, t: Target, fam: 4 | 6, prot: boolean): string | undefined => {
    const scope = isGlobalRule(r) ? 'g' : `o${hex(r.owner_uuid!)}`;
    const key =
      t.kind === 'all'
        ? 'all'
        : t.kind === 'vm'
          ? `v${hex(t.uuid)}`
          : `t${createHash('sha1')
              .update(`${t.kind === 'tag' ? t.name : ''}\0${t.kind === 'tag' ? (t.value ?? '\u0001') : ''}`)
              .digest('hex')
              .slice(0, 16)}`;
    const name = `${prot ? 'p' : 'a'}${fam}_${scope}_${key}`;
    if (memo.has(name)) return memo.get(name);
    const pool = (prot ? fwVms : vms).filter((v) => inScope(r, v) && matches(t, v));
    const elements = [...new Set(pool.flatMap((v) => (fam === 4 ? v.v4 : v.v6)))].sort();
    const found = elements.length === 0 ? undefined : name;
    memo.set(name, found);
    if (found) sets.set(name, { type: fam === 4 ? 'ipv4_addr' : 'ipv6_addr', elements });
    return found;
  };

  const rules: CompiledRule[] = [];
  for (const r of records) {
    const p = parseRule(r.rule);
    const out: CompiledRule = {
      uuid: r.uuid,
      priority: p.priority,
      action: p.action,
      lines: { i: [], o: [] },
      sets: new Map(),
    };
    if (r.enabled)
      for (const dir of ['i', 'o'] as const) {
        const prot = dir === 'i' ? p.to : p.from;
        const peer = dir === 'i' ? p.from : p.to;
        const [mine, theirs] = dir === 'i' ? ['daddr', 'saddr'] : ['saddr', 'daddr'];
        const verdict =
          dir === 'i'
            ? p.action === 'allow'
              ? 'accept'
              : 'drop'
            : p.action === 'allow'
              ? 'goto fw_in'
              : 'drop';
        for (const f of FAMILIES) {
          const protos = protoMatches(p, f.fam);
          if (protos.length === 0) continue;
          const protected_: string[] = [];
          for (const t of prot) {
            if (t.kind !== 'all' && t.kind !== 'tag' && t.kind !== 'vm') continue;
            if (t.kind === 'all' && isGlobalRule(r)) {
              // Every firewalled VM: fw_in and fw_out see no other. Only if one has such addresses.
              if (fwVms.some((v) => (f.fam === 4 ? v.v4 : v.v6).length > 0))
                protected_.push(`meta nfproto ${f.nfproto}`);
              continue;
            }
            const s = setFor(r, t, f.fam, true);
            if (s) protected_.push(`${f.proto} ${mine} @${s}`);
          }
          if (protected_.length === 0) continue;
          const peers: string[] = [];
          for (const t of peer) {
            if (t.kind === 'any') peers.push('');
            else if (t.kind === 'ip') {
              if ((isIPv4(t.ip) ? 4 : 6) === f.fam) peers.push(`${f.proto} ${theirs} ${t.ip}`);
            } else if (t.kind === 'subnet') {
              if ((isIPv4(t.cidr.split('/')[0]!) ? 4 : 6) === f.fam)
                peers.push(`${f.proto} ${theirs} ${t.cidr}`);
            } else {
              const s = setFor(r, t, f.fam, false);
              if (s) peers.push(`${f.proto} ${theirs} @${s}`);
            }
          }
          for (const a of protected_)
            for (const b of peers)
              for (const c of protos) out.lines[dir].push([a, b, c, verdict].filter(Boolean).join(' '));
        }
      }
    for (const l of [...out.lines.i, ...out.lines.o])
      for (const m of l.matchAll(/@(\w+)/g)) out.sets.set(m[1]!, sets.get(m[1]!)!);
    rules.push(out);
  }
  const fw4 = [...new Set(fwVms.flatMap((v) => v.v4))].sort();
  const fw6 = [...new Set(fwVms.flatMap((v) => v.v6))].sort();
  const priorities = [...new Set([0, ...rules.map((r) => r.priority)])].sort((a, b) => b - a);
  const bridges = [...new Set(fwVms.flatMap((v) => v.bridges))].sort();
  return { rules, sets, fw4, fw6, priorities, bridges };
}

// ---- nft scripts ----------------------------------------------------------------------------------

const ruleChain = (uuid: string, dir: 'i' | 'o') => `r_${hex(uuid)}_${dir}`;
/** The bucket a rule's chain is jumped to from. */
function bucket(r: { priority: number; action: 'allow' | 'block' }, dir: 'i' | 'o'): string {
  return `${dir === 'i' ? 'in' : 'out'}_${r.priority}_${r.action === 'allow' ? 'a' : 'b'}`;
}

function setBlock(name: string, s: NftSet): string[] {
  return [
    `  set ${name} {`,
    `    type ${s.type}`,
    ...(s.elements.length ? [`    elements = { ${s.elements.join(', ')} }`] : []),
    '  }',
  ];
}

function chainBlock(name: string, lines: readonly string[], head?: string): string[] {
  return [`  chain ${name} {`, ...(head ? [`    ${head}`] : []), ...lines.map((l) => `    ${l}`), '  }'];
}

/** The whole table, replacing whatever is there. */
export function fullScript(c: Compiled, table = fwTable()): string {
  const out = [`table inet ${table} {}`, `delete table inet ${table}`, `table inet ${table} {`];
  out.push(...setBlock('fw4', { type: 'ipv4_addr', elements: c.fw4 }));
  out.push(...setBlock('fw6', { type: 'ipv6_addr', elements: c.fw6 }));
  for (const [name, s] of c.sets) out.push(...setBlock(name, s));
  const hook = (h: string) => `type filter hook ${h} priority filter; policy accept;`;
  out.push(...chainBlock('forward', ['jump fw'], hook('forward')));
  out.push(...chainBlock('input', ['jump fw'], hook('input')));
  out.push(...chainBlock('output', ['goto fw_in'], hook('output')));
  out.push(...chainBlock('fw', ['ip saddr @fw4 goto fw_out', 'ip6 saddr @fw6 goto fw_out', 'goto fw_in']));
  out.push(...chainBlock('loaded', []));
  const outJumps = c.priorities.flatMap((p) => [`jump out_${p}_b`, `jump out_${p}_a`]);
  out.push(...chainBlock('fw_out', ['ct state established,related goto fw_in', ...outJumps, 'goto fw_in']));
  const inJumps = c.priorities.flatMap((p) => [`jump in_${p}_a`, `jump in_${p}_b`]);
  out.push(
    ...chainBlock('fw_in', [
      'meta nfproto ipv4 ip daddr != @fw4 accept',
      'meta nfproto ipv6 ip6 daddr != @fw6 accept',
      'ct state established,related accept',
      'ct state invalid drop',
      // What a VM needs to keep its address: DHCP answers, IPv6 neighbour discovery.
      'udp sport 67 udp dport 68 accept',
      'icmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept',
      ...inJumps,
      'drop',
    ]),
  );
  for (const p of c.priorities)
    for (const b of [`in_${p}_a`, `in_${p}_b`, `out_${p}_a`, `out_${p}_b`]) {
      const [dir] = b.startsWith('in') ? (['i'] as const) : (['o'] as const);
      const jumps = c.rules.filter((r) => bucket(r, dir) === b).map((r) => `jump ${ruleChain(r.uuid, dir)}`);
      out.push(...chainBlock(b, jumps));
    }
  for (const r of c.rules) {
    out.push(...chainBlock(ruleChain(r.uuid, 'i'), r.lines.i));
    out.push(...chainBlock(ruleChain(r.uuid, 'o'), r.lines.o));
  }
  out.push('}');
  return out.join('\n') + '\n';
}

/**
 * One rule's change: its chains rewritten, the sets it uses made and filled, and, for a new rule,
 * the jumps to its chains. `deleted`: its chains emptied (they go at the next whole load).
 */
export function ruleScript(
  c: Compiled,
  uuid: string,
  opts: { added?: boolean; deleted?: boolean },
  table = fwTable(),
): string {
  const r = c.rules.find((x) => x.uuid === uuid);
  const out: string[] = [`table inet ${table} {`];
  const sets = r && !opts.deleted ? r.sets : new Map<string, NftSet>();
  for (const [name, s] of sets) out.push(...setBlock(name, { type: s.type, elements: [] }));
  for (const dir of ['i', 'o'] as const) out.push(`  chain ${ruleChain(uuid, dir)} {`, '  }');
  out.push('}');
  // Fails (and so does the whole transaction) unless a whole table was loaded.
  out.push(`flush chain inet ${table} loaded`);
  for (const dir of ['i', 'o'] as const) out.push(`flush chain inet ${table} ${ruleChain(uuid, dir)}`);
  for (const [name, s] of sets) {
    out.push(`flush set inet ${table} ${name}`);
    if (s.elements.length) out.push(`add element inet ${table} ${name} { ${s.elements.join(', ')} }`);
  }
  if (r && !opts.deleted) {
    for (const dir of ['i', 'o'] as const) {
      for (const l of r.lines[dir]) out.push(`add rule inet ${table} ${ruleChain(uuid, dir)} ${l}`);
      if (opts.added) out.push(`add rule inet ${table} ${bucket(r, dir)} jump ${ruleChain(uuid, dir)}`);
    }
  }
  return out.join('\n') + '\n';
}

// ---- the firewall ---------------------------------------------------------------------------------

const hasFirewall = (vm: NetVm) => vm.firewall_enabled === true;

/** Whether a rule's change keeps it where its chains are jumped to from (its priority and action). */
function sameBucket(c: RuleChange): boolean {
  if (c.kind !== 'updated') return true;
  const [a, b] = [parseRule(c.old.rule), parseRule(c.rule.rule)];
  return a.priority === b.priority && a.action === b.action;
}

export type RuleChange =
  | { kind: 'added'; rule: FwRuleRecord }
  | { kind: 'updated'; rule: FwRuleRecord; old: FwRuleRecord }
  | { kind: 'deleted'; old: FwRuleRecord };

export class Firewall {
  constructor(
    private readonly docs: () => RuleDocs,
    private readonly vms: () => Promise<NetVm[]>,
  ) {}

  list(): FwRuleRecord[] {
    const d = this.docs();
    return d
      .keys()
      .filter(isUuid)
      .map((k) => d.get<FwRuleRecord>(k))
      .filter((r): r is FwRuleRecord => r !== undefined)
      .sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0));
  }

  get(uuid: string): FwRuleRecord | undefined {
    return isUuid(uuid) ? this.docs().get<FwRuleRecord>(uuid) : undefined;
  }

  /**
   * Store rule changes and apply them. One change at a time on the host (a lock in the run folder);
   * a change of one rule whose bucket exists loads only that rule's part, anything else the whole
   * table. A crash between the two leaves a mark that makes the next change load it all.
   */
  async apply(changes: readonly RuleChange[]): Promise<void> {
    // The VMs are read before the lock: reading them may finish what a killed command left, and
    // that may reload the firewall itself.
    const vms = await this.vms();
    await this.locked(async () => {
      const dirty = join(leaseDir(), 'firewall.dirty');
      const wasDirty = existsSync(dirty);
      writeFileSync(dirty, '');
      const d = this.docs();
      const one = changes.length === 1 ? changes[0]! : undefined;
      // One rule's part loads while the rule is stored (its nft runs as the store syncs): the mark
      // above makes the next change load the whole table should the store then fail.
      const loading =
        one &&
        !wasDirty &&
        sameBucket(one) &&
        (one.kind !== 'deleted' || d.keys().length > 1 || vms.some(hasFirewall))
          ? this.loadOne(one, vms)
          : undefined;
      try {
        const puts: [string, unknown][] = [];
        for (const c of changes) {
          if (c.kind === 'deleted') d.delete(c.old.uuid);
          else puts.push([c.rule.uuid, c.rule]);
        }
        if (puts.length > 1 && d.putMany) await d.putMany(puts);
        else for (const [k, v] of puts) d.put(k, v);
      } catch (err) {
        await loading;
        throw err;
      }
      if (!(await loading)) await this.load(compile(this.list(), vms));
      rmSync(dirty, { force: true });
    });
  }

  /**
   * One rule's part of the table, compiled alone (the rest stays as loaded). False when that cannot
   * be: no whole table loaded (its `loaded` chain is missing), or (a new rule) no bucket for its
   * priority yet; nothing changed then (the transaction fails whole).
   */
  private async loadOne(one: RuleChange, vms: readonly NetVm[]): Promise<boolean> {
    const uuid = one.kind === 'deleted' ? one.old.uuid : one.rule.uuid;
    const c = compile(one.kind === 'deleted' ? [] : [one.rule], vms);
    try {
      await nft(ruleScript(c, uuid, { added: one.kind === 'added', deleted: one.kind === 'deleted' }));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Load the whole table for the VMs as they are (a VM came, went or changed; host start). With no
   * rules and no firewalled VM there is no table at all.
   */
  async sync(opts: { except?: string } = {}): Promise<void> {
    const vms = (await this.vms()).filter((v) => v.uuid !== opts.except);
    await this.locked(async () => {
      await this.load(compile(this.list(), vms));
    });
  }

  private async load(c: Compiled): Promise<void> {
    if (c.rules.length === 0 && c.fw4.length === 0 && c.fw6.length === 0) {
      await nft(`table inet ${fwTable()} {}\ndelete table inet ${fwTable()}\n`);
      return;
    }
    // br_netfilter must hand these bridges' traffic to the inet hooks (where conntrack is).
    await ipBatch(
      c.bridges.map((b) => [
        'link',
        'set',
        b,
        'type',
        'bridge',
        'nf_call_iptables',
        '1',
        'nf_call_ip6tables',
        '1',
      ]),
    ).catch(() => undefined);
    await nft(fullScript(c));
  }

  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    mkdirSync(leaseDir(), { recursive: true });
    return withLock(join(leaseDir(), 'firewall.lock'), fn, { intent: 'firewall' });
  }

  /** The firewalled VMs a rule applies to (`fwadm vms`). */
  async vmsOf(rule: FwRuleRecord): Promise<string[]> {
    const p = parseRule(rule.rule);
    const vms = (await this.vms()).map(fwVm);
    return vms
      .filter((v) => v.enabled && inScope(rule, v) && [...p.from, ...p.to].some((t) => matches(t, v)))
      .map((v) => v.uuid)
      .sort();
  }

  /** The rules that apply to a VM (`fwadm rules`). */
  rulesOf(vm: NetVm): FwRuleRecord[] {
    const v = fwVm(vm);
    return this.list().filter((r) => {
      const p = parseRule(r.rule);
      return inScope(r, v) && [...p.from, ...p.to].some((t) => matches(t, v));
    });
  }
}
