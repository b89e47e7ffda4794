/**
 * Real registries for the OCI tests: Debian's `docker-registry` (distribution v2) on 127.0.0.1 with a
 * storage directory, optionally behind htpasswd (Basic) or token (Bearer) auth, plus a tiny token server,
 * and builders for layer tars and OCI image layouts with correct digests.
 * @module
 */
import {
  createHash,
  createPrivateKey,
  randomBytes,
  sign,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { findTool, run, spawnStream, type StreamProcess } from '../../src/platform/index.ts';

export function missingTools(tools: string[]): string[] {
  return tools.filter((t) => findTool(t) === undefined);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

// ---------------------------------------------------------------------------------------------------
// The registry

export type RegistryAuth =
  | { kind: 'none' }
  | { kind: 'htpasswd'; file: string }
  | { kind: 'token'; realm: string; service: string; issuer: string; certFile: string };

export interface Registry {
  port: number;
  host: string;
  pid: number;
  stop: () => Promise<void>;
  log: () => string;
}

export async function startRegistry(opts: {
  dir: string;
  storage: string;
  auth: RegistryAuth;
  readonly?: boolean;
}): Promise<Registry> {
  const port = await freePort();
  const auth =
    opts.auth.kind === 'htpasswd'
      ? { htpasswd: { realm: 'zonix-test', path: opts.auth.file } }
      : opts.auth.kind === 'token'
        ? {
            token: {
              realm: opts.auth.realm,
              service: opts.auth.service,
              issuer: opts.auth.issuer,
              rootcertbundle: opts.auth.certFile,
            },
          }
        : undefined;
  // YAML is a superset of JSON, and the registry reads YAML.
  const config = {
    version: '0.1',
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: opts.storage },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false }, readonly: { enabled: opts.readonly ?? false } },
    },
    http: { addr: `127.0.0.1:${port}`, secret: randomBytes(16).toString('hex') },
    ...(auth ? { auth } : {}),
  };
  const cfgFile = join(opts.dir, `registry-${port}.yml`);
  await writeFile(cfgFile, JSON.stringify(config, null, 2));
  const proc: StreamProcess = spawnStream('docker-registry', ['serve', cfgFile], { stdout: 'ignore' });
  const stderr: Buffer[] = [];
  proc.child.stderr?.on('data', (d: Buffer) => stderr.push(d));
  let exited = false;
  const settled = proc.done.then(
    () => undefined,
    () => undefined,
  );
  void settled.then(() => (exited = true));
  const log = () => Buffer.concat(stderr).toString('utf8');
  const stop = async () => {
    if (exited) return;
    proc.child.kill('SIGTERM');
    const timer = setTimeout(() => proc.child.kill('SIGKILL'), 3000);
    await settled;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited) throw new Error(`docker-registry exited at start:\n${log()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`);
      await res.body?.cancel();
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`docker-registry did not start on port ${port}:\n${log()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { port, host: `127.0.0.1:${port}`, pid: proc.child.pid ?? -1, stop, log };
}

/** An htpasswd line (bcrypt, which is all the registry accepts), made with perl's crypt(3) (libxcrypt). */
export async function htpasswdLine(user: string, password: string): Promise<string> {
  const alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const salt = Array.from(randomBytes(22), (b) => alphabet[b % 64]).join('');
  const { stdout } = await run('perl', ['-e', 'print crypt($ARGV[0], $ARGV[1])', password, `$2b$05$${salt}`]);
  if (!stdout.startsWith('$2b$')) throw new Error(`crypt(3) has no bcrypt here: ${stdout}`);
  return `${user}:${stdout}\n`;
}

// ---------------------------------------------------------------------------------------------------
// A token server (the docker token protocol) signing ES256 JWTs with a self-signed certificate

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
  /** Token requests seen, for assertions. */
  requests: { scope: string[]; user: string | undefined }[];
  close: () => Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function makeJwt(key: KeyObject, certDer: Buffer, claims: Record<string, unknown>): string {
  const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] };
  const payload = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = sign('sha256', Buffer.from(payload), { key, dsaEncoding: 'ieee-p1363' });
  return `${payload}.${b64url(sig)}`;
}

export async function startTokenServer(dir: string, users: Record<string, string>): Promise<TokenServer> {
  const keyFile = join(dir, 'token.key');
  const certFile = join(dir, 'token.crt');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=zonix-test-token',
  ]); // prettier-ignore
  const key = createPrivateKey(await readFile(keyFile));
  const certDer = new X509Certificate(await readFile(certFile)).raw;
  const service = 'zonix-test-registry';
  const issuer = 'zonix-test-issuer';
  const requests: TokenServer['requests'] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const scope = url.searchParams.getAll('scope');
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    const [user, pass] = basic?.[1] ? Buffer.from(basic[1], 'base64').toString().split(':') : [];
    requests.push({ scope, user });
    if (user === undefined || users[user] !== pass) {
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const access = scope.flatMap((s) => {
      const [type, name, actions] = s.split(':');
      return type && name && actions ? [{ type, name, actions: actions.split(',') }] : [];
    });
    const token = makeJwt(key, certDer, {
      iss: issuer,
      sub: user,
      aud: service,
      exp: now + 600,
      nbf: now - 30,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access,
    });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 600 }));
  });
  const port = await listen(server);
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    requests,
    close: () => closeServer(server),
  };
}

export function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

export function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

// ---------------------------------------------------------------------------------------------------
// Building images

export type LayerCompression = 'gzip' | 'zstd' | 'none';

export interface BuiltLayer {
  /** The blob as stored (compressed or not). */
  file: string;
  /** The uncompressed tar. */
  tar: string;
  digest: string;
  diffId: string;
  size: number;
  mediaType: string;
}

const LAYER_TYPES: Record<LayerCompression, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar',
};

/** Tar up `members` of `dir` (GNU tar, numeric owners; default the whole dir) and compress it. */
export async function buildLayer(
  dir: string,
  out: string,
  compression: LayerCompression,
  members: string[] = ['.'],
): Promise<BuiltLayer> {
  const tar = `${out}.tar`;
  await run('tar', ['-C', dir, '--numeric-owner', '--xattrs', '--sort=name', '-cf', tar, ...members]);
  const diffId = sha256(await readFile(tar));
  let file = tar;
  if (compression === 'gzip') {
    await run('gzip', ['-n', '-k', '-f', tar]);
    file = `${tar}.gz`;
  } else if (compression === 'zstd') {
    await run('zstd', ['-q', '-f', '-k', tar, '-o', `${tar}.zst`]);
    file = `${tar}.zst`;
  }
  const body = await readFile(file);
  return { file, tar, digest: sha256(body), diffId, size: body.length, mediaType: LAYER_TYPES[compression] };
}

export interface ImageSpec {
  layers: BuiltLayer[];
  architecture?: string;
  config?: Record<string, unknown>;
  annotations?: Record<string, string>;
}

export interface Blob {
  digest: string;
  size: number;
  mediaType: string;
}

async function putBlob(layout: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const dir = join(layout, 'blobs', 'sha256');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, digest.slice(7)), data);
  return digest;
}

async function putJson(layout: string, mediaType: string, doc: unknown): Promise<Blob> {
  const data = Buffer.from(JSON.stringify(doc));
  return { digest: await putBlob(layout, data), size: data.length, mediaType };
}

/** Write one image (layers, config, manifest) into an OCI layout's blobs; returns the manifest. */
export async function writeImage(layout: string, spec: ImageSpec): Promise<{ manifest: Blob; config: Blob }> {
  for (const l of spec.layers) await putBlob(layout, await readFile(l.file));
  const config = await putJson(layout, 'application/vnd.oci.image.config.v1+json', {
    created: '2024-05-01T12:00:00Z',
    architecture: spec.architecture ?? 'amd64',
    os: 'linux',
    config: spec.config ?? {},
    rootfs: { type: 'layers', diff_ids: spec.layers.map((l) => l.diffId) },
    history: spec.layers.map(() => ({ created_by: 'zonix test' })),
  });
  const manifest = await putJson(layout, 'application/vnd.oci.image.manifest.v1+json', {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: spec.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
  });
  return { manifest, config };
}

/** An OCI index (manifest list) blob over images for several platforms. */
export async function writeIndex(
  layout: string,
  entries: { manifest: Blob; architecture: string; variant?: string }[],
): Promise<Blob> {
  return putJson(layout, 'application/vnd.oci.image.index.v1+json', {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: entries.map((e) => ({
      mediaType: e.manifest.mediaType,
      digest: e.manifest.digest,
      size: e.manifest.size,
      platform: { os: 'linux', architecture: e.architecture, ...(e.variant ? { variant: e.variant } : {}) },
    })),
  });
}

/** Write oci-layout and index.json naming each entry (`org.opencontainers.image.ref.name`). */
export async function writeLayoutIndex(layout: string, refs: { name: string; blob: Blob }[]): Promise<void> {
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: refs.map((r) => ({
        mediaType: r.blob.mediaType,
        digest: r.blob.digest,
        size: r.blob.size,
        annotations: { 'org.opencontainers.image.ref.name': r.name },
      })),
    }),
  );
}

/**
 * Push an image from an OCI layout through the registry API, byte for byte (skopeo would gzip the
 * uncompressed layers): monolithic blob uploads, then the manifest.
 */
export async function pushExact(
  host: string,
  repo: string,
  tag: string,
  layout: string,
  manifest: Blob,
): Promise<void> {
  const blob = (digest: string) => readFile(join(layout, 'blobs', 'sha256', digest.slice(7)));
  const doc = JSON.parse((await blob(manifest.digest)).toString()) as {
    config: { digest: string };
    layers: { digest: string }[];
  };
  for (const digest of [doc.config.digest, ...doc.layers.map((l) => l.digest)]) {
    const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    await start.body?.cancel();
    const location = start.headers.get('location');
    if (start.status !== 202 || !location) throw new Error(`upload start: HTTP ${start.status}`);
    const url = new URL(location, `http://${host}`);
    url.searchParams.set('digest', digest);
    const done = await fetch(url, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: await blob(digest),
    });
    await done.body?.cancel();
    if (done.status !== 201) throw new Error(`upload ${digest}: HTTP ${done.status}`);
  }
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'Content-Type': manifest.mediaType },
    body: await blob(manifest.digest),
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`manifest ${repo}:${tag}: HTTP ${res.status} ${text}`);
  if (res.headers.get('docker-content-digest') !== manifest.digest)
    throw new Error('manifest digest changed');
}

// ---------------------------------------------------------------------------------------------------
// Looking at a rootfs

/** Every path under `root` with its type, sorted: `etc/ d`, `etc/hostname f`, `lnk l`, `dev/null c`. */
export async function listTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    for (const name of await readdir(dir)) {
      const p = join(dir, name);
      const st = await lstat(p);
      const rel = relative(root, p);
      const t = st.isDirectory()
        ? 'd'
        : st.isSymbolicLink()
          ? 'l'
          : st.isCharacterDevice()
            ? 'c'
            : st.isBlockDevice()
              ? 'b'
              : st.isFIFO()
                ? 'p'
                : 'f';
      out.push(`${rel} ${t}`);
      if (t === 'd') await walk(p);
    }
  };
  await walk(root);
  return out.sort();
}
