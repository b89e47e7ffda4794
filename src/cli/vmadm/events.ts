/**
 * `vmadm events [-f] [-j] [-r] [uuid]`: the VMs' create, modify and delete events as they happen,
 * until interrupted (SIGINT or SIGTERM end it with exit 0, as does a reader of stdout that goes away,
 * or, run by zonixd, the client going away).
 * `-j` prints each event as one JSON object per line, `-f` full dates and zonenames, `-r` a line once
 * the stream is ready.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { UsageError } from '../../common/index.ts';
import { formatEvent, formatReady } from '../../vm/index.ts';
import { getopt, has } from '../getopt.ts';
import { host, USAGE, uuidArg, type Io } from './common.ts';

export async function events(args: string[], io: Io): Promise<number> {
  // Flags may come before or after the UUID, as SmartOS's option parser allows.
  const operands = args.filter((a) => !a.startsWith('-'));
  const p = getopt(
    args.filter((a) => a.startsWith('-')),
    'fjr',
    USAGE,
  );
  if (operands.length > 1) throw new UsageError('Invalid or missing UUID for events', USAGE);
  const uuid = operands.length ? uuidArg(operands, 'events') : undefined;
  const full = has(p, 'f');
  const json = has(p, 'j');
  const out = (line: string) => io.stdout.write(`${line}\n`);
  let stop: (code: number) => void = () => undefined;
  let fail: (err: Error) => void = () => undefined;
  const ended = new Promise<number>((resolve, reject) => {
    stop = resolve;
    fail = reject;
  });
  const watcher = await host().watch({
    ...(uuid ? { uuid } : {}),
    onEvent: (ev) => {
      if (json) out(JSON.stringify(ev));
      else for (const line of formatEvent(ev, { full })) out(line);
    },
    onError: (err) => fail(err),
  });
  const interrupted = () => stop(0);
  // Run by zonixd, the stream ends when the client goes or zonixd stops; run in its own process,
  // when the process is interrupted.
  const signal = io.until;
  if (signal) signal.addEventListener('abort', interrupted, { once: true });
  else {
    process.once('SIGINT', interrupted);
    process.once('SIGTERM', interrupted);
  }
  try {
    const vms = await watcher.start();
    if (has(p, 'r')) {
      const date = new Date();
      const id = randomUUID();
      if (json) {
        const byName = Object.fromEntries(
          vms.map((vm) => [typeof vm.zonename === 'string' ? vm.zonename : vm.uuid, vm]),
        );
        out(JSON.stringify({ type: 'ready', date, uuid: id, vms: byName }));
      } else out(formatReady(date, id, { full }));
    }
    return await ended;
  } finally {
    watcher.close();
    signal?.removeEventListener('abort', interrupted);
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
}
