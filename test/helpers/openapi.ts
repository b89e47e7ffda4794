/**
 * An API client for tests that checks every exchange against zonixd's OpenAPI document, as
 * Firecracker's tests do with its spec: the request's path and method must be in it, the body it
 * sends must match the request schema, and the answer must be a documented status whose body matches
 * its schema. A mismatch fails the test that made the request.
 * @module
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

interface Operation {
  requestBody?: { content?: Record<string, { schema?: object }> };
  responses?: Record<string, { content?: Record<string, { schema?: object }> }>;
}

type Doc = { paths: Record<string, Record<string, Operation>> };

export interface Answer<T = unknown> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

export class ApiClient {
  private doc: Doc | undefined;
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  private readonly compiled = new Map<object, ValidateFunction>();
  /** Every exchange checked, as `METHOD /template status`. */
  readonly checked: string[] = [];

  constructor(
    readonly base: string,
    private readonly token: string | undefined,
    private readonly socketPath?: string,
  ) {}

  /** One exchange, without checks (for what the document does not describe, such as a bad token). */
  raw(
    method: string,
    path: string,
    opts: {
      body?: unknown;
      rawBody?: Buffer | string;
      headers?: Record<string, string>;
      token?: string | null;
    } = {},
  ): Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }> {
    const url = new URL(path, this.base);
    const data =
      opts.rawBody !== undefined
        ? opts.rawBody
        : opts.body !== undefined
          ? JSON.stringify(opts.body)
          : undefined;
    const token = opts.token === null ? undefined : (opts.token ?? this.token);
    const headers: Record<string, string> = {
      ...(data !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...opts.headers,
    };
    return new Promise((resolve, reject) => {
      const req = request(
        {
          method,
          ...(this.socketPath ? { socketPath: this.socketPath } : { host: url.hostname, port: url.port }),
          path: url.pathname + url.search,
          headers,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              text: Buffer.concat(chunks).toString(),
              headers: res.headers,
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  }

  /** A GET whose answer is bytes (a send stream): the path and its status must be in the document. */
  async download(
    path: string,
  ): Promise<{ status: number; body: Buffer; headers: Record<string, string | string[] | undefined> }> {
    const doc = await this.document();
    const url = new URL(path, this.base);
    const t = this.template(doc, url.pathname);
    assert.ok(t && doc.paths[t]?.get, `GET ${url.pathname} is not in the OpenAPI document`);
    const r = await new Promise<{
      status: number;
      body: Buffer;
      headers: Record<string, string | string[] | undefined>;
    }>((resolve, reject) => {
      const req = request(
        {
          ...(this.socketPath ? { socketPath: this.socketPath } : { host: url.hostname, port: url.port }),
          path: url.pathname + url.search,
          headers: this.token ? { authorization: `Bearer ${this.token}` } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.ok(
      doc.paths[t].get.responses?.[String(r.status)],
      `GET ${t} answered ${r.status}, which the document does not list`,
    );
    this.checked.push(`GET ${t} ${r.status}`);
    return r;
  }

  async document(): Promise<Doc> {
    if (!this.doc) {
      const r = await this.raw('GET', '/v1/openapi.json');
      assert.equal(r.status, 200, r.text);
      this.doc = JSON.parse(r.text) as Doc;
    }
    return this.doc;
  }

  private validator(schema: object): ValidateFunction {
    let v = this.compiled.get(schema);
    if (!v) {
      v = this.ajv.compile(schema);
      this.compiled.set(schema, v);
    }
    return v;
  }

  /** The document's path template that `path` is an instance of. */
  private template(doc: Doc, path: string): string | undefined {
    // A literal path before a template it is also an instance of (/v1/vms/receive, /v1/vms/{uuid}).
    if (doc.paths[path]) return path;
    for (const t of Object.keys(doc.paths)) {
      const re = new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]+')}$`);
      if (re.test(path)) return t;
    }
    return undefined;
  }

  /** An exchange the document describes, checked both ways. */
  async call<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    opts: { skipRequestCheck?: boolean; upload?: { type: string; data: Buffer } } = {},
  ): Promise<Answer<T>> {
    const doc = await this.document();
    const url = new URL(path, this.base);
    const t = this.template(doc, url.pathname);
    assert.ok(t, `${method} ${url.pathname} is not in the OpenAPI document`);
    const op = doc.paths[t]?.[method.toLowerCase()];
    assert.ok(op, `${method} ${t} is not in the OpenAPI document`);
    if (body !== undefined && !opts.skipRequestCheck) {
      const schema = op.requestBody?.content?.['application/json']?.schema;
      assert.ok(schema, `${method} ${t} takes no body in the document`);
      const v = this.validator(schema);
      assert.ok(
        v(body),
        `request to ${method} ${t} does not match the document: ${this.ajv.errorsText(v.errors)}`,
      );
    }
    if (opts.upload)
      assert.ok(
        op.requestBody?.content?.[opts.upload.type],
        `${method} ${t} takes no ${opts.upload.type} body in the document`,
      );
    const r = await this.raw(
      method,
      path,
      opts.upload
        ? { rawBody: opts.upload.data, headers: { 'content-type': opts.upload.type } }
        : body !== undefined
          ? { body }
          : {},
    );
    const res = op.responses?.[String(r.status)];
    assert.ok(res, `${method} ${t} answered ${r.status}, which the document does not list: ${r.text}`);
    const schema = res.content?.['application/json']?.schema;
    let parsed: unknown = undefined;
    if (r.text.length) parsed = JSON.parse(r.text);
    if (schema && r.status !== 204) {
      const v = this.validator(schema);
      assert.ok(
        v(parsed),
        `answer ${r.status} of ${method} ${t} does not match the document: ${this.ajv.errorsText(v.errors)}\n${r.text.slice(0, 500)}`,
      );
    }
    this.checked.push(`${method} ${t} ${r.status}`);
    return { status: r.status, body: parsed as T, headers: r.headers };
  }
}
