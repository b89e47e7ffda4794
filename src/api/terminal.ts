/**
 * Terminals over a websocket: a `zlogin` shell in the zone (under a pty of node-pty) or the zone's
 * console (its monitor's socket, as `vmadm console`). The client sends JSON messages,
 * `{"type":"input","data":"..."}` and `{"type":"resize","cols":80,"rows":24}`; the server sends what
 * the terminal writes as binary messages, and closes with 1000 when the shell ends or the zone stops
 * (the reason says which). Closing the websocket ends the shell (SIGHUP) or detaches the console.
 * @module
 */
import { createRequire } from 'node:module';
import { PassThrough, Writable } from 'node:stream';
import type { WebSocket } from '@fastify/websocket';
import type { Host } from '../host/index.ts';
import type { VmRecord } from '../vm/index.ts';

type NodePty = typeof import('node-pty');

let pty: NodePty | undefined;
function nodePty(): NodePty {
  const name = 'node-pty';
  return (pty ??= createRequire(import.meta.url)(name) as NodePty);
}

interface Message {
  type?: unknown;
  data?: unknown;
  cols?: unknown;
  rows?: unknown;
}

function parse(raw: unknown): Message | undefined {
  try {
    const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : String(raw);
    const m = JSON.parse(text) as unknown;
    return typeof m === 'object' && m !== null ? m : undefined;
  } catch {
    return undefined;
  }
}

const size = (n: unknown, dflt: number) =>
  typeof n === 'number' && Number.isInteger(n) && n > 0 && n <= 1000 ? n : dflt;

/** A shell in the running zone, until either side goes. */
export function loginTerminal(
  ws: WebSocket,
  host: Host,
  vm: VmRecord,
  opts: { cols?: number; rows?: number },
): void {
  const login = host.loginArgv(vm.uuid, [], { tty: true, env: ['TERM=xterm-256color'] });
  const term = nodePty().spawn(login.path, login.argv, {
    name: 'xterm-256color',
    cols: size(opts.cols, 80),
    rows: size(opts.rows, 24),
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', TERM: 'xterm-256color' },
  });
  let open = true;
  term.onData((d) => {
    if (ws.readyState === ws.OPEN) ws.send(Buffer.from(d, 'utf8'));
  });
  term.onExit(({ exitCode }) => {
    open = false;
    if (ws.readyState === ws.OPEN) ws.close(1000, `shell exited (${exitCode})`);
  });
  ws.on('message', (raw) => {
    const m = parse(raw);
    if (!m || !open) return;
    if (m.type === 'input' && typeof m.data === 'string') term.write(m.data);
    else if (m.type === 'resize') term.resize(size(m.cols, 80), size(m.rows, 24));
  });
  ws.on('close', () => {
    if (open) term.kill('SIGHUP');
  });
}

/** The zone's console, until either side goes (the zone keeps running). */
export async function consoleTerminal(
  ws: WebSocket,
  host: Host,
  vm: VmRecord,
  opts: { cols?: number; rows?: number },
): Promise<void> {
  const input = new PassThrough();
  const output = Object.assign(
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (ws.readyState === ws.OPEN) ws.send(chunk);
        cb();
      },
    }),
    { isTTY: true, columns: size(opts.cols, 80), rows: size(opts.rows, 24) },
  );
  ws.on('message', (raw) => {
    const m = parse(raw);
    if (m?.type === 'input' && typeof m.data === 'string') input.write(m.data);
    else if (m?.type === 'resize') {
      output.columns = size(m.cols, 80);
      output.rows = size(m.rows, 24);
      output.emit('resize');
    }
  });
  ws.on('close', () => input.end());
  // No escape sequence: the websocket's own close detaches.
  const why = await host.console(vm, { input, output, escape: { mode: 'immediate', char: -1 } });
  if (ws.readyState === ws.OPEN) ws.close(1000, why === 'closed' ? 'the zone stopped' : 'detached');
}
