/**
 * The VM lifecycle's side of zonix-metadata: ask it to serve or release a zone, starting it (under
 * its respawner, in its own session) when none runs.
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive, ZonixError } from '../common/index.ts';
import { platformRoot, runPath } from '../platform/index.ts';
import {
  controlSocket,
  startMetadataDaemon,
  type ControlReply,
  type ControlRequest,
  type DaemonOptions,
  type RunningMetadata,
} from './daemon.ts';
import type { MetadataBackend } from './server.ts';

const TIMEOUT_MS = 10_000;

/** One request on the control socket; undefined when nothing listens there. */
export function ask(req: ControlRequest, timeoutMs = TIMEOUT_MS): Promise<ControlReply | undefined> {
  return new Promise((resolve, reject) => {
    const s = connect(controlSocket());
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new ZonixError('ETIMEDOUT', `zonix-metadata did not answer ${req.op} in ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.once('connect', () => s.write(JSON.stringify(req) + '\n'));
    s.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      s.destroy();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as ControlReply);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(undefined);
      else reject(err);
    });
  });
}

/** Where the built metadata process and its respawner are. */
function programs(): { respawn: string; daemon: string } {
  const root = platformRoot();
  return { respawn: join(root, 'dist', 'zonix-respawn'), daemon: join(root, 'bin', 'zonix-metadata') };
}

let starting: Promise<void> | undefined;

/** Start zonix-metadata unless one answers; resolves once it does. */
export function ensureDaemon(): Promise<void> {
  starting ??= (async () => {
    try {
      if (await ask({ op: 'status' })) return;
      const { respawn, daemon } = programs();
      if (!existsSync(join(platformRoot(), 'dist', 'zonix-metadata.cjs')))
        throw new ZonixError('ENOENT', 'zonix-metadata is not built (run npm run build)');
      mkdirSync(runPath(), { recursive: true });
      const log = openSync(runPath('zonix-metadata.log'), 'a');
      // Under the respawner when it was built (a crash is then a one-second gap), else alone.
      const [cmd, args] = existsSync(respawn)
        ? [respawn, [process.execPath, daemon]]
        : [process.execPath, [daemon]];
      const child = spawn(cmd, args, { detached: true, stdio: ['ignore', log, log], env: process.env });
      child.unref();
      closeSync(log);
      for (let i = 0; i < 100; i++) {
        if (await ask({ op: 'status' }).catch(() => undefined)) return;
        await sleep(50);
      }
      throw new ZonixError(
        'ETIMEDOUT',
        `zonix-metadata did not start (see ${runPath('zonix-metadata.log')})`,
      );
    } finally {
      starting = undefined;
    }
  })();
  return starting;
}

/** A request that must be carried out: the process is started for it when none runs. */
export async function order(req: ControlRequest): Promise<ControlReply> {
  let reply = await ask(req);
  if (!reply) {
    await ensureDaemon();
    reply = await ask(req);
  }
  if (!reply) throw new ZonixError('ECONNREFUSED', 'zonix-metadata does not answer');
  if (!reply.ok) throw new ZonixError('EIO', `zonix-metadata: ${reply.error ?? 'failed'}`);
  return reply;
}

/**
 * Serve the host's zones from this process (zonixd hosts the metadata server while it runs): a
 * zonix-metadata that serves now is told to stop and waited for, then this process serves every
 * running zone again from their folders (a client in a zone sees one retried request). Undone with
 * `handBack`.
 */
export async function serveHere(backend: MetadataBackend, opts: DaemonOptions): Promise<RunningMetadata> {
  for (let attempt = 1; ; attempt++) {
    const r = await ask({ op: 'status' }, 3000).catch(() => undefined);
    if (r?.pid && r.pid !== process.pid) {
      await ask({ op: 'stop' }, 3000).catch(() => undefined);
      for (let i = 0; i < 100 && processAlive(r.pid); i++) await sleep(50);
      opts.log(`took over from zonix-metadata (pid ${r.pid})`);
    }
    try {
      return await startMetadataDaemon(backend, opts);
    } catch (err) {
      // A zone's start brought one up again meanwhile: take over from that one.
      if (attempt >= 5 || !/already running/.test(String(err))) throw err;
    }
  }
}

/**
 * Stop serving from this process (serveHere's) and, when zones were served, give them to a
 * zonix-metadata of their own, so that they go on being served once this process has gone.
 */
export async function handBack(running: RunningMetadata): Promise<void> {
  const served = await running.stop();
  if (served.length) await ensureDaemon();
}
