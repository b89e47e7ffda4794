/**
 * `vmadm`: SmartOS's VM tool over the VM core. Success messages on stderr, data on stdout; exit 0, 1
 * for errors, 2 for usage; starting a running VM or stopping a stopped one exits 0.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { UsageError, ZonixError } from '../common/errors.ts';
import { ImageStore, systemPool } from '../images/index.ts';
import { isImported } from '../storage/index.ts';
import { VmCore } from '../vm/core.ts';
import { parseFilter, matchesAll } from '../vm/filters.ts';
import {
  DEFAULT_ORDER,
  DEFAULT_SORT,
  formatVmList,
  resolveFields,
  sortVms,
  type ListField,
} from '../vm/list.ts';
import {
  formatValidateResult,
  isFilterKey,
  listFieldFor,
  listValue,
  validatePayload,
} from '../vm/schema/index.ts';
import { getopt, has, last } from './getopt.ts';

const USAGE = `Usage: vmadm <command> [-d] [-v] [command-specific arguments]

    create [-f <filename>]
    delete <uuid>
    get <uuid>
    kill [-s SIGNAL|-SIGNAL] <uuid>
    list [-p] [-H] [-o field,...] [-s field,...] [field=value ...]
    lookup [-j|-1] [-o field,...] [field=value ...]
    start <uuid>
    stop <uuid> [-F] [-t timeout]
    validate create [-f <filename>]
    validate update <brand> [-f <filename>]
`;

export interface Io {
  stdout: Writable;
  stderr: Writable;
  stdin: NodeJS.ReadStream;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function uuidArg(rest: string[], cmd: string): string {
  const u = rest[0];
  if (u === undefined || u.length !== 36 || !UUID.test(u))
    throw new UsageError(`Invalid or missing UUID for ${cmd}`, USAGE);
  return u;
}

function core(poolName?: string): VmCore {
  const pool = systemPool(poolName);
  return new VmCore(pool, undefined, new ImageStore(pool).catalogue());
}

/** The JSON payload from -f FILE, or stdin (refused when it is a terminal). */
function readPayload(file: string | undefined, io: Io, cmd: string): unknown {
  let text: string;
  if (file !== undefined && file !== '-') {
    if (!existsSync(file)) throw new ZonixError('ENOENT', `File: ${file} does not exist.`);
    text = readFileSync(file, 'utf8');
  } else {
    if (io.stdin.isTTY) throw new UsageError(`Will not ${cmd} from stdin when stdin is a tty.`, USAGE);
    text = readFileSync(0, 'utf8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ZonixError('EINVAL', `Invalid JSON payload: ${(err as Error).message}`);
  }
}

export async function main(
  argv: string[],
  io: Io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin },
) {
  const [cmd, ...rest] = argv.filter((a) => a !== '-d' && a !== '-v');
  if (cmd === undefined) throw new UsageError('', USAGE);
  if (cmd === '-h' || cmd === '-?' || cmd === 'help') {
    io.stdout.write(USAGE);
    return 0;
  }
  const say = (msg: string) => io.stderr.write(`${msg}\n`);
  // Already in the asked-for state: the message, and exit 0.
  const idempotent = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      return true;
    } catch (err) {
      if (err instanceof ZonixError && err.exitCode === 0) {
        say(err.message);
        return false;
      }
      throw err;
    }
  };
  switch (cmd) {
    case 'create': {
      const p = getopt(rest, 'f:', USAGE);
      const payload = readPayload(last(p, 'f'), io, 'create');
      const zpool = (payload as { zpool?: unknown } | null)?.zpool;
      const { uuid } = await core(typeof zpool === 'string' && isImported(zpool) ? zpool : undefined).create(
        payload,
      );
      say(`Successfully created VM ${uuid}`);
      return 0;
    }
    case 'validate': {
      const [action, ...more] = rest;
      if (action !== 'create' && action !== 'update') throw new UsageError('Invalid validate action', USAGE);
      const brand = action === 'update' ? more.shift() : undefined;
      if (action === 'update' && (brand === undefined || brand.startsWith('-')))
        throw new UsageError('validate update requires a brand', USAGE);
      const p = getopt(more, 'f:', USAGE);
      const payload = readPayload(last(p, 'f'), io, 'validate');
      const b = action === 'create' ? (payload as { brand?: unknown }).brand : brand;
      const result = validatePayload(payload, action, typeof b === 'string' ? b : undefined);
      const out = formatValidateResult(result, action, typeof b === 'string' ? b : undefined);
      io.stderr.write(out.message.endsWith('\n') ? out.message : `${out.message}\n`);
      return out.exitCode;
    }
    case 'get':
    case 'json': {
      const vm = await core().get(uuidArg(rest, cmd));
      io.stdout.write(JSON.stringify(vm, null, 2) + '\n');
      return 0;
    }
    case 'list':
      return list(rest, io);
    case 'lookup':
      return lookup(rest, io);
    case 'start':
    case 'boot': {
      const uuid = uuidArg(rest, cmd);
      if (await idempotent(() => core().start(uuid))) say(`Successfully started VM ${uuid}`);
      return 0;
    }
    case 'stop':
    case 'halt': {
      // Flags may come before or after the UUID (`stop -F <uuid>`, `stop <uuid> -F`).
      const operands = rest.filter((a, i) => !a.startsWith('-') && rest[i - 1] !== '-t');
      const p = getopt(
        rest.filter((a) => !operands.includes(a)),
        'Ft:',
        USAGE,
      );
      const uuid = uuidArg(operands, cmd);
      const t = last(p, 't');
      if (t !== undefined)
        throw new ZonixError(
          'EINVAL',
          'Timeout option is only supported for bhyve, KVM and docker containers.',
        );
      if (await idempotent(() => core().stop(uuid, { force: has(p, 'F') })))
        say(`Successfully completed stop for VM ${uuid}`);
      return 0;
    }
    case 'kill': {
      let signal = 'SIGTERM';
      const args = [...rest];
      if (args[0] === '-s') {
        signal = args[1] ?? '';
        args.splice(0, 2);
      } else if (args[0]?.startsWith('-')) signal = args.shift()!.slice(1);
      const name = /^\d+$/.test(signal) ? signal : signal.toUpperCase().replace(/^(SIG)?/, 'SIG');
      if (
        !/^\d+$/.test(name) &&
        !(
          name in
          {
            SIGHUP: 1,
            SIGINT: 1,
            SIGQUIT: 1,
            SIGKILL: 1,
            SIGUSR1: 1,
            SIGUSR2: 1,
            SIGTERM: 1,
            SIGSTOP: 1,
            SIGCONT: 1,
            SIGWINCH: 1,
            SIGPWR: 1,
          }
        )
      )
        throw new ZonixError('EINVAL', `Unknown signal "${signal}"`);
      const uuid = uuidArg(args, cmd);
      await core().kill(uuid, name);
      say(`Sent signal "${signal}" to init process for VM ${uuid}`);
      return 0;
    }
    case 'delete':
    case 'destroy': {
      const uuid = uuidArg(rest, cmd);
      await core().delete(uuid);
      say(`Successfully deleted VM ${uuid}`);
      return 0;
    }
    default:
      throw new UsageError(`Invalid command: "${cmd}".`, USAGE);
  }
}

function describeField(name: string): ListField | undefined {
  const col = listFieldFor(name);
  return col ? { name, header: col.header, width: col.width } : undefined;
}

/** Each VM as list rows see it: fake fields (type, ram) included. */
function rows(vms: Record<string, unknown>[], fields: string[]): Record<string, unknown>[] {
  return vms.map((vm) => {
    const row: Record<string, unknown> = {};
    for (const f of fields) row[f] = listValue(vm, f);
    return row;
  });
}

async function list(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'pHho:s:', USAGE);
  const filters = p.rest.map((a) => parseFilter(a, isFilterKey));
  const order = resolveFields(last(p, 'o') ?? DEFAULT_ORDER, describeField, 'order');
  const sortSpec = last(p, 's') ?? DEFAULT_SORT;
  const sortFields = resolveFields(sortSpec, describeField, 'sort');
  const vms = (await core().list()).filter((vm) => matchesAll(vm, filters));
  const names = [...new Set([...order, ...sortFields].map((f) => f.name))];
  const sorted = sortVms(rows(vms, names), sortSpec);
  io.stdout.write(
    formatVmList(sorted, order, { parsable: has(p, 'p'), header: !has(p, 'H') && !has(p, 'p') }),
  );
  return 0;
}

async function lookup(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'j1o:', USAGE);
  const filters = p.rest.map((a) => parseFilter(a, isFilterKey, 'lookup'));
  const fields = last(p, 'o')?.split(',');
  if (fields && !has(p, 'j')) throw new ZonixError('EINVAL', 'Cannot specify -o without -j');
  const vms = (await core().list()).filter((vm) => matchesAll(vm, filters));
  if (has(p, '1') && vms.length !== 1)
    throw new ZonixError('EINVAL', `Requested unique lookup but found ${vms.length} results.`);
  if (has(p, 'j')) {
    const out = fields
      ? vms.map((vm) => Object.fromEntries(fields.filter((f) => f in vm).map((f) => [f, vm[f]])))
      : vms;
    io.stdout.write(JSON.stringify(out, null, 2) + '\n');
  } else io.stdout.write(vms.map((vm) => `${vm.uuid}\n`).join(''));
  return 0;
}
