/**
 * A read-only IMGAPI server over any `ImgapiProvider`: `GET /ping`, `GET /images`,
 * `GET /images/:uuid`, `GET /images/:uuid/file`, and their `HEAD`s. Errors are `{code, message}`
 * JSON; a failing provider gives a 500, never a crashed process.
 * @module
 */
import http from 'node:http';
import { pipeline } from 'node:stream';
import { RestError, invalidParam, notFound } from './errors.ts';
import { UUID_RE, parseListQuery, selectManifests } from './list-query.ts';
import type { ImageManifest, ImgapiProvider } from './types.ts';

export interface ImgapiServerOptions {
  /** Reported by `GET /ping`; default `1.0.0`. */
  version?: string;
  /** Called with unexpected failures (provider errors, broken file streams); default: ignore. */
  onError?: (err: unknown) => void;
}

type Route =
  { kind: 'ping' } | { kind: 'list' } | { kind: 'image'; uuid: string } | { kind: 'file'; uuid: string };

interface Ctx {
  provider: ImgapiProvider;
  version: string;
  onError: (err: unknown) => void;
}

const JSON_TYPE = 'application/json';

function sendJson(req: http.IncomingMessage, res: http.ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': data.length });
  res.end(req.method === 'HEAD' ? undefined : data);
}

function checkUuid(raw: string): string {
  let uuid: string;
  try {
    uuid = decodeURIComponent(raw);
  } catch {
    uuid = raw;
  }
  if (!UUID_RE.test(uuid)) throw invalidParam('uuid', `invalid image uuid: "${uuid}"`);
  return uuid.toLowerCase();
}

/** The route for `path` (uuids still raw), or a 404 `ResourceNotFound`. */
function route(path: string): Route {
  const parts = path.split('/').filter((p) => p !== '');
  const [top, id, sub] = parts;
  if (parts.length === 1 && top === 'ping') return { kind: 'ping' };
  if (top === 'images') {
    if (parts.length === 1) return { kind: 'list' };
    if (id !== undefined && parts.length === 2) return { kind: 'image', uuid: id };
    if (id !== undefined && parts.length === 3 && sub === 'file') return { kind: 'file', uuid: id };
  }
  throw notFound(`${path} does not exist`);
}

async function manifestOr404(ctx: Ctx, uuid: string): Promise<ImageManifest> {
  const m = await ctx.provider.getManifest(uuid);
  if (!m) throw notFound(`image ${uuid} not found`);
  return m;
}

async function listImages(ctx: Ctx, params: URLSearchParams): Promise<ImageManifest[]> {
  const q = parseListQuery(params);
  const all = await ctx.provider.listManifests();
  const marker = q.marker;
  const markerImage =
    marker && 'uuid' in marker
      ? (all.find((m) => m.uuid === marker.uuid) ?? (await manifestOr404(ctx, marker.uuid)))
      : undefined;
  return selectManifests(all, q, markerImage);
}

async function sendFile(
  ctx: Ctx,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  args: { uuid: string; params: URLSearchParams },
): Promise<void> {
  const m = await manifestOr404(ctx, args.uuid);
  const index = args.params.get('index') ?? '0';
  if (!/^\d+$/.test(index)) throw invalidParam('index', `invalid file index: "${index}"`);
  // A provider serves one file per image.
  const file = Number(index) === 0 ? await ctx.provider.openFile(m.uuid) : undefined;
  if (!file) throw notFound(`image ${args.uuid} has no file at index ${Number(index)}`);
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.size });
  if (req.method === 'HEAD') {
    file.stream.destroy();
    res.end();
    return;
  }
  // pipeline destroys the provider's stream when the client goes away, and the response (so the
  // client sees a broken download) when the provider's stream fails.
  pipeline(file.stream, res, (err) => {
    if (err && !CLIENT_GONE.has(err.code ?? '')) ctx.onError(err);
  });
}

/** pipeline errors that only mean the client left before the end. */
const CLIENT_GONE = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED', 'ECONNRESET', 'EPIPE']);

async function handle(ctx: Ctx, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const r = route(path);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    throw new RestError(405, 'BadMethod', `${req.method ?? ''} is not allowed`);
  }
  switch (r.kind) {
    case 'ping':
      sendJson(req, res, 200, { ping: 'pong', version: ctx.version, imgapi: true, pid: process.pid });
      return;
    case 'list':
      sendJson(req, res, 200, await listImages(ctx, params));
      return;
    case 'image':
      sendJson(req, res, 200, await manifestOr404(ctx, checkUuid(r.uuid)));
      return;
    case 'file':
      await sendFile(ctx, req, res, { uuid: checkUuid(r.uuid), params });
      return;
  }
}

function sendError(ctx: Ctx, req: http.IncomingMessage, res: http.ServerResponse, err: unknown): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  if (err instanceof RestError) {
    sendJson(req, res, err.httpStatus, err.toJSON());
    return;
  }
  ctx.onError(err);
  sendJson(req, res, 500, { code: 'InternalError', message: 'internal error' });
}

/** An IMGAPI server over `provider`; call `listen()` on it. */
export function createImgapiServer(provider: ImgapiProvider, opts: ImgapiServerOptions = {}): http.Server {
  const ctx: Ctx = {
    provider,
    version: opts.version ?? '1.0.0',
    onError: opts.onError ?? (() => undefined),
  };
  return http.createServer((req, res) => {
    handle(ctx, req, res).catch((err: unknown) => {
      try {
        sendError(ctx, req, res, err);
      } catch (e) {
        ctx.onError(e);
        res.destroy();
      }
    });
  });
}
