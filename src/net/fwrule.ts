/**
 * The cloud firewall's rule language (SmartOS fwrule(7)): a tokenizer and a recursive-descent parser
 * over the grammar below, the canonical text of a parsed rule (what `fwadm list` shows), and
 * SmartOS's error messages, with the position of a syntax error.
 *
 *     rule     := FROM targets TO targets action protocol [PRIORITY n]
 *     targets  := any | all vms | target | '(' (any | all vms | target (OR target)*) ')'
 *     target   := ip ADDR | subnet ADDR/LEN | tag NAME ['=' VALUE] | vm UUID
 *     action   := ALLOW | BLOCK
 *     protocol := (tcp | udp) ports | (icmp | icmp6) types | ah | esp
 *     ports    := PORT n | PORT all | all ports | '(' PORT n (AND PORT n)* ')' | PORTS r (',' r)*
 *     types    := TYPE t [CODE c] | TYPE all | '(' TYPE t [CODE c] (AND TYPE t [CODE c])* ')'
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ZonixError } from '../common/index.ts';

export type Target =
  | { kind: 'any' }
  | { kind: 'all' }
  | { kind: 'ip'; ip: string }
  | { kind: 'subnet'; cidr: string }
  | { kind: 'tag'; name: string; value?: string }
  | { kind: 'vm'; uuid: string };

export type PortSpec = number | { start: number; end: number };
export interface IcmpType {
  type: number;
  code?: number;
}
export type Protocol = 'tcp' | 'udp' | 'icmp' | 'icmp6' | 'ah' | 'esp';

export interface ParsedRule {
  from: Target[];
  to: Target[];
  action: 'allow' | 'block';
  protocol: Protocol;
  /** tcp and udp: the ports, or every port. */
  ports?: PortSpec[] | 'all';
  /** icmp and icmp6: the types, or every type. */
  types?: IcmpType[] | 'all';
  priority: number;
}

/** A rule that does not parse or validate; `field` names the payload field (`rule`, `uuid`...). */
export class FwRuleError extends ZonixError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('EINVAL', message);
  }
}

const MAX_TARGETS = 24;
const MAX_PORTS = 8;
export const MAX_PRIORITY = 100;

// ---- tokens ---------------------------------------------------------------------------------------

const KEYWORDS = [
  'from',
  'to',
  'ip',
  'subnet',
  'any',
  'all',
  'tag',
  'vm',
  'vms',
  'or',
  'and',
  'block',
  'allow',
  'port',
  'ports',
  'tcp',
  'udp',
  'icmp',
  'icmp6',
  'ah',
  'esp',
  'type',
  'types',
  'code',
  'priority',
] as const;
type Keyword = (typeof KEYWORDS)[number];
const KEYWORD_SET = new Set<string>(KEYWORDS);

type TokenKind = Keyword | 'word' | 'string' | 'ipaddr' | 'cidr' | '(' | ')' | ',' | '=' | '-' | 'eof';

interface Token {
  kind: TokenKind;
  text: string;
  start: number;
  end: number;
}

const IPV4_AT = /\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}/y;
const IPV6_AT = /[0-9a-fA-F]*:[0-9a-fA-F:]*(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})?/y;
const CIDR_AT = /\/\d{1,3}/y;
const WORD_AT = /[-a-zA-Z0-9_]+/y;
const STRING_AT = /"((?:\\["\\/bfnrt]|\\u[0-9a-fA-F]{4}|[^"\\])*)"/y;
const SPACE_AT = /\s+/y;

function match(re: RegExp, src: string, pos: number): string | undefined {
  re.lastIndex = pos;
  return re.exec(src)?.[0];
}

function unescape(body: string): string {
  return JSON.parse(`"${body}"`) as string;
}

/** The rule's tokens, ending with `eof`; text no rule matches is an error at its position. */
export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let pos = 0;
  for (;;) {
    pos += match(SPACE_AT, src, pos)?.length ?? 0;
    if (pos >= src.length) {
      out.push({ kind: 'eof', text: '', start: pos, end: pos });
      return out;
    }
    const c = src[pos]!;
    const push = (kind: TokenKind, raw: string, text = raw) => {
      out.push({ kind, text, start: pos, end: pos + raw.length });
      pos += raw.length;
    };
    if ('(),=-'.includes(c)) {
      push(c as TokenKind, c);
      continue;
    }
    const str = ((STRING_AT.lastIndex = pos), STRING_AT.exec(src));
    if (str) {
      push('string', str[0], unescape(str[1]!));
      continue;
    }
    const v4 = match(IPV4_AT, src, pos);
    if (v4) {
      push('ipaddr', v4);
      continue;
    }
    const v6 = match(IPV6_AT, src, pos);
    const word = match(WORD_AT, src, pos);
    if (v6 && v6.length >= (word?.length ?? 0) && v6.includes(':')) {
      push('ipaddr', v6);
      continue;
    }
    const cidr = match(CIDR_AT, src, pos);
    if (cidr) {
      push('cidr', cidr);
      continue;
    }
    if (word) {
      const lower = word.toLowerCase();
      push(KEYWORD_SET.has(lower) ? (lower as Keyword) : 'word', word);
      continue;
    }
    throw new FwRuleError(
      'rule',
      `Error at character ${pos}: '${src.slice(pos, pos + 20)}', found: unexpected text`,
    );
  }
}

// ---- parser ---------------------------------------------------------------------------------------

/** How a token kind is named where one was expected (as fwrule's messages name them). */
function expectedName(k: TokenKind): string {
  if (k === 'from' || k === 'to' || k === 'or' || k === 'and' || k === 'allow' || k === 'block')
    return `'${k.toUpperCase()}'`;
  if (k === 'port' || k === 'ports' || k === 'type' || k === 'code' || k === 'priority')
    return `'${k.toUpperCase()}'`;
  if (k === 'word') return 'word';
  if (k === 'ipaddr') return 'IP address';
  if (k === 'cidr') return 'CIDR suffix';
  if (k === 'string') return 'string';
  if (k === 'eof') return 'end of rule';
  return `'${k}'`;
}

/** How the token found instead is named. */
function foundName(t: Token): string {
  if (t.kind === 'word') return 'word';
  if (t.kind === 'string') return 'string';
  if (t.kind === 'ipaddr') return 'IPADDR';
  if (t.kind === 'cidr') return 'CIDRSUFFIX';
  if (t.kind === 'eof') return 'EOF';
  if (KEYWORD_SET.has(t.kind)) return t.kind.toUpperCase();
  return `'${t.kind}'`;
}

const TARGET_START: TokenKind[] = ['(', 'all', 'any', 'ip', 'subnet', 'vm', 'tag'];
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const isUuid = (s: string) => UUID_RE.test(s);

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[]) {}

  private get peek(): Token {
    return this.toks[this.i]!;
  }

  private fail(expected: readonly TokenKind[]): never {
    const t = this.peek;
    const at = this.i === 0 ? 0 : this.toks[this.i - 1]!.end;
    throw new FwRuleError(
      'rule',
      `Error at character ${at}: '${t.text}', expected: ${expected.map(expectedName).join(', ')}, found: ${foundName(t)}`,
    );
  }

  private is(...kinds: TokenKind[]): boolean {
    return kinds.includes(this.peek.kind);
  }

  private take(...kinds: TokenKind[]): Token {
    if (!this.is(...kinds)) this.fail(kinds);
    return this.toks[this.i++]!;
  }

  /** The token after the next one (for `( any )` against `( ip ... )`). */
  private ahead(n: number): TokenKind {
    return this.toks[Math.min(this.i + n, this.toks.length - 1)]!.kind;
  }

  rule(): ParsedRule {
    this.take('from');
    const from = this.targets('FROM');
    this.take('to');
    const to = this.targets('TO');
    const action = this.take('allow', 'block').kind as 'allow' | 'block';
    const proto = this.protocol();
    let priority = 0;
    if (this.is('priority')) {
      this.i++;
      const w = this.take('word').text;
      priority = Number(w);
      if (!/^\d+$/.test(w) || priority > MAX_PRIORITY)
        throw new FwRuleError('rule', `Priority "${w}" is invalid (must be a number between 0 and 100)`);
    }
    this.take('eof');
    return { from, to, action, ...proto, priority };
  }

  private targets(side: 'FROM' | 'TO'): Target[] {
    if (this.is('any')) return (this.i++, [{ kind: 'any' }]);
    if (this.is('all')) return [this.allVms()];
    if (this.is('(')) {
      this.i++;
      if (this.is('any')) {
        this.i++;
        this.take(')');
        return [{ kind: 'any' }];
      }
      if (this.is('all')) {
        const t = this.allVms();
        this.take(')');
        return [t];
      }
      const list = [this.target(['ip', 'subnet', 'vm', 'tag'])];
      while (this.is('or')) {
        this.i++;
        list.push(this.target(['ip', 'subnet', 'vm', 'tag']));
      }
      this.take(')', 'or');
      if (list.length > MAX_TARGETS)
        throw new FwRuleError('rule', `Maximum of ${MAX_TARGETS} targets allowed on the ${side} side`);
      return list;
    }
    return [this.target(TARGET_START)];
  }

  private allVms(): Target {
    this.take('all');
    this.take('vms');
    return { kind: 'all' };
  }

  private target(expected: TokenKind[]): Target {
    const t = this.take(...expected);
    switch (t.kind) {
      case 'ip': {
        const a = this.take('ipaddr').text;
        if (!isIPv4(a) && !isIPv6(a)) throw new FwRuleError('rule', `IP address "${a}" is invalid`);
        return { kind: 'ip', ip: a.toLowerCase() };
      }
      case 'subnet': {
        const a = this.take('ipaddr').text;
        const cidr = `${a}${this.take('cidr').text}`;
        if (!validSubnet(cidr))
          throw new FwRuleError('rule', `Subnet "${cidr}" is invalid (must be in CIDR format)`);
        return { kind: 'subnet', cidr: cidr.toLowerCase() };
      }
      case 'vm': {
        const u = this.take('word').text;
        if (!isUuid(u)) throw new FwRuleError('rule', `UUID "${u}" is invalid`);
        return { kind: 'vm', uuid: u };
      }
      default: {
        const name = this.tagString();
        if (!this.is('=')) return { kind: 'tag', name };
        this.i++;
        return { kind: 'tag', name, value: this.tagString() };
      }
    }
  }

  /** A tag name or value: a word, a quoted string, or a keyword used as a word (`tag type = web`). */
  private tagString(): string {
    const t = this.peek;
    if (t.kind === 'word' || t.kind === 'string' || KEYWORD_SET.has(t.kind)) {
      this.i++;
      return t.text;
    }
    return this.fail(['string', 'word']);
  }

  private protocol(): Pick<ParsedRule, 'protocol' | 'ports' | 'types'> {
    const t = this.take('tcp', 'udp', 'icmp', 'icmp6', 'ah', 'esp');
    const protocol = t.kind as Protocol;
    if (protocol === 'ah' || protocol === 'esp') return { protocol };
    if (protocol === 'icmp' || protocol === 'icmp6') return { protocol, types: this.types() };
    return { protocol, ports: this.ports() };
  }

  private ports(): PortSpec[] | 'all' {
    if (this.is('all')) {
      this.i++;
      this.take('ports');
      return 'all';
    }
    if (this.is('ports')) {
      this.i++;
      const list = [this.portRange()];
      while (this.is(',')) {
        this.i++;
        list.push(this.portRange());
      }
      return limitPorts(list);
    }
    const paren = this.is('(');
    if (paren) this.i++;
    else if (!this.is('port')) this.fail(['(', 'port', 'ports', 'all']);
    this.take('port');
    if (this.is('all')) {
      this.i++;
      if (paren) this.take(')');
      return 'all';
    }
    const list: PortSpec[] = [this.portNumber()];
    while (paren && this.is('and')) {
      this.i++;
      this.take('port');
      list.push(this.portNumber());
    }
    if (paren) this.take(')', 'and');
    return limitPorts(list);
  }

  private portNumber(): number {
    const w = this.take('word').text;
    return validPort(w);
  }

  /** `80`, `8000-8100` (one word) or `8000 - 8100`. */
  private portRange(): PortSpec {
    const w = this.take('word').text;
    const dash = /^(\d+)-(\d+)$/.exec(w);
    if (dash) return range(validPort(dash[1]!), validPort(dash[2]!));
    const start = validPort(w);
    if (!this.is('-')) return start;
    this.i++;
    return range(start, validPort(this.take('word').text));
  }

  private types(): IcmpType[] | 'all' {
    const paren = this.is('(');
    if (paren) this.i++;
    else if (!this.is('type')) this.fail(['(', 'type']);
    this.take('type');
    if (this.is('all')) {
      this.i++;
      if (paren) this.take(')');
      return 'all';
    }
    const list = [this.icmpType()];
    while (paren && this.is('and')) {
      this.i++;
      this.take('type');
      list.push(this.icmpType());
    }
    if (paren) this.take(')', 'and');
    if (list.length > MAX_PORTS) throw new FwRuleError('rule', `Maximum of ${MAX_PORTS} types allowed`);
    return list;
  }

  private icmpType(): IcmpType {
    const type = byte(this.take('word').text, 'type');
    if (!this.is('code')) return { type };
    this.i++;
    return { type, code: byte(this.take('word').text, 'code') };
  }
}

function validPort(w: string): number {
  const n = Number(w);
  if (!/^\d+$/.test(w) || n < 1 || n > 65535) throw new FwRuleError('rule', `Port number "${w}" is invalid`);
  return n;
}

function range(start: number, end: number): PortSpec {
  if (end < start)
    throw new FwRuleError('rule', `The end of the range (${end}) cannot be less than the start (${start})`);
  return start === end ? start : { start, end };
}

function limitPorts(list: PortSpec[]): PortSpec[] {
  if (list.length > MAX_PORTS) throw new FwRuleError('rule', `Maximum of ${MAX_PORTS} ports allowed`);
  return list;
}

function byte(w: string, what: 'type' | 'code'): number {
  const n = Number(w);
  if (!/^\d+$/.test(w) || n > 255) throw new FwRuleError('rule', `ICMP ${what} "${w}" is invalid`);
  return n;
}

function validSubnet(cidr: string): boolean {
  const [addr, len] = cidr.split('/') as [string, string];
  const n = Number(len);
  if (isIPv4(addr)) return n <= 32;
  if (isIPv6(addr)) return n <= 128;
  return false;
}

/** Parse a rule's text; a syntax error names the character where it starts. */
export function parseRule(text: string): ParsedRule {
  const parsed = new Parser(tokenize(text)).rule();
  const affects = (ts: Target[]) => ts.some((t) => t.kind === 'all' || t.kind === 'tag' || t.kind === 'vm');
  if (!affects(parsed.from) && !affects(parsed.to)) throw new FwRuleError('rule', 'rule does not affect VMs');
  return normalize(parsed);
}

// ---- canonical form -------------------------------------------------------------------------------

const KIND_ORDER = ['any', 'all', 'ip', 'subnet', 'tag', 'vm'];

function targetText(t: Target): string {
  switch (t.kind) {
    case 'any':
      return 'any';
    case 'all':
      return 'all vms';
    case 'ip':
      return `ip ${t.ip}`;
    case 'subnet':
      return `subnet ${t.cidr}`;
    case 'vm':
      return `vm ${t.uuid}`;
    case 'tag':
      return t.value === undefined ? `tag ${quote(t.name)}` : `tag ${quote(t.name)} = ${quote(t.value)}`;
  }
}

function quote(s: string): string {
  return /^[-a-zA-Z0-9_]+$/.test(s) && !KEYWORD_SET.has(s.toLowerCase()) ? s : JSON.stringify(s);
}

/** Targets deduplicated and in fwrule's order (kind, then text); ports and types sorted. */
function normalize(r: ParsedRule): ParsedRule {
  const sortTargets = (ts: Target[]) => {
    const seen = new Map<string, Target>();
    for (const t of ts) seen.set(targetText(t), t);
    return [...seen.entries()]
      .sort(
        ([a, x], [b, y]) =>
          KIND_ORDER.indexOf(x.kind) - KIND_ORDER.indexOf(y.kind) || (a < b ? -1 : a > b ? 1 : 0),
      )
      .map(([, t]) => t);
  };
  const out: ParsedRule = { ...r, from: sortTargets(r.from), to: sortTargets(r.to) };
  const startOf = (p: PortSpec) => (typeof p === 'number' ? p : p.start);
  if (Array.isArray(r.ports)) out.ports = [...r.ports].sort((a, b) => startOf(a) - startOf(b));
  if (Array.isArray(r.types))
    out.types = [...r.types].sort((a, b) => a.type - b.type || (a.code ?? -1) - (b.code ?? -1));
  return out;
}

function sideText(ts: Target[]): string {
  const parts = ts.map(targetText);
  return parts.length > 1 ? `(${parts.join(' OR ')})` : parts[0]!;
}

/** The rule as `fwadm` stores and lists it: keywords upper-case, targets and ports in order. */
export function ruleText(r: ParsedRule): string {
  let proto: string = r.protocol;
  if (r.ports === 'all') proto += ' PORT all';
  else if (r.ports) {
    const ranges = r.ports.some((p) => typeof p !== 'number');
    const txt = r.ports.map((p) => (typeof p === 'number' ? String(p) : `${p.start}-${p.end}`));
    if (ranges) proto += ` PORTS ${txt.join(', ')}`;
    else proto += txt.length > 1 ? ` (PORT ${txt.join(' AND PORT ')})` : ` PORT ${txt[0]!}`;
  }
  if (r.types === 'all') proto += ' TYPE all';
  else if (r.types) {
    const txt = r.types.map((t) => (t.code === undefined ? `${t.type}` : `${t.type} CODE ${t.code}`));
    proto += txt.length > 1 ? ` (TYPE ${txt.join(' AND TYPE ')})` : ` TYPE ${txt[0]!}`;
  }
  const prio = r.priority ? ` PRIORITY ${r.priority}` : '';
  return `FROM ${sideText(r.from)} TO ${sideText(r.to)} ${r.action.toUpperCase()} ${proto}${prio}`;
}
