/**
 * A client for the registry HTTP API v2 (distribution): the `/v2/` probe, Bearer and Basic auth,
 * manifests by tag or digest (verified), and blobs streamed to disk with their sha256 checked on the way.
 * Plain http for loopback registries and those marked insecure, https otherwise.
 * @module
 */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { basicAuthorization, fetchBearerToken, parseChallenges, type Credentials } from './auth.ts';
import { DigestStream, isSha256Digest, mismatch, sha256Digest, verifyBuffer } from './digest.ts';
import { OciError } from './errors.ts';
import {
  MANIFEST_ACCEPT,
  parseManifest,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
} from './manifest.ts';
import { formatReference, isLoopbackRegistry, registryHost, type ImageReference } from './reference.ts';

export interface RegistryOptions {
  /** Speak plain http to this registry even though it is not on a loopback address. */
  insecure?: boolean;
  username?: string;
  password?: string;
  /** Limit for each request up to its headers, and for manifest and config bodies (default 30 s). */
  timeoutMs?: number;
  /** A blob download fails when no data arrives for this long (default 60 s). */
  idleTimeoutMs?: number;
}

export interface FetchedManifest {
  /** sha256 of the bytes as served. */
  digest: string;
  mediaType: string;
  manifest: ImageManifest | ImageIndex;
}

type Kind = 'ping' | 'manifest' | 'blob';

const MAX_REDIRECTS = 5;
const MAX_MANIFEST_BYTES = 4 << 20;
const MAX_CONFIG_BYTES = 16 << 20;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** The registry's own error text from a `{"errors":[{"code","message","detail"}]}` body, if any. */
async function registryDetail(res: Response): Promise<string> {
  let text: string;
  try {
    text = await res.text();
  } catch {
    return '';
  }
  try {
    const body = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] };
    const parts = (body.errors ?? []).map((e) =>
      [e.code, e.message].filter((x): x is string => typeof x === 'string' && x !== '').join(': '),
    );
    return parts.filter(Boolean).join('; ');
  } catch {
    return text.trim().slice(0, 200);
  }
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

function causeText(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code && !cause.message.includes(code) ? `${code}: ${cause.message}` : cause.message;
  }
  return String(cause);
}

export class RegistryClient {
  readonly ref: ImageReference;
  /** `https://registry-1.docker.io`, `http://127.0.0.1:5000`. */
  readonly baseUrl: string;
  /** The reference as the user sees it, for messages. */
  readonly what: string;
  private readonly origin: string;
  private readonly credentials: Credentials | undefined;
  private readonly timeoutMs: number;
  private readonly idleTimeoutMs: number;
  private authorization: string | undefined;
  /** The auth scheme the registry last asked for. */
  private challenged: 'bearer' | 'basic' | undefined;

  constructor(ref: ImageReference, opts: RegistryOptions = {}) {
    this.ref = ref;
    const host = registryHost(ref);
    const scheme = opts.insecure || isLoopbackRegistry(host) ? 'http' : 'https';
    this.baseUrl = `${scheme}://${host}`;
    this.origin = new URL(this.baseUrl).origin;
    this.what = formatReference(ref);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
    if (opts.username !== undefined || opts.password !== undefined)
      this.credentials = { username: opts.username ?? '', password: opts.password ?? '' };
  }

  /** `GET /v2/`: resolves when the registry answers and accepts us (authenticating if it asks). */
  async ping(): Promise<void> {
    const res = await this.send(
      `${this.baseUrl}/v2/`,
      'ping',
      undefined,
      AbortSignal.timeout(this.timeoutMs),
    );
    if (!res.ok) throw await this.failure(res, 'ping');
    await res.body?.cancel();
  }

  /**
   * Fetch a manifest or manifest list by tag or digest. By digest, the bytes must hash to it; by tag,
   * they must match the `Docker-Content-Digest` the registry sends (when it sends a sha256 one).
   */
  async getManifest(tagOrDigest: string): Promise<FetchedManifest> {
    const byDigest = tagOrDigest.includes(':');
    const what = byDigest ? `manifest ${tagOrDigest} of ${this.what}` : `manifest of ${this.what}`;
    const url = `${this.baseUrl}/v2/${this.ref.path}/manifests/${tagOrDigest}`;
    const signal = AbortSignal.timeout(this.timeoutMs);
    const res = await this.send(url, 'manifest', MANIFEST_ACCEPT, signal);
    if (!res.ok) throw await this.failure(res, 'manifest', tagOrDigest);
    const body = await this.readBody(res, MAX_MANIFEST_BYTES, what);
    const digest = sha256Digest(body);
    if (byDigest && digest !== tagOrDigest) throw mismatch(what, tagOrDigest, digest);
    const served = res.headers.get('docker-content-digest');
    if (!byDigest && served && isSha256Digest(served) && served !== digest)
      throw mismatch(what, served, digest);
    const manifest = parseManifest(body, res.headers.get('content-type') ?? undefined, what);
    return { digest, mediaType: manifest.mediaType, manifest };
  }

  /** A small blob (the image config) read into memory and verified. */
  async getBlob(desc: Descriptor, label = 'blob'): Promise<Buffer> {
    const what = `${label} ${desc.digest} of ${this.what}`;
    if (desc.size > MAX_CONFIG_BYTES)
      throw new OciError('InvalidImage', `${what}: too large (${desc.size} bytes)`);
    const signal = AbortSignal.timeout(this.timeoutMs);
    const res = await this.send(this.blobUrl(desc.digest), 'blob', undefined, signal);
    if (!res.ok) throw await this.failure(res, 'blob', desc.digest, label);
    const body = await this.readBody(res, MAX_CONFIG_BYTES, what);
    verifyBuffer(body, desc.digest, what);
    if (body.length !== desc.size)
      throw new OciError(
        'DigestMismatch',
        `${what}: size mismatch: expected ${desc.size} bytes, got ${body.length}`,
      );
    return body;
  }

  /** Stream a blob (a layer) into `file`, checking its sha256 and size as it arrives. */
  async downloadBlob(
    desc: Descriptor,
    file: string,
    onBytes?: (bytes: number) => void,
    label = 'layer',
  ): Promise<void> {
    const what = `${label} ${desc.digest} of ${this.what}`;
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(
        () => abort.abort(new Error(`no data for ${this.idleTimeoutMs} ms`)),
        this.idleTimeoutMs,
      );
    };
    arm();
    try {
      const res = await this.send(this.blobUrl(desc.digest), 'blob', undefined, abort.signal);
      if (!res.ok) throw await this.failure(res, 'blob', desc.digest, label);
      if (!res.body) throw new OciError('RegistryServerError', `${what}: empty response`);
      const verify = new DigestStream({
        expected: desc.digest,
        size: desc.size,
        what,
        onBytes: (n) => {
          arm();
          onBytes?.(n);
        },
      });
      const source = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
      await pipeline(source, verify, createWriteStream(file)).catch((err: unknown) => {
        if (err instanceof OciError) throw err;
        // Our own disk (full, read-only) is not the registry's fault.
        const syscall = (err as NodeJS.ErrnoException).syscall;
        if (syscall === 'open' || syscall === 'write') throw err;
        throw new OciError(
          'RegistryNetworkError',
          `${what}: download failed: ${abort.signal.aborted ? `no data for ${this.idleTimeoutMs} ms` : causeText(err)}`,
          { cause: err },
        );
      });
    } finally {
      clearTimeout(timer);
    }
  }

  private blobUrl(digest: string): string {
    return `${this.baseUrl}/v2/${this.ref.path}/blobs/${digest}`;
  }

  private async readBody(res: Response, max: number, what: string): Promise<Buffer> {
    const length = Number(res.headers.get('content-length') ?? NaN);
    if (length > max) {
      await res.body?.cancel();
      throw new OciError('InvalidImage', `${what}: too large (${length} bytes)`);
    }
    let body: Buffer;
    try {
      body = Buffer.from(await res.arrayBuffer());
    } catch (err) {
      throw this.networkError(err, what);
    }
    if (body.length > max) throw new OciError('InvalidImage', `${what}: too large (${body.length} bytes)`);
    return body;
  }

  private networkError(err: unknown, what: string): OciError {
    const why = isAbort(err) ? `timed out after ${this.timeoutMs} ms` : causeText(err);
    return new OciError('RegistryNetworkError', `${what}: cannot reach registry ${this.baseUrl}: ${why}`, {
      cause: err,
    });
  }

  /** One request, following redirects itself so credentials never leave the registry's origin. */
  private async fetchFollowing(
    url: string,
    accept: string | undefined,
    signal: AbortSignal,
  ): Promise<Response> {
    let current = new URL(url);
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const headers: Record<string, string> = { 'User-Agent': 'zonix-imgadm' };
      if (accept) headers.Accept = accept;
      if (this.authorization && current.origin === this.origin) headers.Authorization = this.authorization;
      let res: Response;
      try {
        res = await fetch(current, { headers, redirect: 'manual', signal });
      } catch (err) {
        throw this.networkError(err, this.what);
      }
      const location = res.headers.get('location');
      if (!REDIRECTS.has(res.status) || !location) return res;
      await res.body?.cancel();
      current = new URL(location, current);
    }
    throw new OciError(
      'RegistryServerError',
      `${this.what}: more than ${MAX_REDIRECTS} redirects from ${url}`,
    );
  }

  /** Send, and on a 401 authenticate as the challenge asks and send once more. */
  private async send(
    url: string,
    kind: Kind,
    accept: string | undefined,
    signal: AbortSignal,
  ): Promise<Response> {
    const res = await this.fetchFollowing(url, accept, signal);
    if (res.status !== 401) return res;
    const challenges = parseChallenges(res.headers.get('www-authenticate'));
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    const had = this.authorization;
    if (bearer) {
      this.challenged = 'bearer';
      await res.body?.cancel();
      this.authorization = await fetchBearerToken({
        challenge: bearer,
        defaultScope: kind === 'ping' ? undefined : `repository:${this.ref.path}:pull`,
        credentials: this.credentials,
        what: this.what,
        signal,
      });
    } else if (basic && this.credentials && had === undefined) {
      this.challenged = 'basic';
      await res.body?.cancel();
      this.authorization = basicAuthorization(this.credentials);
    } else {
      return res;
    }
    if (this.authorization === had) return res;
    return this.fetchFollowing(url, accept, signal);
  }

  /** The error for a response that is not 2xx. */
  private async failure(res: Response, kind: Kind, target?: string, label = 'blob'): Promise<OciError> {
    const detail = await registryDetail(res);
    const said = detail ? ` (registry said: ${detail})` : '';
    const host = new URL(this.baseUrl).host;
    if (res.status === 401 || res.status === 403) {
      const why =
        res.status === 403
          ? 'access denied'
          : this.credentials
            ? 'the registry rejected the credentials'
            : this.challenged === 'bearer'
              ? 'access denied without credentials (the repository does not exist, or needs a username and password)'
              : 'the registry requires authentication (give a username and password)';
      return new OciError('RegistryUnauthorized', `unauthorized: ${this.what}: ${why}${said}`, {
        httpStatus: res.status,
      });
    }
    if (res.status === 404 && kind === 'manifest') {
      const which = target?.includes(':') ? `manifest ${target}` : `tag "${target ?? ''}"`;
      return new OciError(
        'ManifestUnknown',
        `manifest unknown: ${this.what}: ${which} not found in repository ${this.ref.path} on ${host}${said}`,
      );
    }
    if (res.status === 404 && kind === 'blob')
      return new OciError(
        'BlobUnknown',
        `blob unknown: ${label} ${target ?? ''} of ${this.what} not found on ${host}${said}`,
      );
    return new OciError(
      'RegistryServerError',
      `${this.what}: registry ${host} answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${said}`,
      { httpStatus: res.status >= 500 ? 502 : 500 },
    );
  }
}
