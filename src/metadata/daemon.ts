/**
 * zonix-metadata: the host's one metadata process. It holds a MetadataServer and takes orders on a
 * control socket (`<run dir>/zonix-metadata.sock`, root only), one JSON line each way:
 * `{"op":"serve","uuid","zonepath"}`, `{"op":"release","uuid"}`, `{"op":"resume"}`,
 * `{"op":"status"}`, `{"op":"stop"}`. It is started on demand by the VM lifecycle (the first zone
 * that starts) under a small respawner, so that a crash costs the zones one retried request; at its
 * start it serves again every zone a server before it served.
 * @module
 */
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { socketAnswers } from '../common/index.ts';
import { dirname } from 'node:path';
import { runPath } from '../platform/index.ts';
import { MetadataServer, type MetadataBackend, type ServeRecord } from './server.ts';

export const controlSocket = (): string => runPath('zonix-metadata.sock');

export interface ControlRequest {
  op: 'serve' | 'attach' | 'release' | 'resume' | 'status' | 'stop';
  uuid?: string;
  zonepath?: string;
  pid?: number;
  /** serve: a hardware guest's serial socket (see ServeRecord). */
  guestSerial?: string;
  /** serve: a hardware guest's VNC (see ServeRecord). */
  vnc?: ServeRecord['vnc'];
}

export interface ControlReply {
  ok: boolean;
  error?: string;
  served?: string[];
  pid?: number;
  rss?: number;
  heapUsed?: number;
  requests?: number;
  dropped?: number;
}

export interface DaemonOptions {
  /** Whether VM `uuid` runs (zones a crashed server served, and that still run, are served again). */
  isLive: (uuid: string) => boolean;
  /** The PID of VM `uuid`'s init, while its zone exists (a restarted server gives it a new ttyS1). */
  pidOf: (uuid: string) => number | undefined;
  log: (line: string) => void;
}

/** A metadata server serving, in this process, on the control socket. */
export interface RunningMetadata {
  /** Resolves once it stopped (told to, on the control socket or by `stop`). */
  stopped: Promise<void>;
  /** Stop serving; resolves with the zones it served then, once it stopped. */
  stop(): Promise<string[]>;
}

/** Run the metadata process until it is told to stop (or SIGTERM). */
export async function runMetadataDaemon(backend: MetadataBackend, opts: DaemonOptions): Promise<void> {
  const d = await startMetadataDaemon(backend, opts);
  const stop = () => void d.stop();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await d.stopped;
}

/**
 * Serve the metadata protocol to this host's zones from this process (zonix-metadata's, or
 * zonixd's, which hosts it while it runs), taking orders on the control socket. Throws when another
 * process serves already.
 */
export async function startMetadataDaemon(
  backend: MetadataBackend,
  opts: DaemonOptions,
): Promise<RunningMetadata> {
  const path = controlSocket();
  mkdirSync(dirname(path), { recursive: true });
  if (await socketAnswers(path)) throw new Error(`zonix-metadata is already running (${path})`);
  rmSync(path, { force: true });
  const md = new MetadataServer(backend);
  const resumed = await md.resume(opts.isLive, opts.pidOf);
  if (resumed.length) opts.log(`serving again ${resumed.length} zone(s): ${resumed.join(' ')}`);
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const handle = async (req: ControlRequest): Promise<ControlReply> => {
    switch (req.op) {
      case 'serve':
        await md.serve({
          uuid: String(req.uuid),
          zonepath: String(req.zonepath),
          ...(typeof req.guestSerial === 'string' ? { guestSerial: req.guestSerial } : {}),
          ...(req.vnc && typeof req.vnc.socket === 'string' ? { vnc: req.vnc } : {}),
        });
        return { ok: true };
      case 'attach':
        await md.attach(String(req.uuid), Number(req.pid));
        return { ok: true };
      case 'release':
        await md.release(String(req.uuid));
        return { ok: true };
      case 'resume':
        await md.resume(opts.isLive, opts.pidOf);
        return { ok: true, served: md.served() };
      case 'status': {
        const m = process.memoryUsage();
        return {
          ok: true,
          served: md.served(),
          pid: process.pid,
          rss: m.rss,
          heapUsed: m.heapUsed,
          requests: md.requests,
          dropped: md.dropped,
        };
      }
      case 'stop':
        stop();
        return { ok: true };
      default:
        return { ok: false, error: `unknown op ${String((req as { op?: unknown }).op)}` };
    }
  };
  const control = createServer((s: Socket) => {
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      if (buf.length > 65536) s.destroy();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let req: ControlRequest;
        try {
          req = JSON.parse(line) as ControlRequest;
        } catch {
          s.write(JSON.stringify({ ok: false, error: 'not JSON' }) + '\n');
          continue;
        }
        handle(req).then(
          (r) => s.write(JSON.stringify(r) + '\n'),
          (err: unknown) =>
            s.write(
              JSON.stringify({ ok: false, error: err instanceof Error ? err.message : String(err) }) + '\n',
            ),
        );
      }
    });
    s.on('error', () => s.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    control.once('error', reject);
    control.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  opts.log(`serving, control socket ${path} (pid ${process.pid})`);
  let servedAtStop: string[] = [];
  let over = false;
  const done = stopped.then(async () => {
    over = true;
    servedAtStop = md.served();
    control.close();
    await md.close();
    rmSync(path, { force: true });
    opts.log('stopped');
  });
  return {
    stopped: done,
    stop: async () => {
      // Stopped already (told to on the control socket): it served nothing when this was called.
      const already = over;
      stop();
      await done;
      return already ? [] : servedAtStop;
    },
  };
}
