/**
 * `fwadm`: the cloud firewall's rules, with SmartOS's subcommands, options, output (`list`'s columns,
 * `-p`/`-d`/`-o`, `-j`; "Added rules:" and rule lines) and messages (exit 1 on an error, 2 on bad
 * usage). Rules are written in fwrule(7)'s language; see src/net/fwrule.ts.
 * @module
 */
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { ZonixError } from '../common/index.ts';
import { defaultHost } from '../host/index.ts';
import { FwRuleError, makeRecord, type FwRuleRecord, type RuleChange } from '../net/index.ts';

const USAGE = `Usage: fwadm [OPTIONS] COMMAND [ARGS...]

Manage firewall rules

Options:
    -h, --help      Print help and exit.
    -j, --json      Output JSON.
    -v, --verbose   Verbose output.

Commands:
    add [-e] [--desc <description>] [-g] [-O <owner uuid>] [-f <file>] [<rule>]
                                    add firewall rules
    delete <rule uuid>...           delete rules
    disable <rule uuid>...          disable rules
    enable <rule uuid>...           enable rules
    get <rule uuid>                 get a rule
    list [-j] [-p] [-d <delim>] [-o <fields>]
                                    list rules
    update [-e] [--desc <description>] [-g] [-O <owner uuid>] [-f <file>] <rule uuid> [<rule>]
                                    update a rule
    vms <rule uuid>                 list the UUIDs of VMs affected by a rule
    rules <vm uuid>                 list rules that apply to a VM
    start <vm uuid>                 start a VM's firewall
    status [-v] <vm uuid>           get the status of a VM's firewall
    stop <vm uuid>                  stop a VM's firewall
    help                            print this help

See fwadm(8) and fwrule(7) for more information.
`;

export interface Io {
  stdout: Pick<Writable, 'write'>;
  stderr: Pick<Writable, 'write'>;
  /** Whether stdin is a terminal (no payload to read from it then). */
  stdinIsTty?: boolean;
  readStdin?: () => string;
}

class Exit extends Error {
  constructor(
    readonly code: number,
    readonly text = '',
  ) {
    super(text);
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DEFAULT_FIELDS = ['uuid', 'enabled', 'rule'];
const FIELD_WIDTHS: Record<string, number> = {
  created_by: 10,
  description: 15,
  enabled: 7,
  global: 6,
  owner_uuid: 36,
  rule: 20,
  uuid: 36,
  version: 20,
};

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean', short: 'j' },
  verbose: { type: 'boolean', short: 'v' },
  dryrun: { type: 'boolean' },
  enable: { type: 'boolean', short: 'e' },
  file: { type: 'string', short: 'f' },
  desc: { type: 'string' },
  description: { type: 'string' },
  global: { type: 'boolean', short: 'g' },
  owner_uuid: { type: 'string', short: 'O' },
  parseable: { type: 'boolean', short: 'p' },
  delim: { type: 'string', short: 'd' },
  fields: { type: 'string', short: 'o' },
  stdout: { type: 'boolean' },
} as const;

type Opts = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new Exit(2, `${(err as Error).message}\n${USAGE}`);
  }
}

function uuidArg(arg: string | undefined): string {
  if (!arg) throw new Exit(1, 'Error: missing UUID\n');
  if (!UUID_RE.test(arg)) throw new Exit(1, `Error: invalid UUID "${arg}"\n`);
  return arg;
}

/** `<uuid> true    <rule>`: fwadm's rule line. */
const ruleLine = (r: FwRuleRecord) => `${r.uuid} ${r.enabled ? 'true   ' : 'false  '} ${r.rule}`;

/** The payload: `-f <file>` (`-` for stdin), else the rule on the command line, else stdin. */
function payload(o: Opts, args: string[], io: Io): Record<string, unknown> {
  let text: string;
  if (!o.file && args.length > 0) return { rule: args.join(' ') };
  if (o.file && o.file !== '-') {
    try {
      text = readFileSync(o.file, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new Exit(
        1,
        e.code === 'ENOENT'
          ? `File "${o.file}" does not exist.\n`
          : `Error reading "${o.file}": ${e.message}\n`,
      );
    }
  } else if (o.file === '-' || !io.stdinIsTty) text = (io.readStdin ?? (() => readFileSync(0, 'utf8')))();
  else throw new Exit(1, 'Must supply file!\n');
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (err) {
    throw new Exit(1, `Invalid JSON payload: ${(err as Error).message}\n`);
  }
}

/** The rules of a payload (`{ rule }` alone, or `{ rules: [...] }`), with the command line's options. */
function payloadRules(o: Opts, p: Record<string, unknown>): Record<string, unknown>[] {
  if ('remoteVMs' in p) throw new ZonixError('EINVAL', 'remote VMs are not supported yet');
  const list = 'rule' in p ? [p] : Array.isArray(p.rules) ? (p.rules as unknown[]) : [];
  if (list.length === 0) throw new FwRuleError('rule', 'No rule specified!');
  return list.map((r) => {
    if (r === null || typeof r !== 'object') throw new FwRuleError('rule', 'No rule specified!');
    const out = { ...(r as Record<string, unknown>) };
    if (o.enable) out.enabled = true;
    if (o.global) out.global = true;
    if (o.owner_uuid !== undefined) out.owner_uuid = o.owner_uuid;
    const desc = o.desc ?? o.description;
    if (desc !== undefined) out.description = desc;
    return out;
  });
}

async function output(
  o: Opts,
  io: Io,
  action: string,
  rules: FwRuleRecord[],
  affected: () => Promise<string[]>,
): Promise<number> {
  if (o.json) {
    io.stdout.write(JSON.stringify({ rules, vms: await affected() }, null, 2) + '\n');
    return 0;
  }
  const out = [`${action} rules:`, ...rules.map(ruleLine)];
  if (o.verbose) out.push('', 'VMs affected:', ...(await affected()));
  io.stdout.write(out.join('\n') + '\n');
  return 0;
}

/** fwadm's rule table: fixed minimum widths that grow to fit, or `-p` with a delimiter. */
function displayRules(o: Opts, io: Io, rules: FwRuleRecord[]): number {
  const fields = o.fields ? o.fields.split(',').filter(Boolean) : DEFAULT_FIELDS;
  if (o.json) {
    const pick = (r: FwRuleRecord) =>
      o.fields ? Object.fromEntries(fields.map((f) => [f, (r as unknown as Record<string, unknown>)[f]])) : r;
    io.stdout.write(JSON.stringify(rules.map(pick), null, 2) + '\n');
    return 0;
  }
  const delim = o.delim ?? ':';
  const cell = (r: FwRuleRecord, f: string) => {
    const v = (r as unknown as Record<string, unknown>)[f];
    // As fwadm: a missing or false value shows as '-'.
    const s =
      v === undefined || v === null || v === false || v === ''
        ? '-'
        : JSON.stringify(v).replace(/^"|"$/g, '');
    return o.parseable ? s.split(delim).join(`\\${delim}`) : s;
  };
  const rows = rules.map((r) => fields.map((f) => cell(r, f)));
  if (o.parseable) {
    for (const row of rows) io.stdout.write(row.join(delim) + '\n');
    return 0;
  }
  const widths = fields.map((f, i) =>
    Math.max(FIELD_WIDTHS[f] ?? f.length, ...rows.map((r) => r[i]!.length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join(' ')
      .trimEnd() + '\n';
  io.stdout.write(line(fields.map((f) => f.toUpperCase())));
  for (const row of rows) io.stdout.write(line(row));
  return 0;
}

function ruleOrFail(fw: ReturnType<typeof defaultHost>['net']['firewall'], uuid: string): FwRuleRecord {
  const r = fw.get(uuid);
  if (!r) throw new ZonixError('ENOENT', `Rule "${uuid}" does not exist`);
  return r;
}

export async function main(
  argv: string[],
  io: Io = { stdout: process.stdout, stderr: process.stderr, stdinIsTty: process.stdin.isTTY },
): Promise<number> {
  let json = argv.includes('-j') || argv.includes('--json');
  try {
    if (process.getuid?.() !== 0) throw new ZonixError('EPERM', 'FATAL: cannot run: must be root');
    // Options before the command (`fwadm -j list`) and after it (`fwadm list -j`) both count.
    const at = argv.findIndex((a) => !a.startsWith('-'));
    const pre = parse(at < 0 ? argv : argv.slice(0, at)).values;
    const cmd = at < 0 ? undefined : argv[at];
    const rest = at < 0 ? [] : argv.slice(at + 1);
    if (!cmd || cmd === 'help' || pre.help) throw new Exit(cmd || pre.help ? 0 : 2, USAGE);
    const { values: o0, positionals: args } = parse(rest);
    const o = { ...pre, ...o0 } as Opts;
    json = o.json === true;
    if (o.help) throw new Exit(0, USAGE);
    const host = defaultHost();
    const fw = host.net.firewall;
    const affected = (rules: FwRuleRecord[]) => async () =>
      [...new Set((await Promise.all(rules.map((r) => fw.vmsOf(r)))).flat())].sort();
    const apply = async (changes: RuleChange[]) => {
      if (!o.dryrun) await fw.apply(changes);
    };
    switch (cmd) {
      case 'add': {
        const rules = payloadRules(o, payload(o, args, io)).map((p) => makeRecord(p));
        for (const r of rules)
          if (fw.get(r.uuid)) throw new ZonixError('EEXIST', `Rule "${r.uuid}" already exists`);
        await apply(rules.map((rule) => ({ kind: 'added', rule })));
        return await output(o, io, 'Added', rules, affected(rules));
      }
      case 'update': {
        const id = args[0] && UUID_RE.test(args[0]) ? args.shift() : undefined;
        const list = payloadRules(o, payload(o, args, io));
        if (id && list.length === 1) list[0]!.uuid = id;
        const changes: RuleChange[] = list.map((p) => {
          const old = ruleOrFail(fw, uuidArg(typeof p.uuid === 'string' ? p.uuid : undefined));
          return { kind: 'updated', rule: makeRecord(p, old), old };
        });
        await apply(changes);
        const rules = changes.map((c) => (c as { rule: FwRuleRecord }).rule);
        return await output(o, io, 'Updated', rules, affected(rules));
      }
      case 'enable':
      case 'disable': {
        if (args.length === 0) throw new Exit(1, `Must specify rules to ${cmd}!\n`);
        const enabled = cmd === 'enable';
        const changes: RuleChange[] = args.map((u) => {
          const old = ruleOrFail(fw, uuidArg(u));
          return { kind: 'updated', rule: makeRecord({ enabled }, old), old };
        });
        await apply(changes);
        const rules = changes.map((c) => (c as { rule: FwRuleRecord }).rule);
        return await output(o, io, enabled ? 'Enabled' : 'Disabled', rules, affected(rules));
      }
      case 'delete': {
        if (args.length === 0) throw new Exit(1, 'Must specify rules to delete!\n');
        const olds = args.map((u) => ruleOrFail(fw, uuidArg(u)));
        const vms = await affected(olds)();
        await apply(olds.map((old) => ({ kind: 'deleted', old })));
        return await output(o, io, 'Deleted', olds, () => Promise.resolve(vms));
      }
      case 'get': {
        const r = ruleOrFail(fw, uuidArg(args[0]));
        io.stdout.write(JSON.stringify(r, null, 2) + '\n');
        return 0;
      }
      case 'list':
        return displayRules(o, io, fw.list());
      case 'vms': {
        const r = ruleOrFail(fw, uuidArg(args[0]));
        const vms = await fw.vmsOf(r);
        if (o.json) io.stdout.write(JSON.stringify(vms, null, 2) + '\n');
        else io.stdout.write(vms.map((v) => `${v}\n`).join(''));
        return 0;
      }
      case 'rules': {
        const vm = await host.get(uuidArg(args[0]));
        return displayRules(o, io, fw.rulesOf(vm));
      }
      case 'status': {
        const vm = await host.get(uuidArg(args[0]));
        const running = vm.firewall_enabled === true && vm.state === 'running';
        const res = {
          running,
          ...(o.verbose || o.json ? { rules: fw.rulesOf(vm).filter((r) => r.enabled).length } : {}),
        };
        if (o.json) io.stdout.write(JSON.stringify(res, null, 2) + '\n');
        else if (o.verbose)
          io.stdout.write(
            Object.entries(res)
              .map(([k, v]) => `${k}: ${String(v)}\n`)
              .join(''),
          );
        else io.stdout.write(running ? 'running\n' : 'stopped\n');
        return 0;
      }
      case 'start':
      case 'stop': {
        const uuid = uuidArg(args[0]);
        await host.update(uuid, { firewall_enabled: cmd === 'start' });
        if (o.json) io.stdout.write(JSON.stringify({ result: 'success' }, null, 2) + '\n');
        else io.stdout.write(`Firewall ${cmd === 'start' ? 'started' : 'stopped'} for VM ${uuid}\n`);
        return 0;
      }
      default:
        throw new Exit(2, `fwadm: unknown command "${cmd}"\n${USAGE}`);
    }
  } catch (err) {
    if (err instanceof Exit) {
      (err.code === 0 ? io.stdout : io.stderr).write(err.text);
      return err.code;
    }
    if (err instanceof ZonixError) {
      if (json)
        io.stderr.write(
          JSON.stringify({ errors: err.message.split('\n').map((message) => ({ message })) }, null, 2) + '\n',
        );
      else io.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
