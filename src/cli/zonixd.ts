/**
 * `zonixd`: the host service. It holds one Host for its whole life and
 * - runs the CLIs' commands for zonix-client over a Unix socket (see server.ts), so `vmadm create`,
 *   `stop` and `delete` cost their work rather than a Node start each;
 * - serves the HTTP API, its websockets (events, terminals), `/metrics` and the web console, on TCP
 *   (`--listen`, loopback by default; beyond loopback only with TLS) and on a Unix socket;
 * - hosts the metadata server while it runs (taking the zones over from zonix-metadata at start,
 *   handing them back when it stops);
 * - at start, finishes what a crash left and starts the VMs with autoboot set (Host.startUp), and
 *   keeps the host networks' DHCP servers up.
 * One runs per host (a lock in the run folder). Stopping it (SIGTERM, SIGINT) waits for the commands
 * and jobs under way; the zones keep running, each under its own monitor.
 * @module
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { acquireLock, UsageError, ZonixError, type FileLock } from '../common/index.ts';
import { defaultHost } from '../host/index.ts';
import { hostUuid, runPath } from '../platform/index.ts';
import { parseSize } from '../storage/index.ts';
import { buildStamp, CliServer, cliSocketPath } from './server.ts';
import { main as vmadm } from './vmadm.ts';

const USAGE = `Usage: zonixd [OPTIONS]

The Zonix host service: the HTTP API, events, metrics and the web console, the resident core the
vmadm command runs its commands in, and the host's start (autoboot). Runs in the foreground.

Options:
  --listen HOST:PORT   where the API and the console listen (default 127.0.0.1:9090); an address
                       beyond loopback needs --tls-cert and --tls-key; "none" serves only the
                       Unix socket
  --cloudapi HOST:PORT serve CloudAPI (for the triton CLI) there, at the root (default: off);
                       beyond loopback only with --tls-cert and --tls-key
  --datacenter NAME    the datacenter name CloudAPI gives (default zonix)
  --tls-cert FILE      TLS certificate (PEM) for the API and CloudAPI
  --tls-key FILE       its key (PEM)
  --token-file FILE    the token TCP clients give (Authorization: Bearer <token>); made (mode
                       0600) when missing (default ${runPath('zonixd.token')})
  --api-socket PATH    the API on a Unix socket, root's only, no token needed
                       (default ${runPath('zonixd-api.sock')})
  -s SOCKET            the socket the vmadm command uses (default ${cliSocketPath()})
  --upload-limit SIZE  the largest upload taken (a send stream to receive; 64G by default)
  --log-level LEVEL    the API's request log: fatal, error, warn, info, debug (default info)
  -h, --help           this text

Files: ${runPath('zonixd.json')} says where it listens; ${runPath('zonixd.lock')} keeps it one per host.
`;

export interface Io {
  stderr: Writable;
}

interface Listen {
  host: string;
  port: number;
}

function parseListen(text: string): Listen | undefined {
  if (text === 'none') return undefined;
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--listen: expected HOST:PORT, not '${text}'`, USAGE);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

const isLoopback = (h: string) => h === 'localhost' || h === '::1' || /^127\./.test(h);

/** The token in `path`, made (root's only) when missing. */
function token(path: string): string {
  if (existsSync(path)) {
    const t = readFileSync(path, 'utf8').trim();
    if (t.length >= 16) return t;
  }
  mkdirSync(dirname(path), { recursive: true });
  const t = randomBytes(24).toString('hex');
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${t}\n`, { mode: 0o600 });
  renameSync(tmp, path);
  return t;
}

/** The built web console: dist/web beside this bundle, or under the checkout when run from source. */
function webRoot(): string {
  const here = import.meta.dirname;
  return basename(here) === 'dist' ? join(here, 'web') : join(here, '..', '..', 'dist', 'web');
}

export async function main(argv: string[], io: Io = { stderr: process.stderr }): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        listen: { type: 'string' },
        cloudapi: { type: 'string' },
        datacenter: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'token-file': { type: 'string' },
        'api-socket': { type: 'string' },
        'log-level': { type: 'string' },
        'upload-limit': { type: 'string' },
        s: { type: 'string', short: 's' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message, USAGE);
  }
  const o = parsed.values;
  if (o.help) {
    io.stderr.write(USAGE);
    return 0;
  }
  if (parsed.positionals.length)
    throw new UsageError(`unexpected argument '${parsed.positionals[0]!}'`, USAGE);
  const listen = parseListen(o.listen ?? '127.0.0.1:9090');
  const tls = o['tls-cert'] !== undefined || o['tls-key'] !== undefined;
  if (tls && (o['tls-cert'] === undefined || o['tls-key'] === undefined))
    throw new UsageError('--tls-cert and --tls-key go together', USAGE);
  if (listen && !isLoopback(listen.host) && !tls)
    throw new UsageError(
      `listening on ${listen.host} (beyond loopback) needs TLS: give --tls-cert and --tls-key`,
      USAGE,
    );
  const cloudListen = o.cloudapi === undefined ? undefined : parseListen(o.cloudapi);
  if (cloudListen && !isLoopback(cloudListen.host) && !tls)
    throw new UsageError(
      `--cloudapi on ${cloudListen.host} (beyond loopback) needs TLS: give --tls-cert and --tls-key`,
      USAGE,
    );
  const datacenter = o.datacenter ?? 'zonix';
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/.test(datacenter))
    throw new UsageError(`--datacenter: '${datacenter}' is not a name`, USAGE);
  const level = o['log-level'] ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level))
    throw new UsageError(`--log-level: unknown level '${level}'`, USAGE);
  const uploadLimit = o['upload-limit'] === undefined ? undefined : parseSize(o['upload-limit']);
  if (
    uploadLimit === 0 ||
    Number.isNaN(uploadLimit) ||
    (o['upload-limit'] !== undefined && uploadLimit === undefined)
  )
    throw new UsageError(`--upload-limit: expected a size (such as 10G), not '${o['upload-limit']}'`, USAGE);
  const path = o.s ?? cliSocketPath();
  const apiSocket = o['api-socket'] ?? runPath('zonixd-api.sock');
  const tokenFile = o['token-file'] ?? runPath('zonixd.token');
  const log = (line: string) => io.stderr.write(`${new Date().toISOString()} zonixd: ${line}\n`);

  // One zonixd per host: a second one would serve the same pools twice.
  mkdirSync(runPath(), { recursive: true });
  let lock: FileLock;
  try {
    lock = await acquireLock(runPath('zonixd.lock'), { timeoutMs: 0 });
  } catch (err) {
    const pid = /pid (\d+)/.exec(String(err))?.[1];
    throw new ZonixError(
      'EEXIST',
      `zonixd is already running${pid ? ` (pid ${pid})` : ''} on this host: stop it first (${path})`,
    );
  }
  const server = new CliServer({ tools: { vmadm }, build: buildStamp(import.meta.dirname), log });
  let api: Awaited<ReturnType<typeof import('../api/index.ts').buildApi>> | undefined;
  let unix: NetServer | undefined;
  let cloudApp: import('fastify').FastifyInstance | undefined;
  let cloud: import('../cloud/index.ts').Cloud | undefined;
  let cloudUrl: string | undefined;
  const pidFile = `${path}.pid`;
  const stateFile = runPath('zonixd.json');
  try {
    await server.listen(path);
    // The API (fastify and the rest) loads here, not in the CLIs.
    const { buildApi } = await import('../api/index.ts');
    const { pino } = await import('pino');
    const logger = pino({ level, base: { name: 'zonixd' } }, pino.destination({ fd: 2, sync: false }));
    const tok = token(tokenFile);
    // The cloud (accounts, packages, networks): the API's networks and CloudAPI share it.
    const { Cloud, LocalCompute } = await import('../cloud/index.ts');
    const compute = new LocalCompute(defaultHost(), hostUuid);
    cloud = new Cloud(compute, datacenter);
    api = await buildApi({
      cloud,
      host: defaultHost(),
      build: buildStamp(import.meta.dirname),
      token: tok,
      webRoot: webRoot(),
      logger,
      ...(uploadLimit ? { uploadLimit } : {}),
      ...(tls ? { https: { cert: readFileSync(o['tls-cert']!), key: readFileSync(o['tls-key']!) } } : {}),
    });
    // The cloud reads the VMs through the API's watched list.
    const watched = api;
    compute.useWatchedList(
      () => watched.vms(),
      () => watched.events.generation(),
    );
    let url: string | undefined;
    if (listen) url = await api.app.listen({ host: listen.host, port: listen.port });
    else await api.app.ready();
    if (cloudListen) {
      const { buildCloudApi } = await import('../api/index.ts');
      cloudApp = await buildCloudApi({
        cloud,
        logger,
        ...(tls ? { https: { cert: readFileSync(o['tls-cert']!), key: readFileSync(o['tls-key']!) } } : {}),
      });
      cloudUrl = await cloudApp.listen({ host: cloudListen.host, port: cloudListen.port });
    }
    // The same app on a Unix socket: connections are handed to its server.
    const a = api;
    if (existsSync(apiSocket)) unlinkSync(apiSocket);
    unix = createNetServer((sock) => a.app.server.emit('connection', sock));
    await new Promise<void>((resolve, reject) => {
      unix!.once('error', reject);
      unix!.listen(apiSocket, () => resolve());
    });
    chmodSync(apiSocket, 0o600);
    writeFileSync(pidFile, `${process.pid}\n`);
    writeFileSync(
      stateFile,
      JSON.stringify({
        pid: process.pid,
        url: url ?? null,
        cloudapi_url: cloudUrl ?? null,
        api_socket: apiSocket,
        cli_socket: path,
        token_file: tokenFile,
      }) + '\n',
    );
    log(
      url ? `API and console on ${url} (token in ${tokenFile}), and on ${apiSocket}` : `API on ${apiSocket}`,
    );
    if (cloudUrl) log(`CloudAPI on ${cloudUrl} (datacenter ${datacenter})`);
  } catch (err) {
    await cloudApp?.close().catch(() => undefined);
    await api?.close().catch(() => undefined);
    await server.close();
    lock.release();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new ZonixError(
        'EADDRINUSE',
        `cannot listen on ${o.listen ?? '127.0.0.1:9090'}: the address is in use`,
      );
    throw err;
  }

  // The commands' code and the pools' records are loaded before the first client comes.
  const quiet = { write: () => true } as unknown as Writable;
  await vmadm(['list', '-p', '-o', 'uuid'], {
    stdout: quiet,
    stderr: quiet,
    stdin: new PassThrough() as unknown as NodeJS.ReadStream,
    writeAll: () => undefined,
  }).catch(() => undefined);
  // The metadata server runs here while zonixd runs (zonix-metadata hands its zones over).
  const host = defaultHost();
  const { handBackMetadata, serveMetadataHere } = await import('../metadata/index.ts');
  const md = await host.metadataBackend();
  const metadata = await serveMetadataHere(md, { ...md, log: (l) => log(`metadata: ${l}`) }).catch(
    (err: unknown) => {
      log(`metadata: not served here (zonix-metadata serves the zones): ${String(err)}`);
      return undefined;
    },
  );
  // The host's start: what a crash left is finished, VMs with autoboot set are started.
  await host.startUp(log).catch((err: unknown) => {
    if (!/no pool is imported/.test(String(err))) log(`start: ${String(err)}`);
  });
  // Said once the host's start is done (commands and requests are served meanwhile).
  log(`listening on ${path}`);
  // Supervision: host networks' DHCP servers are started again if they die.
  const every = Number(process.env.ZONIX_SUPERVISE_MS) || 10_000;
  let busy: Promise<void> | undefined;
  const tick = setInterval(() => {
    if (busy) return;
    busy = host.net
      .supervise()
      .then((names) => names.forEach((n) => log(`network ${n}: dnsmasq was gone, started again`)))
      .catch((err: unknown) => {
        // No pool yet (before `zonix boot`), or a network that cannot start: say so, try again later.
        if (!/no pool is imported/.test(String(err))) log(`supervising networks: ${String(err)}`);
      })
      .finally(() => (busy = undefined));
  }, every);
  tick.unref();
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log(`${sig}: stopping once the commands and jobs running are done`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  clearInterval(tick);
  await busy;
  const u = unix;
  const unixClosed = new Promise<void>((resolve) => u.close(() => resolve()));
  rmSync(apiSocket, { force: true });
  await cloudApp?.close();
  await cloud?.drain();
  await api.close();
  await server.close();
  await unixClosed;
  // The zones still running go on being served, by a zonix-metadata of their own.
  if (metadata) await handBackMetadata(metadata).catch((err: unknown) => log(`metadata: ${String(err)}`));
  rmSync(pidFile, { force: true });
  rmSync(stateFile, { force: true });
  lock.release();
  log('stopped');
  return 0;
}
