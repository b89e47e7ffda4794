/**
 * `vmadm update <uuid> [-f <file>]` and `vmadm update <uuid> property=value ...`: a JSON payload (from
 * the file, or stdin when it is not a terminal) or `key=value` pairs whose values stay strings (the
 * schema coerces them by type, so `prop=null` sets the string "null" and unsets nothing). With pairs,
 * `-f` is not read, as in SmartOS.
 * @module
 */
import { UsageError } from '../../common/index.ts';
import { getopt, last } from '../getopt.ts';
import { host, readPayload, say, USAGE, uuidArg, type Io } from './common.ts';

/** `key=value` operands as an object (the first `=` splits; later ones belong to the value). */
export function parsePairs(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const arg of args) {
    const at = arg.indexOf('=');
    if (at <= 0) throw new UsageError(`Bad arguments: unable to split ${arg}`, USAGE);
    Object.defineProperty(out, arg.slice(0, at), {
      value: arg.slice(at + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

export async function update(rest: string[], io: Io): Promise<number> {
  // Flags may come before or after the operands (`update -f f <uuid>`, `update <uuid> -f f`).
  const operands: string[] = [];
  const flags: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '-f' && i + 1 < rest.length) flags.push(a, rest[++i]!);
    else if (a.startsWith('-') && a !== '-') flags.push(a);
    else operands.push(a);
  }
  const p = getopt(flags, 'f:', USAGE);
  const uuid = uuidArg(operands, 'update');
  const pairs = parsePairs(operands.slice(1));
  const payload = Object.keys(pairs).length > 0 ? pairs : await readPayload(last(p, 'f'), io, 'update');
  await host().update(uuid, payload);
  say(io, `Successfully updated VM ${uuid}`);
  return 0;
}
