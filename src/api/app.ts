/**
 * The HTTP API (`/v1`), the events and terminal websockets, `/metrics` and the web console, as one
 * fastify app over one `Host`. Handlers are thin: each calls the same Host method the CLI does, so the
 * messages, checks and effects are the CLI's. Request and response schemas come from the VM property
 * table and are what `/v1/openapi.json` publishes; create and update payloads are checked by the VM
 * core itself (vmadm's rules and wording), the schema documents them.
 * @module
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Transform } from 'node:stream';
import { Ajv2020 } from 'ajv/dist/2020.js';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifyWebsocket from '@fastify/websocket';
import type { Logger } from 'pino';
import type { Cloud } from '../cloud/index.ts';
import type { Host } from '../host/index.ts';
import {
  addSource,
  allSources,
  deleteSource,
  describeImage,
  importImage,
  ImageStore,
  ImgadmError,
  type ImageManifest,
} from '../images/index.ts';
import { Network, makeRecord, type TagRequest } from '../net/index.ts';
import { collectSysinfo } from '../platform/index.ts';
import { importedPoolNames, listPools } from '../storage/index.ts';
import {
  createPayloadJsonSchema,
  isFilterKey,
  matchesAll,
  parseFilter,
  updatePayloadJsonSchema,
  vmJsonSchema,
  VM_UUID,
  type VmRecord,
} from '../vm/index.ts';
import { ApiError, errorResponse } from './errors.ts';
import { EventHub } from './events.ts';
import { Jobs, type Job } from './jobs.ts';
import { Metrics } from './metrics.ts';
import { OneLineLog } from './log.ts';
import { registerCloudRoutes } from './cloud-routes.ts';
import { consoleTerminal, loginTerminal } from './terminal.ts';

export interface ApiOptions {
  host: Host;
  /** This build's stamp (in `/v1`). */
  build: string;
  /**
   * The token TCP clients must give (`Authorization: Bearer`, or the console's cookie). Clients on
   * the Unix socket need none: the socket is root's only.
   */
  token: string;
  /** The built web console (index.html and its assets); without it `/` says how to build it. */
  webRoot?: string;
  logger?: Logger;
  /** Largest request body (default 1 MiB). */
  bodyLimit?: number;
  /** The cloud's accounts, packages and networks (`/v1/networks` and the rest; NICs by network). */
  cloud?: Cloud;
  /** Largest upload (a `vmadm send` stream to receive; default 64 GiB). */
  uploadLimit?: number;
  /** Event buffer size for reconnecting clients (default 2000). */
  eventBuffer?: number;
  /** Serve HTTPS with this certificate and key (PEM). */
  https?: { cert: Buffer; key: Buffer };
}

export interface Api {
  app: FastifyInstance;
  events: EventHub;
  jobs: Jobs;
  metrics: Metrics;
  /** Every VM, from the list kept while nothing changes (see `events.generation`). */
  vms(): Promise<VmRecord[]>;
  /** Stop taking requests, wait for the jobs under way, stop watching. */
  close(): Promise<void>;
}

export const COOKIE = 'zonix_token';
const UUID = VM_UUID.source;
const SNAPNAME = '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$';
const TAGNAME = '^[A-Za-z0-9_]{1,31}$';

// ---- Schemas (OpenAPI components, inlined where used) -----------------------------------------------

const ErrorSchema = {
  type: 'object',
  required: ['code', 'message'],
  properties: {
    code: { type: 'string', description: 'Stable error code' },
    message: { type: 'string', description: 'What the CLI prints for the same error' },
    exit_code: { type: 'integer', description: 'The exit code the CLI gives' },
    fields: { type: 'array', items: { type: 'string' }, description: 'The request fields at fault' },
    request_id: { type: 'string' },
  },
} as const;

const errors = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [c, { ...ErrorSchema, description: `Error (${c})` }]));

const VmSchema = vmJsonSchema();
const ProgressSchema = {
  type: 'object',
  properties: {
    phase: { type: 'string' },
    subject: { type: 'string' },
    done: { type: 'number' },
    total: { type: 'number' },
    message: { type: 'string' },
  },
};
const JobSchema = {
  type: 'object',
  required: ['uuid', 'kind', 'state', 'created', 'updated'],
  properties: {
    uuid: { type: 'string' },
    kind: { type: 'string', enum: ['create', 'import', 'send', 'receive'] },
    subject: { type: 'string' },
    state: { type: 'string', enum: ['running', 'succeeded', 'failed', 'cancelled'] },
    created: { type: 'string' },
    updated: { type: 'string' },
    progress: ProgressSchema,
    result: {},
    error: ErrorSchema,
  },
};
const ImageSchema = {
  type: 'object',
  required: ['manifest', 'zpool'],
  properties: {
    manifest: {
      type: 'object',
      required: ['uuid', 'name', 'version'],
      properties: { uuid: { type: 'string' }, name: { type: 'string' }, version: { type: 'string' } },
      additionalProperties: true,
    },
    zpool: { type: 'string' },
    source: { type: 'string' },
    clones: { type: 'integer' },
  },
};
const NicTagSchema = {
  type: 'object',
  required: ['name', 'kind'],
  properties: {
    name: { type: 'string' },
    kind: { type: 'string', enum: ['normal', 'etherstub'] },
    mac: { type: 'string' },
    link: { type: 'string' },
    mtu: { type: 'integer' },
    net: { type: 'object' },
    vms: { type: 'array', items: { type: 'string' } },
  },
};
const FwRuleSchema = {
  type: 'object',
  required: ['uuid', 'rule', 'enabled'],
  properties: {
    uuid: { type: 'string' },
    rule: { type: 'string' },
    enabled: { type: 'boolean' },
    global: { type: 'boolean' },
    owner_uuid: { type: 'string' },
    description: { type: 'string' },
    version: { type: 'string' },
  },
  additionalProperties: true,
};
const SourceSchema = {
  type: 'object',
  required: ['url', 'type'],
  properties: { url: { type: 'string' }, type: { type: 'string' }, insecure: { type: 'boolean' } },
};
const uuidParams = {
  type: 'object',
  required: ['uuid'],
  properties: { uuid: { type: 'string', pattern: UUID } },
};
const snapParams = {
  type: 'object',
  required: ['uuid', 'name'],
  properties: { uuid: { type: 'string', pattern: UUID }, name: { type: 'string', pattern: SNAPNAME } },
};
const noBody = { type: 'object', additionalProperties: false, properties: {} };
const DELETED = { type: 'null', description: 'Deleted' };

/** A create or update payload: a JSON object (the VM core checks the rest). */
function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new ApiError(400, 'InvalidPayload', 'the payload must be a JSON object');
  return body as Record<string, unknown>;
}

// ---- The app ------------------------------------------------------------------------------------------

/** The request came over the Unix socket (root's only), not TCP. */
const onUnixSocket = (raw: IncomingMessage) => raw.socket.remoteAddress === undefined;

function cookieToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === COOKIE) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

function sameToken(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function buildApi(opts: ApiOptions): Promise<Api> {
  const host = opts.host;
  const cloud = opts.cloud;
  const logger: FastifyBaseLogger | undefined = opts.logger;
  const app = Fastify({
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    genReqId: () => randomUUID(),
    forceCloseConnections: true,
    logController: new OneLineLog(),
    ...(opts.https ? { https: opts.https } : {}),
    return503OnClosing: true,
  });
  // Params and query strings are checked (and coerced) here; bodies of create and update by the VM core.
  const queryAjv = new Ajv2020({ coerceTypes: true, useDefaults: true, strict: false, allErrors: false });
  const bodyAjv = new Ajv2020({ coerceTypes: false, strict: false, allErrors: true });
  app.setValidatorCompiler(({ schema, httpPart }) => {
    if (httpPart === 'body' && (schema as { 'x-checked-by'?: string })['x-checked-by'] === 'vm-core')
      return () => true;
    return (httpPart === 'body' ? bodyAjv : queryAjv).compile(schema) as (d: unknown) => boolean;
  });
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  const jobs = new Jobs();
  const events = new EventHub(host, {
    ...(opts.eventBuffer !== undefined ? { size: opts.eventBuffer } : {}),
    log: (m) => app.log.warn(m),
  });
  const metrics = new Metrics(host, async () => (await vmList()).vms);

  /**
   * Every VM, and the list as JSON, kept while no VM changes (the events watcher says when one may
   * have, before its event comes): a thousand VMs cost their serialization once per change.
   */
  let listCache: { gen: number; vms: VmRecord[]; body: Buffer } | undefined;
  const vmList = async (): Promise<{ vms: VmRecord[]; body: Buffer }> => {
    const gen = events.generation();
    if (gen !== undefined && listCache?.gen === gen) return listCache;
    const vms = await host.allVms();
    const body = Buffer.from(JSON.stringify(vms));
    // Kept only if nothing changed while it was read.
    if (gen !== undefined && events.generation() === gen) listCache = { gen, vms, body };
    return { vms, body };
  };

  app.setErrorHandler((err, req, reply) => {
    const { status, body } = errorResponse(err, req.id);
    if (status >= 500) req.log.error({ err }, 'request failed');
    void reply.status(status).type('application/json').send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({
      code: 'ResourceNotFound',
      message: `${req.method} ${req.url.split('?')[0]!} does not exist`,
      request_id: req.id,
    });
  });

  // Every request but the console's page and assets needs the token on TCP.
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0]!;
    const guarded = path.startsWith('/v1') || path === '/metrics';
    if (!guarded || onUnixSocket(req.raw)) return;
    const auth = req.headers.authorization;
    const bearer = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    if (sameToken(bearer, opts.token) || sameToken(cookieToken(req.headers.cookie), opts.token)) return;
    return reply.status(401).send({
      code: 'Unauthorized',
      message: 'this API needs the token of /run/zonix/zonixd.token (Authorization: Bearer <token>)',
      request_id: req.id,
    });
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.requests.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Zonix host API',
        version: '1',
        description:
          'One Zonix host: its VMs (the same payloads and messages as vmadm), images, datasets, nic tags, firewall rules and jobs.',
      },
      components: {
        securitySchemes: {
          token: { type: 'http', scheme: 'bearer', description: 'The token in /run/zonix/zonixd.token' },
        },
      },
      security: [{ token: [] }],
    },
  });
  await app.register(fastifyWebsocket, { options: { maxPayload: 1024 * 1024 } });

  app.get('/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get(
    '/v1',
    {
      schema: {
        summary: 'The service',
        tags: ['host'],
        response: {
          200: {
            type: 'object',
            required: ['name', 'version', 'build'],
            properties: { name: { type: 'string' }, version: { type: 'string' }, build: { type: 'string' } },
          },
        },
      },
    },
    async () => ({ name: 'zonixd', version: '1', build: opts.build }),
  );

  app.get(
    '/v1/sysinfo',
    {
      schema: {
        summary: 'The host, as sysinfo shows it',
        tags: ['host'],
        response: { 200: { type: 'object' } },
      },
    },
    async () => collectSysinfo({ probe: await host.probe(), pools: await listPools().catch(() => []) }),
  );

  // ---- VMs ----
  app.get(
    '/v1/vms',
    {
      schema: {
        summary:
          'List VMs (query parameters are vmadm list filters: state=running, tags.role=db, alias=~^web)',
        tags: ['vms'],
        querystring: { type: 'object', additionalProperties: { type: 'string' } },
        response: { 200: { type: 'array', items: VmSchema }, ...errors(400) },
      },
    },
    async (req, reply) => {
      const q = req.query as Record<string, string>;
      const filters = Object.entries(q).map(([k, v]) => parseFilter(`${k}=${v}`, isFilterKey));
      const list = await vmList();
      if (filters.length) return list.vms.filter((vm) => matchesAll(vm, filters));
      return reply.type('application/json; charset=utf-8').send(list.body);
    },
  );

  app.post(
    '/v1/vms',
    {
      schema: {
        summary: 'Create a VM (vmadm create): answers with the job; ?wait=true answers once it is done',
        tags: ['vms'],
        querystring: {
          type: 'object',
          properties: { wait: { type: 'boolean', default: false } },
          additionalProperties: false,
        },
        body: { ...createPayloadJsonSchema(), 'x-checked-by': 'vm-core' },
        response: {
          201: VmSchema,
          202: {
            type: 'object',
            required: ['job', 'vm_uuid'],
            properties: { vm_uuid: { type: 'string' }, job: JobSchema },
          },
          ...errors(400, 404, 409, 413),
        },
      },
    },
    async (req, reply) => {
      // NICs that name a network get its tag and a free address from it.
      const placed = cloud ? await cloud.placeNics(objectBody(req.body)) : undefined;
      const payload = placed?.payload ?? objectBody(req.body);
      const started = await jobs.start('create', undefined, async (op) => {
        try {
          const r = await host.create(payload, op);
          return { uuid: r.uuid, warnings: r.warnings };
        } finally {
          placed?.release();
        }
      });
      if ('error' in started) throw started.error;
      const job = started.job;
      const uuid = job.subject ?? (job.result as { uuid?: string } | undefined)?.uuid ?? '';
      if ((req.query as { wait?: boolean }).wait) {
        await jobs.wait(job);
        if (job.state !== 'succeeded')
          return reply.status(jobs.errorStatus(job) as 201).send({ ...job.error, request_id: req.id });
        return reply.status(201).send(await host.get(uuid));
      }
      return reply.status(202).header('location', `/v1/jobs/${job.uuid}`).send({ vm_uuid: uuid, job });
    },
  );

  app.get(
    '/v1/vms/:uuid',
    {
      schema: {
        summary: 'A VM (vmadm get)',
        tags: ['vms'],
        params: uuidParams,
        response: { 200: VmSchema, ...errors(400, 404) },
      },
    },
    async (req) => vmOf(host, req),
  );

  app.patch(
    '/v1/vms/:uuid',
    {
      schema: {
        summary: 'Change a VM (vmadm update): answers with the VM as it now is',
        tags: ['vms'],
        params: uuidParams,
        body: { ...updatePayloadJsonSchema(), 'x-checked-by': 'vm-core' },
        response: { 200: VmSchema, ...errors(400, 404, 409, 413) },
      },
    },
    async (req) => {
      const { uuid } = req.params as { uuid: string };
      const body = objectBody(req.body);
      await vmOf(host, req);
      await host.update(uuid, body);
      return host.get(uuid);
    },
  );

  app.delete(
    '/v1/vms/:uuid',
    {
      schema: {
        summary: 'Delete a VM (vmadm delete): stopped first if it runs',
        tags: ['vms'],
        params: uuidParams,
        response: { 204: DELETED, ...errors(400, 404, 409) },
      },
    },
    async (req, reply) => {
      const { uuid } = req.params as { uuid: string };
      await vmOf(host, req);
      await host.delete(uuid);
      return reply.status(204).send();
    },
  );

  const action = (
    name: string,
    summary: string,
    body: Record<string, unknown>,
    run: (uuid: string, body: Record<string, unknown>) => Promise<void>,
  ) =>
    app.post(
      `/v1/vms/:uuid/${name}`,
      {
        schema: {
          summary,
          tags: ['vms'],
          params: uuidParams,
          body: { type: 'object', additionalProperties: false, properties: body },
          response: { 200: VmSchema, ...errors(400, 404, 409) },
        },
      },
      async (req) => {
        const { uuid } = req.params as { uuid: string };
        await vmOf(host, req);
        await run(uuid, (req.body ?? {}) as Record<string, unknown>);
        return host.get(uuid);
      },
    );
  action('start', 'Boot a VM (vmadm start)', {}, (uuid) => host.start(uuid));
  action(
    'stop',
    'Halt a VM (vmadm stop [-F] [-t timeout])',
    {
      force: { type: 'boolean', description: 'Kill it at once (-F)' },
      timeout: {
        type: 'integer',
        minimum: 1,
        maximum: 3600,
        description: 'Seconds before it is killed (-t)',
      },
    },
    (uuid, b) =>
      host.stop(uuid, {
        ...(b.force === true ? { force: true } : {}),
        ...(typeof b.timeout === 'number' ? { timeoutMs: b.timeout * 1000 } : {}),
      }),
  );
  action('reboot', 'Reboot a VM (vmadm reboot [-F])', { force: { type: 'boolean' } }, (uuid, b) =>
    host.reboot(uuid, b.force === true ? { force: true } : {}),
  );
  action(
    'kill',
    'Send a signal to the VM (vmadm kill [-s SIGNAL])',
    { signal: { type: 'string', pattern: '^(SIG)?[A-Z0-9]{1,10}$' } },
    (uuid, b) => host.kill(uuid, typeof b.signal === 'string' ? b.signal : undefined),
  );

  app.get(
    '/v1/vms/:uuid/info',
    {
      schema: {
        summary: 'Runtime information of a running VM (vmadm info)',
        tags: ['vms'],
        params: uuidParams,
        querystring: {
          type: 'object',
          properties: { types: { type: 'string', pattern: '^[a-z,-]*$' } },
          additionalProperties: false,
        },
        response: { 200: { type: 'object' }, ...errors(400, 404, 409) },
      },
    },
    async (req) => {
      const { uuid } = req.params as { uuid: string };
      const types = (req.query as { types?: string }).types;
      return host.info(uuid, types ? types.split(',').filter(Boolean) : []);
    },
  );

  app.get(
    '/v1/vms/:uuid/metrics',
    {
      schema: {
        summary: "The VM's figures now (what /metrics has of it: CPU, memory, pids, NIC counters, space)",
        tags: ['vms'],
        params: uuidParams,
        response: {
          200: {
            type: 'object',
            required: ['time', 'uuid', 'state', 'nics'],
            properties: {
              time: { type: 'number' },
              uuid: { type: 'string' },
              state: { type: 'string' },
              nics: { type: 'array', items: { type: 'object' } },
            },
            additionalProperties: true,
          },
          ...errors(400, 404),
        },
      },
    },
    async (req) => {
      const { uuid } = req.params as { uuid: string };
      await vmOf(host, req);
      const s = await metrics.sample();
      const v = s.vms.find((x) => x.uuid === uuid);
      if (!v) throw new ApiError(404, 'ENOENT', `zoneadm: ${uuid}: No such zone configured`);
      return { time: s.time, ...v };
    },
  );

  app.get(
    '/v1/vms/:uuid/send',
    {
      schema: {
        summary:
          'The VM as a `vmadm send` stream (`vmadm receive` takes it); its progress is a job, named in the x-zonix-job header',
        tags: ['vms'],
        params: uuidParams,
        response: {
          200: {
            description: 'The stream',
            content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
          },
          ...errors(400, 404, 409),
        },
      },
    },
    async (req, reply) => {
      const { uuid } = req.params as { uuid: string };
      await vmOf(host, req);
      let sent = 0;
      let report: ((n: number) => void) | undefined;
      let last = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          sent += chunk.length;
          const now = Date.now();
          if (report && (sent === chunk.length || now - last > 250)) {
            last = now;
            report(sent);
          }
          cb(null, chunk);
        },
      });
      // A client that goes away ends the send.
      req.raw.on('close', () => {
        if (!counter.writableFinished) counter.destroy(new Error('the client went away'));
      });
      const started = await jobs.start('send', uuid, async (op) => {
        report = (n) => op.progress?.({ phase: 'sending', subject: uuid, done: n });
        await host.send(uuid, counter);
        counter.end();
        return { uuid, bytes: sent };
      });
      if ('error' in started) throw started.error;
      return reply.header('x-zonix-job', started.job.uuid).type('application/octet-stream').send(counter);
    },
  );

  // Uploads (a send stream) come to their route as a stream; their limit is the route's to keep.
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
  const uploadLimit = opts.uploadLimit ?? 64 * 1024 ** 3;
  const tooLarge = () =>
    new ApiError(
      413,
      'RequestTooLarge',
      `the upload is larger than this service takes (${uploadLimit} bytes)`,
    );
  app.post(
    '/v1/vms/receive',
    {
      schema: {
        summary:
          'Receive a VM from a `vmadm send` stream (the body, application/octet-stream), as `vmadm receive` does; answers once it is in, stopped',
        tags: ['vms'],
        body: {
          content: {
            'application/octet-stream': {
              schema: { type: 'string', format: 'binary', 'x-checked-by': 'vm-core' },
            },
          },
        },
        response: { 201: VmSchema, ...errors(400, 409, 413) },
      },
    },
    async (req, reply) => {
      const declared = Number(req.headers['content-length']);
      if (declared > uploadLimit) {
        reply.header('connection', 'close');
        throw tooLarge();
      }
      const body = req.body as NodeJS.ReadableStream;
      let got = 0;
      let last = 0;
      let report: ((n: number) => void) | undefined;
      let over = false;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          got += chunk.length;
          if (got > uploadLimit) {
            over = true;
            cb(tooLarge());
            return;
          }
          const now = Date.now();
          if (report && now - last > 250) {
            last = now;
            report(got);
          }
          cb(null, chunk);
        },
      });
      body.on('error', (err: Error) => counter.destroy(err));
      req.raw.on('close', () => {
        if (!req.raw.complete) counter.destroy(new Error('the client went away'));
      });
      body.pipe(counter);
      const started = await jobs.start('receive', undefined, async (op) => {
        report = (n) => op.progress?.({ phase: 'receiving', done: n });
        const uuid = await host.receive(counter);
        return { uuid, bytes: got };
      });
      if ('error' in started) throw over ? tooLarge() : started.error;
      const job = started.job;
      await jobs.wait(job);
      reply.header('x-zonix-job', job.uuid);
      if (job.state !== 'succeeded') {
        if (over) throw tooLarge();
        if (!req.raw.complete) reply.header('connection', 'close');
        return reply.status(jobs.errorStatus(job) as 201).send({ ...job.error, request_id: req.id });
      }
      return reply.status(201).send(await host.get((job.result as { uuid: string }).uuid));
    },
  );

  // ---- Snapshots ----
  const SnapshotSchema = {
    type: 'object',
    required: ['name'],
    properties: { name: { type: 'string' }, created_at: { type: 'string' } },
  };
  app.get(
    '/v1/vms/:uuid/snapshots',
    {
      schema: {
        summary: "A VM's snapshots",
        tags: ['snapshots'],
        params: uuidParams,
        response: { 200: { type: 'array', items: SnapshotSchema }, ...errors(400, 404) },
      },
    },
    async (req) => {
      const vm = await vmOf(host, req);
      return Array.isArray(vm.snapshots) ? (vm.snapshots as unknown[]) : [];
    },
  );
  app.post(
    '/v1/vms/:uuid/snapshots',
    {
      schema: {
        summary: 'Snapshot a VM (vmadm create-snapshot)',
        tags: ['snapshots'],
        params: uuidParams,
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: { name: { type: 'string', pattern: SNAPNAME } },
        },
        response: { 201: { type: 'array', items: SnapshotSchema }, ...errors(400, 404, 409) },
      },
    },
    async (req, reply) => {
      const { uuid } = req.params as { uuid: string };
      await vmOf(host, req);
      await host.createSnapshot(uuid, (req.body as { name: string }).name);
      const vm = await host.get(uuid);
      return reply.status(201).send(Array.isArray(vm.snapshots) ? vm.snapshots : []);
    },
  );
  app.post(
    '/v1/vms/:uuid/snapshots/:name/rollback',
    {
      schema: {
        summary: 'Roll a VM back to a snapshot (vmadm rollback-snapshot)',
        tags: ['snapshots'],
        params: snapParams,
        body: noBody,
        response: { 200: VmSchema, ...errors(400, 404, 409) },
      },
    },
    async (req) => {
      const { uuid, name } = req.params as { uuid: string; name: string };
      await vmOf(host, req);
      await host.rollbackSnapshot(uuid, name);
      return host.get(uuid);
    },
  );
  app.delete(
    '/v1/vms/:uuid/snapshots/:name',
    {
      schema: {
        summary: 'Delete a snapshot (vmadm delete-snapshot)',
        tags: ['snapshots'],
        params: snapParams,
        response: { 204: DELETED, ...errors(400, 404, 409) },
      },
    },
    async (req, reply) => {
      const { uuid, name } = req.params as { uuid: string; name: string };
      await vmOf(host, req);
      await host.deleteSnapshot(uuid, name);
      return reply.status(204).send();
    },
  );

  // ---- Terminals and events (websockets) ----
  app.get(
    '/v1/vms/:uuid/console',
    {
      websocket: true,
      schema: {
        summary:
          'A terminal (websocket): kind=login, a shell in the zone (zlogin); kind=console, its console. Send {"type":"input","data":...} and {"type":"resize","cols":..,"rows":..}',
        tags: ['vms'],
        params: uuidParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            kind: { type: 'string', enum: ['login', 'console'], default: 'login' },
            cols: { type: 'integer', minimum: 1, maximum: 1000 },
            rows: { type: 'integer', minimum: 1, maximum: 1000 },
          },
        },
      },
    },
    async (socket, req) => {
      const q = req.query as { kind: 'login' | 'console'; cols?: number; rows?: number };
      try {
        const vm = await vmOf(host, req);
        if (vm.state !== 'running') {
          socket.close(4009, `the VM is ${String(vm.state)}, not running`);
          return;
        }
        const size = { ...(q.cols ? { cols: q.cols } : {}), ...(q.rows ? { rows: q.rows } : {}) };
        if (q.kind === 'console') await consoleTerminal(socket, host, vm, size);
        else loginTerminal(socket, host, vm, size);
      } catch (err) {
        const { status, body } = errorResponse(err, req.id);
        socket.close(4000 + (status % 1000), body.message.slice(0, 120));
      }
    },
  );

  app.get(
    '/v1/events',
    {
      websocket: true,
      schema: {
        summary:
          'VM events (websocket): what vmadm events -j prints, each with an id. ?since=<id> resumes after that event; a {"type":"reset"} message says to list again',
        tags: ['vms'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { since: { type: 'string', maxLength: 64 } },
        },
      },
    },
    (socket, req) => {
      const since = (req.query as { since?: string }).since;
      // Subscribed first, so nothing that happens while the client is told where it is is missed.
      const pending: string[] = [];
      let live = false;
      const off = events.subscribe((m) => {
        if (live) socket.send(m.text);
        else pending.push(m.text);
      });
      socket.on('close', off);
      const r = events.resume(since);
      const date = new Date().toISOString();
      if (r.kind === 'ready') socket.send(JSON.stringify({ type: 'ready', id: r.id, date }));
      else if (r.kind === 'reset')
        socket.send(JSON.stringify({ type: 'reset', id: r.id, date, message: r.reason }));
      const sent = new Set<string>();
      if (r.kind === 'replay')
        for (const m of r.messages) {
          socket.send(m.text);
          sent.add(m.text);
        }
      for (const t of pending) if (!sent.has(t)) socket.send(t);
      live = true;
    },
  );

  // ---- Jobs ----
  app.get(
    '/v1/jobs',
    {
      schema: {
        summary: 'Recent jobs',
        tags: ['jobs'],
        response: { 200: { type: 'array', items: JobSchema } },
      },
    },
    async () => jobs.list(),
  );
  app.get(
    '/v1/jobs/:uuid',
    {
      schema: {
        summary: 'A job; ?wait=true answers once it has ended',
        tags: ['jobs'],
        params: uuidParams,
        querystring: {
          type: 'object',
          properties: { wait: { type: 'boolean', default: false } },
          additionalProperties: false,
        },
        response: { 200: JobSchema, ...errors(400, 404) },
      },
    },
    async (req) => {
      const job = jobOf(jobs, req);
      if ((req.query as { wait?: boolean }).wait) await jobs.wait(job);
      return job;
    },
  );
  app.delete(
    '/v1/jobs/:uuid',
    {
      schema: {
        summary: 'Cancel a running job (what it made is removed)',
        tags: ['jobs'],
        params: uuidParams,
        response: { 200: JobSchema, ...errors(400, 404, 409) },
      },
    },
    async (req) => {
      const job = jobOf(jobs, req);
      if (!jobs.cancel(job.uuid)) throw new ApiError(409, 'EJOBDONE', `job ${job.uuid} has ended`);
      await jobs.wait(job);
      return job;
    },
  );

  // ---- Images ----
  const store = (pool?: string) => new ImageStore(host.pool(pool));
  app.get(
    '/v1/images',
    {
      schema: {
        summary: 'Installed images (imgadm list)',
        tags: ['images'],
        response: { 200: { type: 'array', items: ImageSchema } },
      },
    },
    async () => {
      const out: unknown[] = [];
      for (const name of importedPoolNames()) {
        const s = store(name);
        for (const img of s.list()) out.push({ ...img, clones: s.clones(img.manifest.uuid).length });
      }
      return out;
    },
  );
  app.get(
    '/v1/images/available',
    {
      schema: {
        summary: "Images the host's sources offer (imgadm avail)",
        tags: ['images'],
        response: {
          200: {
            type: 'array',
            items: {
              type: 'object',
              required: ['manifest', 'source'],
              properties: { manifest: { type: 'object' }, source: { type: 'string' } },
            },
          },
        },
      },
    },
    async (req) => {
      const out: { manifest: ImageManifest; source: string }[] = [];
      for (const source of allSources(host.pool())) {
        const list = await source.list().catch((err: unknown) => {
          req.log.warn(`source ${source.url} is unavailable: ${String(err)}`);
          return [];
        });
        for (const manifest of list) out.push({ manifest, source: source.url });
      }
      return out;
    },
  );
  app.get(
    '/v1/images/sources',
    {
      schema: {
        summary: 'Image sources (imgadm sources)',
        tags: ['images'],
        response: {
          200: { type: 'array', items: SourceSchema },
        },
      },
    },
    async () => allSources(host.pool()).map((s) => ({ url: s.url, type: s.type })),
  );
  app.post(
    '/v1/images/sources',
    {
      schema: {
        summary: 'Add an image source (imgadm sources -a): checked by listing it unless force=true',
        tags: ['images'],
        body: {
          type: 'object',
          required: ['url'],
          additionalProperties: false,
          properties: {
            url: { type: 'string', minLength: 1, maxLength: 2048 },
            type: { type: 'string', enum: ['imgapi', 'docker'] },
            insecure: { type: 'boolean' },
            force: { type: 'boolean' },
          },
        },
        response: {
          200: { ...SourceSchema, description: 'It was there already' },
          201: SourceSchema,
          ...errors(400, 404, 409, 502),
        },
      },
    },
    async (req, reply) => {
      const b = req.body as { url: string; type?: string; insecure?: boolean; force?: boolean };
      const r = await addSource(host.pool(), b, { force: b.force === true });
      return reply.status(r.added ? 201 : 200).send(r.source);
    },
  );
  app.delete(
    '/v1/images/sources',
    {
      schema: {
        summary: 'Remove an image source (imgadm sources -d)',
        tags: ['images'],
        querystring: {
          type: 'object',
          required: ['url'],
          additionalProperties: false,
          properties: { url: { type: 'string', minLength: 1, maxLength: 2048 } },
        },
        response: { 204: DELETED, ...errors(400, 404) },
      },
    },
    async (req, reply) => {
      const { url } = req.query as { url: string };
      if (!deleteSource(host.pool(), url))
        throw new ApiError(404, 'ENOENT', `Do not have image source "${url}"`);
      return reply.status(204).send();
    },
  );
  app.post(
    '/v1/images',
    {
      schema: {
        summary: 'Import an image from the sources (imgadm import): answers with the job',
        tags: ['images'],
        body: {
          type: 'object',
          required: ['uuid'],
          additionalProperties: false,
          properties: {
            uuid: {
              type: 'string',
              minLength: 1,
              maxLength: 256,
              description: 'UUID, name or docker reference',
            },
            zpool: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_.-]{0,63}$' },
          },
        },
        response: {
          202: { type: 'object', required: ['job'], properties: { job: JobSchema } },
          ...errors(400, 404, 409, 502),
        },
      },
    },
    async (req, reply) => {
      const body = req.body as { uuid: string; zpool?: string };
      const s = store(body.zpool);
      const started = await jobs.start('import', body.uuid, async (op) => {
        const results = await importImage(s, body.uuid, {
          onBytes: (done, total) =>
            op.progress?.({ phase: 'downloading', subject: body.uuid, done, ...(total ? { total } : {}) }),
        });
        return results.map((r) => ({
          uuid: r.manifest.uuid,
          image: describeImage(r.manifest),
          installed: r.installed,
          source: r.source,
        }));
      });
      if ('error' in started) throw started.error;
      return reply.status(202).header('location', `/v1/jobs/${started.job.uuid}`).send({ job: started.job });
    },
  );
  app.get(
    '/v1/images/:uuid',
    {
      schema: {
        summary: 'An installed image (imgadm get)',
        tags: ['images'],
        params: uuidParams,
        response: { 200: ImageSchema, ...errors(400, 404) },
      },
    },
    async (req) => imageOf(req),
  );
  app.delete(
    '/v1/images/:uuid',
    {
      schema: {
        summary: 'Delete an image (imgadm delete): refused while VMs use it',
        tags: ['images'],
        params: uuidParams,
        response: { 204: DELETED, ...errors(400, 404, 409) },
      },
    },
    async (req, reply) => {
      const img = imageOf(req);
      await store(img.zpool).delete(img.manifest.uuid);
      return reply.status(204).send();
    },
  );
  function imageOf(req: FastifyRequest) {
    const { uuid } = req.params as { uuid: string };
    for (const name of importedPoolNames()) {
      const s = store(name);
      const img = s.get(uuid);
      if (img) return { ...img, clones: s.clones(uuid).length };
    }
    throw new ImgadmError('ImageNotInstalled', `image "${uuid}" was not found`);
  }

  // ---- Datasets ----
  app.get(
    '/v1/datasets',
    {
      schema: {
        summary: 'Datasets of every pool (zfs list -t all)',
        tags: ['datasets'],
        response: {
          200: {
            type: 'array',
            items: {
              type: 'object',
              required: ['name', 'type'],
              properties: {
                name: { type: 'string' },
                type: { type: 'string' },
                used: { type: 'number' },
                available: { type: 'number' },
                referenced: { type: 'number' },
                quota: { type: 'number' },
                mountpoint: { type: 'string' },
                origin: { type: 'string' },
              },
            },
          },
        },
      },
    },
    async () => {
      const out: Record<string, unknown>[] = [];
      for (const name of importedPoolNames()) {
        const pool = host.pool(name);
        const meta = pool.meta();
        const names = Object.keys(meta.datasets).sort();
        const space = await pool.spaceOf(meta, names);
        for (const ds of names) {
          const e = pool.entity(meta, ds);
          const prop = (p: string) => pool.property(meta, e, p, space.get(ds)).value;
          const num = (p: string) => {
            const v = Number(prop(p));
            return Number.isFinite(v) ? { [p]: v } : {};
          };
          const origin = prop('origin');
          const mp = prop('mountpoint');
          out.push({
            name: ds,
            type: e.type,
            ...num('used'),
            ...num('available'),
            ...num('referenced'),
            ...num('quota'),
            ...(mp && mp !== '-' ? { mountpoint: mp } : {}),
            ...(origin && origin !== '-' ? { origin } : {}),
          });
        }
      }
      return out;
    },
  );

  // ---- Networking ----
  app.get(
    '/v1/nictags',
    {
      schema: {
        summary: 'Nic tags and etherstubs (nictagadm list)',
        tags: ['network'],
        response: { 200: { type: 'array', items: NicTagSchema } },
      },
    },
    async () => {
      const vms = await host.allVms().catch(() => []);
      return host.net.tags.list().map((t) => ({ ...t, vms: Network.vmsUsing(t.name, vms) }));
    },
  );
  app.post(
    '/v1/nictags',
    {
      schema: {
        summary:
          'Add a nic tag (nictagadm add), or an etherstub with local=true, a host network with gateway',
        tags: ['network'],
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', pattern: TAGNAME },
            local: { type: 'boolean' },
            mac: { type: 'string', maxLength: 32, description: "The uplink's MAC address or link name" },
            mtu: { type: 'integer', minimum: 576, maximum: 9000 },
            gateway: { type: 'string', maxLength: 18 },
            nat: { type: 'boolean' },
            dhcp: { type: 'boolean' },
            dhcp_range: { type: 'string', maxLength: 31 },
          },
        },
        response: { 201: NicTagSchema, ...errors(400, 409) },
      },
    },
    async (req, reply) => {
      const b = req.body as Record<string, string | number | boolean>;
      const tagReq = Object.fromEntries(
        Object.entries(b).map(([k, v]) => [k, k === 'local' || k === 'name' ? v : String(v)]),
      ) as unknown as TagRequest;
      const tag = await host.net.addTag(tagReq);
      return reply.status(201).send({ ...tag, vms: [] });
    },
  );
  app.delete(
    '/v1/nictags/:name',
    {
      schema: {
        summary: 'Delete a nic tag (nictagadm delete [-f]): refused while VMs use it unless force=true',
        tags: ['network'],
        params: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string', pattern: TAGNAME } },
        },
        querystring: {
          type: 'object',
          properties: { force: { type: 'boolean', default: false } },
          additionalProperties: false,
        },
        response: { 204: DELETED, ...errors(400, 404, 409) },
      },
    },
    async (req, reply) => {
      const { name } = req.params as { name: string };
      if (!host.net.tags.get(name)) throw new ApiError(404, 'ENOENT', `nic tag '${name}' does not exist`);
      await host.net
        .deleteTag(name, { force: (req.query as { force: boolean }).force, vms: () => host.allVms() })
        .catch((err: unknown) => {
          if (String(err).includes('is in use')) throw new ApiError(409, 'EBUSY', (err as Error).message);
          throw err;
        });
      return reply.status(204).send();
    },
  );

  // ---- Firewall ----
  app.get(
    '/v1/fwrules',
    {
      schema: {
        summary: 'Firewall rules (fwadm list)',
        tags: ['firewall'],
        response: { 200: { type: 'array', items: FwRuleSchema } },
      },
    },
    async () => host.net.firewall.list(),
  );
  app.post(
    '/v1/fwrules',
    {
      schema: {
        summary: 'Add a firewall rule (fwadm add)',
        tags: ['firewall'],
        body: {
          type: 'object',
          required: ['rule'],
          additionalProperties: false,
          properties: {
            rule: { type: 'string', minLength: 1, maxLength: 8192 },
            enabled: { type: 'boolean' },
            global: { type: 'boolean' },
            owner_uuid: { type: 'string', pattern: UUID },
            description: { type: 'string', maxLength: 1024 },
            uuid: { type: 'string', pattern: UUID },
          },
        },
        response: { 201: FwRuleSchema, ...errors(400, 409) },
      },
    },
    async (req, reply) => {
      const rule = makeRecord(req.body as Record<string, unknown>);
      if (host.net.firewall.get(rule.uuid))
        throw new ApiError(409, 'EEXIST', `rule ${rule.uuid} already exists`);
      await host.net.firewall.apply([{ kind: 'added', rule }]);
      return reply.status(201).send(rule);
    },
  );
  app.patch(
    '/v1/fwrules/:uuid',
    {
      schema: {
        summary: 'Change a firewall rule (fwadm update, enable, disable)',
        tags: ['firewall'],
        params: uuidParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            rule: { type: 'string', minLength: 1, maxLength: 8192 },
            enabled: { type: 'boolean' },
            description: { type: 'string', maxLength: 1024 },
          },
        },
        response: { 200: FwRuleSchema, ...errors(400, 404) },
      },
    },
    async (req) => {
      const { uuid } = req.params as { uuid: string };
      const old = host.net.firewall.get(uuid);
      if (!old) throw new ApiError(404, 'ENOENT', `rule ${uuid} does not exist`);
      const rule = makeRecord(req.body as Record<string, unknown>, old);
      await host.net.firewall.apply([{ kind: 'updated', rule, old }]);
      return rule;
    },
  );
  app.delete(
    '/v1/fwrules/:uuid',
    {
      schema: {
        summary: 'Delete a firewall rule (fwadm delete)',
        tags: ['firewall'],
        params: uuidParams,
        response: { 204: DELETED, ...errors(400, 404) },
      },
    },
    async (req, reply) => {
      const { uuid } = req.params as { uuid: string };
      const old = host.net.firewall.get(uuid);
      if (!old) throw new ApiError(404, 'ENOENT', `rule ${uuid} does not exist`);
      await host.net.firewall.apply([{ kind: 'deleted', old }]);
      return reply.status(204).send();
    },
  );

  if (cloud) registerCloudRoutes(app, cloud, errors);

  // ---- Metrics ----
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.text()),
  );

  // ---- The web console ----
  if (opts.webRoot && existsSync(opts.webRoot)) {
    await app.register(fastifyStatic, {
      root: opts.webRoot,
      prefix: '/',
      index: false,
      wildcard: false,
    });
  }
  app.get('/', { schema: { hide: true } }, async (req, reply) => {
    const t = (req.query as { token?: string }).token;
    if (t !== undefined) {
      if (!sameToken(t, opts.token)) return reply.status(401).type('text/plain').send('wrong token\n');
      // The console keeps the token in a cookie only this origin's requests carry.
      return reply
        .header('set-cookie', `${COOKIE}=${encodeURIComponent(t)}; Path=/; HttpOnly; SameSite=Strict`)
        .redirect('/');
    }
    if (opts.webRoot && existsSync(`${opts.webRoot}/index.html`)) return reply.sendFile('index.html');
    return reply.type('text/plain').send('zonixd: the web console is not built (npm run build)\n');
  });

  // Every connection, HTTP or upgraded to a websocket, so that a stop can cut what is left.
  const sockets = new Set<Socket>();
  app.server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });

  events.start().catch((err: unknown) => app.log.error({ err }, 'events'));

  return {
    app,
    events,
    jobs,
    metrics,
    vms: async () => (await vmList()).vms,
    async close() {
      // Websocket clients (events, terminals) are told first; whatever is still open two seconds
      // later (a client that went without closing, a request that does not end) is cut.
      for (const c of app.websocketServer.clients) c.close(1001, 'zonixd is stopping');
      const cut = setTimeout(() => {
        for (const c of app.websocketServer.clients) c.terminate();
        app.server.closeAllConnections();
        // Upgraded sockets are no longer the HTTP server's: cut those too.
        for (const s of sockets) s.destroy();
      }, 2000);
      try {
        await app.close();
      } finally {
        clearTimeout(cut);
      }
      await jobs.drain();
      events.close();
    },
  };
}

async function vmOf(host: Host, req: FastifyRequest): Promise<VmRecord> {
  const { uuid } = req.params as { uuid: string };
  return host.get(uuid);
}

function jobOf(jobs: Jobs, req: FastifyRequest): Job {
  const { uuid } = req.params as { uuid: string };
  const job = jobs.get(uuid);
  if (!job) throw new ApiError(404, 'ENOENT', `job ${uuid} does not exist`);
  return job;
}
