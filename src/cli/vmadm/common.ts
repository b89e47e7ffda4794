/**
 * What the vmadm subcommands share: the usage text, stdio, UUID operands, JSON payloads and the VM
 * core of the pool a command works on.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError, ZonixError } from '../../common/index.ts';
import { defaultHost, type Host } from '../../host/index.ts';

export { USAGE, uuidArg } from './usage.ts';
import { USAGE } from './usage.ts';

export { processIo, writeOut, type Io } from './io.ts';
import type { Io } from './io.ts';

/** The host every vmadm command works through (one per process). */
export function host(): Host {
  return defaultHost();
}

/** The JSON payload from -f FILE, or stdin (refused when it is a terminal). */
export async function readPayload(file: string | undefined, io: Io, cmd: string): Promise<unknown> {
  let text: string;
  if (file !== undefined && file !== '-') {
    const path = resolve(io.cwd ?? '.', file);
    if (!existsSync(path)) throw new ZonixError('ENOENT', `File: ${file} does not exist.`);
    text = readFileSync(path, 'utf8');
  } else {
    if (io.stdin.isTTY) throw new UsageError(`Will not ${cmd} from stdin when stdin is a tty.`, USAGE);
    text = io.readInput ? await io.readInput() : readFileSync(0, 'utf8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ZonixError('EINVAL', `Invalid JSON payload: ${(err as Error).message}`);
  }
}

/** Success messages go to stderr, as on SmartOS. */
export const say = (io: Io, msg: string) => io.stderr.write(`${msg}\n`);

/** Run an operation; "already in that state" is no failure: its message, and exit 0. */
export async function idempotent(io: Io, fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (err) {
    if (err instanceof ZonixError && err.exitCode === 0) {
      say(io, err.message);
      return false;
    }
    throw err;
  }
}
