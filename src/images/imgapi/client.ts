/**
 * An IMGAPI client, as imgadm uses one (sdc-clients `IMGAPI`): ping a source, list its images
 * page by page, get one manifest, download a file. Every request sends `Accept-Version: ~2` and
 * has a timeout; a download times out only when no data comes for that long.
 * @module
 */
import type { Readable } from 'node:stream';
import { causeText, downloadStream } from './download.ts';
import { ImgapiError, type ImgapiErrorCode, type RestErrorBody } from './errors.ts';
import type { ImageManifest, ImgapiPing } from './types.ts';

export interface ImgapiClientOptions {
  /** Per request (a download: per wait for data); default 30 s. */
  timeoutMs?: number;
  /** Extra request headers. */
  headers?: Record<string, string>;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** sdc-clients' page size, which is also IMGAPI's maximum. */
const PAGE_LIMIT = 1000;

interface Answer {
  status: number;
  text: string;
  url: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const isManifest = (v: unknown): v is ImageManifest => isObject(v) && typeof v.uuid === 'string';

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The server's `{code, message}`, when the body is one. */
function restBody(text: string): RestErrorBody | undefined {
  const v = parseJson(text);
  return isObject(v) && typeof v.code === 'string' && typeof v.message === 'string'
    ? { code: v.code, message: v.message }
    : undefined;
}

const isTimeout = (err: unknown) => err instanceof Error && err.name === 'TimeoutError';

export class ImgapiClient {
  /** The source URL as given. */
  readonly url: string;
  private readonly base: URL;
  private readonly timeoutMs: number;
  private readonly headers: Record<string, string>;

  constructor(url: string, opts: ImgapiClientOptions = {}) {
    this.url = url;
    this.base = ImgapiClient.parseUrl(url);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.headers = {
      accept: 'application/json',
      'accept-version': '~2',
      'user-agent': 'zonix-imgadm',
      ...opts.headers,
    };
  }

  private static parseUrl(url: string): URL {
    let u: URL | undefined;
    try {
      u = new URL(url);
    } catch {
      u = undefined;
    }
    if (u?.protocol !== 'http:' && u?.protocol !== 'https:')
      throw new ImgapiError('SourceError', `invalid image source URL: "${url}"`, { url });
    u.hash = '';
    return u;
  }

  /** `path` under the source URL, keeping the source's own query (e.g. `?channel=`). */
  private urlFor(path: string, query: Record<string, string> = {}): URL {
    const u = new URL(this.base.href);
    u.pathname = u.pathname.replace(/\/+$/, '') + path;
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    return u;
  }

  /** GET `path` and read the whole body, within the timeout; `code` is the error for no answer. */
  private async get(path: string, query?: Record<string, string>, code?: ImgapiErrorCode): Promise<Answer> {
    const url = this.urlFor(path, query);
    try {
      const res = await fetch(url, { headers: this.headers, signal: AbortSignal.timeout(this.timeoutMs) });
      return { status: res.status, text: await res.text(), url: url.href };
    } catch (err) {
      throw this.failure(code ?? 'SourceError', url.href, err);
    }
  }

  /** A request that got no (whole) answer: refused, reset, timed out. */
  private failure(code: ImgapiErrorCode, url: string, err: unknown): ImgapiError {
    const timedOut = isTimeout(err);
    const detail = `${timedOut ? `no answer within ${this.timeoutMs} ms` : causeText(err)} (GET ${url})`;
    const message = code === 'SourcePing' ? this.pingMessage(detail) : `${this.url}: ${detail}`;
    return new ImgapiError(code, message, { url, cause: err, timedOut });
  }

  /** imgadm's wording for SourcePing. */
  private pingMessage(detail: string): string {
    return `unexpected ping error with image source "${this.url}" (imgapi): ${detail}`;
  }

  /** A request the source refused: its `{code, message}`, or the bare status. */
  private refusal(code: ImgapiErrorCode, a: Answer): ImgapiError {
    const body = restBody(a.text);
    const detail = body ? body.message : `unexpected HTTP status ${a.status} (GET ${a.url})`;
    return new ImgapiError(code, `${this.url}: ${detail}`, { url: a.url, statusCode: a.status, body });
  }

  /** Check that the source is an IMGAPI: `GET /ping` must give 200 and JSON with `imgapi: true`. */
  async ping(): Promise<ImgapiPing> {
    const a = await this.get('/ping', {}, 'SourcePing');
    const pingError = (detail: string) =>
      new ImgapiError('SourcePing', this.pingMessage(`${detail} (GET ${a.url})`), {
        url: a.url,
        statusCode: a.status,
        body: restBody(a.text),
      });
    if (a.status !== 200) throw pingError(`HTTP status ${a.status}`);
    const body = parseJson(a.text);
    if (!isObject(body)) throw pingError('the answer is not a JSON object');
    if (body.imgapi !== true) throw pingError('not an IMGAPI (no "imgapi": true)');
    const ping = typeof body.ping === 'string' ? body.ping : '';
    return typeof body.version === 'string'
      ? { ping, version: body.version, imgapi: true }
      : { ping, imgapi: true };
  }

  /** One `GET /images` request. */
  private async listPage(query: Record<string, string>): Promise<ImageManifest[]> {
    const a = await this.get('/images', query);
    if (a.status !== 200) throw this.refusal('SourceError', a);
    const body = parseJson(a.text);
    if (!Array.isArray(body) || !body.every(isManifest))
      throw new ImgapiError(
        'SourceError',
        `${this.url}: invalid answer to GET /images (not a list of images)`,
        {
          url: a.url,
          statusCode: a.status,
        },
      );
    return body;
  }

  /**
   * Images matching `filters` (IMGAPI query parameters; the server defaults to `state=active`).
   * With a `limit` this is one request; without, it pages by 1000 with `marker=<last uuid>` until a
   * short page, dropping repeats, and stops when a page brings nothing new (a server that ignores
   * `marker`).
   */
  async listImages(filters: Record<string, string> = {}): Promise<ImageManifest[]> {
    if (filters.limit !== undefined) return this.listPage(filters);
    const out: ImageManifest[] = [];
    const seen = new Set<string>();
    let marker = filters.marker;
    for (;;) {
      const page = await this.listPage({ ...filters, limit: String(PAGE_LIMIT), ...(marker && { marker }) });
      let fresh = 0;
      for (const m of page) {
        // The page starts with the marker itself (IMGAPI's marker is inclusive): seen already.
        if (seen.has(m.uuid)) continue;
        seen.add(m.uuid);
        out.push(m);
        fresh++;
      }
      const last = page.at(-1);
      if (page.length < PAGE_LIMIT || fresh === 0 || !last) return out;
      marker = last.uuid;
    }
  }

  /** One image's manifest; `ImageNotFound` when the source has no such image. */
  async getImage(uuid: string): Promise<ImageManifest> {
    const a = await this.get(`/images/${encodeURIComponent(uuid)}`);
    if (a.status === 404)
      throw new ImgapiError('ImageNotFound', `image "${uuid}" was not found`, {
        url: a.url,
        statusCode: 404,
        body: restBody(a.text),
      });
    if (a.status !== 200) throw this.refusal('SourceError', a);
    const body = parseJson(a.text);
    if (!isManifest(body))
      throw new ImgapiError('SourceError', `${this.url}: invalid answer to GET /images/${uuid}`, {
        url: a.url,
        statusCode: a.status,
      });
    return body;
  }

  /**
   * Stream an image's file (`index` for images with more than one). Errors before the body are
   * thrown as `DownloadError`; after, the stream is destroyed with one. `size` is Content-Length.
   * Check sha1 and size against the manifest: this does not.
   */
  async getImageFile(uuid: string, index?: number): Promise<{ stream: Readable; size?: number }> {
    const url = this.urlFor(
      `/images/${encodeURIComponent(uuid)}/file`,
      index === undefined ? {} : { index: String(index) },
    );
    const abort = new AbortController();
    const timer = setTimeout(
      () => abort.abort(new DOMException('timed out', 'TimeoutError')),
      this.timeoutMs,
    );
    try {
      const res = await fetch(url, { headers: this.headers, signal: abort.signal });
      if (res.status !== 200 || !res.body) {
        throw this.refusal('DownloadError', { status: res.status, text: await res.text(), url: url.href });
      }
      clearTimeout(timer);
      const length = res.headers.get('content-length');
      const size = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
      const stream = downloadStream(res.body, {
        size,
        idleTimeoutMs: this.timeoutMs,
        abort,
        fail: (detail, o) =>
          new ImgapiError('DownloadError', `${this.url}: download of image ${uuid} failed: ${detail}`, {
            url: url.href,
            statusCode: res.status,
            ...o,
          }),
      });
      return size === undefined ? { stream } : { stream, size };
    } catch (err) {
      clearTimeout(timer);
      if (err instanceof ImgapiError) throw err;
      throw this.failure('DownloadError', url.href, err);
    }
  }
}
