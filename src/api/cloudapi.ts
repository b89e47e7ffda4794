/**
 * CloudAPI (Triton's public API, as the `triton` CLI speaks it) over the Cloud: its own fastify app,
 * served at the root of its own listener (the CLI drops any path in its URL). Every request but
 * `/--ping` is signed (HTTP Signature with one of the account's SSH keys); paths are `/:login/...`,
 * `/my/...` standing for the caller. Answers, codes and headers follow the reference
 * (../shared/reference/cloudapi.md): `x-resource-count` on ListMachines, 410 for a deleted machine,
 * tag and metadata values JSON-encoded, `{code, message}` errors.
 * @module
 */
import { randomUUID } from 'node:crypto';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from 'pino';
import semver from 'semver';
import {
  CloudError,
  GoneError,
  verifyRequest,
  type Account,
  type Caller,
  type Cloud,
  type CloudNetwork,
  type Package,
} from '../cloud/index.ts';
import type { FwRuleRecord } from '../net/index.ts';
import { ZonixError } from '../common/index.ts';
import { OneLineLog } from './log.ts';

export const CLOUDAPI_VERSION = '9.0.0';
const VERSIONS = ['7.0.0', '7.1.0', '7.2.0', '7.3.0', '8.0.0', '9.0.0'];

export interface CloudApiOptions {
  cloud: Cloud;
  logger?: Logger;
  https?: { cert: Buffer; key: Buffer };
}

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
}

type Q = Record<string, string | undefined>;

const accountView = (a: Account) => {
  const [first, ...rest] = (a.name ?? '').split(' ');
  return {
    id: a.uuid,
    login: a.login,
    ...(a.email ? { email: a.email } : {}),
    ...(first ? { firstName: first } : {}),
    ...(rest.length ? { lastName: rest.join(' ') } : {}),
    triton_cns_enabled: false,
    created: a.created,
    updated: a.updated,
  };
};

const keyView = (k: { name: string; fingerprint: string; key: string }) => ({
  name: k.name,
  fingerprint: k.fingerprint,
  key: k.key,
});

export const packageView = (p: Package) => ({
  id: p.uuid,
  name: p.name,
  memory: p.memory,
  disk: p.disk,
  swap: p.swap,
  vcpus: p.vcpus,
  lwps: p.lwps,
  version: p.version,
  group: p.group,
  description: p.description,
  default: false,
  cpu_cap: p.cpu_cap,
  zfs_io_priority: p.zfs_io_priority,
});

export const networkView = (n: CloudNetwork) => ({
  id: n.uuid,
  name: n.name,
  public: n.public,
  fabric: false,
  description: n.description,
  subnet: n.subnet,
  netmask: n.netmask,
  ...(n.gateway ? { gateway: n.gateway } : {}),
  provision_start_ip: n.provision_start_ip,
  provision_end_ip: n.provision_end_ip,
  resolvers: n.resolvers,
  ...(n.routes ? { routes: n.routes } : {}),
  vlan_id: n.vlan_id,
  nic_tag: n.nic_tag,
});

const ruleView = (r: FwRuleRecord) => ({
  id: r.uuid,
  rule: r.rule,
  enabled: r.enabled,
  global: r.global === true,
  log: false,
  ...(r.description ? { description: r.description } : {}),
});

/** `?x=1&x=2` gives arrays; CloudAPI's filters are single values (the last one wins). */
function query(req: FastifyRequest): Q {
  const out: Q = {};
  for (const [k, v] of Object.entries((req.query ?? {}) as Record<string, string | string[] | undefined>))
    out[k] = Array.isArray(v) ? v[v.length - 1] : v;
  return out;
}

const body = (req: FastifyRequest): Record<string, unknown> =>
  req.body && typeof req.body === 'object' && !Array.isArray(req.body)
    ? (req.body as Record<string, unknown>)
    : {};

/** A JSON-encoded value (what the CLI parses for a tag or metadata value). */
const json = (reply: FastifyReply, v: unknown) => reply.type('application/json').send(JSON.stringify(v));

export async function buildCloudApi(opts: CloudApiOptions): Promise<FastifyInstance> {
  const { cloud } = opts;
  const logger: FastifyBaseLogger | undefined = opts.logger?.child({ name: 'cloudapi' });
  const app = Fastify({
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    bodyLimit: 1024 * 1024,
    genReqId: () => randomUUID(),
    logController: new OneLineLog(),
    forceCloseConnections: true,
    return503OnClosing: true,
    ...(opts.https ? { https: opts.https } : {}),
  });
  // Bodies are JSON, or nothing at all (a POST the CLI sends empty).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    const s = String(text);
    if (!s.trim()) return done(null, {});
    try {
      done(null, JSON.parse(s));
    } catch {
      done(new CloudError('BadRequest', 'Invalid JSON in the request body'), undefined);
    }
  });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, text, done) =>
    done(null, Object.fromEntries(new URLSearchParams(String(text)))),
  );

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof GoneError) return reply.status(410).send(err.machine);
    let status = 500;
    let code = 'InternalError';
    const message = err.message;
    if (err instanceof CloudError) {
      status = err.httpStatus;
      code = err.code;
    } else if (err instanceof ZonixError) {
      // The VM core's errors: a bad value is CloudAPI's InvalidArgument, a missing thing its 404.
      status = err.httpStatus === 404 ? 404 : err.httpStatus < 500 ? 409 : 500;
      code = status === 404 ? 'ResourceNotFound' : status === 409 ? 'InvalidArgument' : 'InternalError';
    } else if (err.statusCode && err.statusCode < 500) {
      status = err.statusCode;
      code = status === 413 ? 'RequestTooLarge' : status === 404 ? 'ResourceNotFound' : 'BadRequest';
    }
    if (status >= 500) req.log.error({ err }, 'request failed');
    return reply.status(status).send({ code, message });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ code: 'ResourceNotFound', message: `${req.url} does not exist` }),
  );

  const dcHeaders = (reply: FastifyReply) =>
    reply
      .header('api-version', CLOUDAPI_VERSION)
      .header('server', 'zonix-cloudapi')
      .header('triton-datacenter-name', cloud.datacenter);

  // Version, then auth, then the path's account, before any route.
  app.addHook('onRequest', async (req, reply) => {
    dcHeaders(reply);
    const wanted = req.headers['accept-version'] ?? req.headers['api-version'];
    if (typeof wanted === 'string' && wanted !== '*' && !semver.satisfies(CLOUDAPI_VERSION, wanted))
      throw new CloudError(
        'InvalidVersion',
        `${wanted} is not one of the supported versions: ${VERSIONS.join(', ')}`,
      );
    const path = (req.raw.url ?? '/').split('?')[0]!;
    if (path === '/--ping') return;
    // Keys are looked up under the keyId's login (a login, not a uuid).
    req.caller = verifyRequest(req.raw, (login) => {
      const a = cloud.accounts.find(login);
      return a?.login === login ? a : undefined;
    });
    const login = decodeURIComponent(path.split('/')[1] ?? '');
    if (login !== 'my' && login !== req.caller.account.login)
      throw new CloudError('NotAuthorized', `You do not have permission to access ${path}`);
  });

  // The signer's account, as read for its signature.
  const me = (req: FastifyRequest): Account => req.caller!.account;
  const callerInfo = (req: FastifyRequest) => ({
    type: 'signature',
    ip: req.ip,
    keyId: req.caller?.keyId ?? '',
  });

  app.get('/--ping', async () => ({ ping: 'pong', cloudapi: { versions: VERSIONS } }));

  // ---- account, datacenters, services, keys ----
  app.get('/:login', async (req) => accountView(me(req)));
  const selfUrl = (req: FastifyRequest) =>
    `${opts.https ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}`;
  app.get('/:login/datacenters', async (req) => ({ [cloud.datacenter]: selfUrl(req) }));
  app.get('/:login/services', async (req) => ({ cloudapi: selfUrl(req) }));
  app.get('/:login/keys', async (req) => me(req).keys.map(keyView));
  app.get('/:login/keys/:key', async (req) =>
    keyView(cloud.accounts.key(me(req).login, (req.params as { key: string }).key)),
  );
  app.post('/:login/keys', async (req, reply) => {
    const b = body(req);
    if (typeof b.key !== 'string' || !b.key)
      throw new CloudError('MissingParameter', 'key is a required argument');
    const k = await cloud.accounts.addKey(
      me(req).login,
      b.key,
      typeof b.name === 'string' ? b.name : undefined,
    );
    return reply
      .status(201)
      .header('location', `/${me(req).login}/keys/${encodeURIComponent(k.fingerprint)}`)
      .send(keyView(k));
  });
  app.delete('/:login/keys/:key', async (req, reply) => {
    await cloud.accounts.deleteKey(me(req).login, (req.params as { key: string }).key);
    return reply.status(204).send();
  });

  // ---- images, packages, networks ----
  app.get('/:login/images', async (req) => cloud.listImages(me(req), query(req)));
  app.get('/:login/images/:id', async (req) => cloud.getImage(me(req), (req.params as { id: string }).id));
  app.get('/:login/packages', async (req) => {
    const q = query(req);
    const match = (field: string, v: string | number | boolean) => {
      const want = q[field];
      if (want === undefined) return true;
      if (want.includes('*'))
        return new RegExp(`^${want.split('*').map(escape).join('.*')}$`).test(String(v));
      return String(v) === want;
    };
    return cloud
      .packagesFor()
      .map(packageView)
      .filter((p) =>
        ['name', 'memory', 'disk', 'swap', 'lwps', 'version', 'vcpus', 'group'].every((f) =>
          match(f, p[f as keyof typeof p]),
        ),
      );
  });
  app.get('/:login/packages/:id', async (req) => {
    const id = (req.params as { id: string }).id;
    const p = cloud.packagesFor().find((x) => x.uuid === id || x.name === id);
    if (!p) throw new CloudError('ResourceNotFound', `${id} not found`);
    return packageView(p);
  });
  app.get('/:login/networks', async (req) => cloud.networksFor(me(req)).map(networkView));
  app.get('/:login/networks/:id', async (req) => {
    const id = (req.params as { id: string }).id;
    const n = cloud.networksFor(me(req)).find((x) => x.uuid === id || x.name === id);
    if (!n) throw new CloudError('ResourceNotFound', `${id} not found`);
    return networkView(n);
  });

  // ---- machines ----
  const listMachines = async (req: FastifyRequest, reply: FastifyReply) => {
    const q = query(req);
    const limit = q.limit === undefined ? 1000 : Number(q.limit);
    const offset = q.offset === undefined ? 0 : Number(q.offset);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new CloudError('InvalidArgument', `limit must be an integer from 1 to 1000`);
    if (!Number.isInteger(offset) || offset < 0)
      throw new CloudError('InvalidArgument', `offset must be a non-negative integer`);
    // The answer is kept, per account and query, while nothing it shows changes.
    const account = me(req);
    const version = cloud.listVersion();
    const key = `${account.uuid} ${req.raw.url?.split('?')[1] ?? ''}`;
    let hit = version === undefined ? undefined : listCache.get(key);
    if (!hit || hit.version !== version) {
      const page = (await cloud.listMachines(account, q)).slice(offset, offset + limit);
      hit = { version: version ?? '', body: Buffer.from(JSON.stringify(page)), count: page.length };
      if (version !== undefined && cloud.listVersion() === version) {
        if (listCache.size > 1000) listCache.clear();
        listCache.set(key, hit);
      }
    }
    return reply
      .header('x-resource-count', String(hit.count))
      .header('x-query-limit', String(limit))
      .type('application/json')
      .send(hit.body);
  };
  const listCache = new Map<string, { version: string; body: Buffer; count: number }>();
  // HEAD too: fastify answers it from the GET route, headers and all.
  app.get('/:login/machines', listMachines);
  app.post('/:login/machines', async (req, reply) => {
    const m = await cloud.createMachine(me(req), body(req), callerInfo(req));
    return reply
      .status(201)
      .header('location', `/${me(req).login}/machines/${m.id}`)
      .send(m);
  });
  const id = (req: FastifyRequest) => (req.params as { id: string }).id;
  app.get('/:login/machines/:id', async (req) => cloud.getMachine(me(req), id(req)));
  app.post('/:login/machines/:id', async (req, reply) => {
    const b = { ...query(req), ...body(req) };
    await cloud.machineAction(me(req), id(req), b, callerInfo(req));
    return reply.status(202).send();
  });
  app.delete('/:login/machines/:id', async (req, reply) => {
    await cloud.deleteMachine(me(req), id(req), callerInfo(req));
    return reply.status(204).send();
  });
  app.get('/:login/machines/:id/audit', async (req) => {
    await cloud.getMachine(me(req), id(req)).catch((err: unknown) => {
      if (!(err instanceof GoneError)) throw err;
    });
    return cloud.audit(id(req));
  });

  // tags
  app.get('/:login/machines/:id/tags', async (req) => cloud.tags(me(req), id(req)));
  app.get('/:login/machines/:id/tags/:tag', async (req, reply) => {
    const t = (req.params as { tag: string }).tag;
    const tags = await cloud.tags(me(req), id(req));
    if (!(t in tags)) throw new CloudError('ResourceNotFound', `tag "${t}" not found`);
    return json(reply, tags[t]);
  });
  app.post('/:login/machines/:id/tags', async (req) =>
    cloud.setTags(me(req), id(req), body(req), false, callerInfo(req)),
  );
  app.put('/:login/machines/:id/tags', async (req) =>
    cloud.setTags(me(req), id(req), body(req), true, callerInfo(req)),
  );
  app.delete('/:login/machines/:id/tags', async (req, reply) => {
    await cloud.deleteTags(me(req), id(req), undefined, callerInfo(req));
    return reply.status(204).send();
  });
  app.delete('/:login/machines/:id/tags/:tag', async (req, reply) => {
    await cloud.deleteTags(me(req), id(req), (req.params as { tag: string }).tag, callerInfo(req));
    return reply.status(204).send();
  });

  // metadata
  app.get('/:login/machines/:id/metadata', async (req) => cloud.metadata(me(req), id(req)));
  app.get('/:login/machines/:id/metadata/:key', async (req, reply) => {
    const k = (req.params as { key: string }).key;
    const md = await cloud.metadata(me(req), id(req));
    if (!(k in md)) throw new CloudError('ResourceNotFound', `${k} is not metadata`);
    return json(reply, md[k]);
  });
  app.post('/:login/machines/:id/metadata', async (req) =>
    cloud.setMetadata(me(req), id(req), body(req), callerInfo(req)),
  );
  app.delete('/:login/machines/:id/metadata', async (req, reply) => {
    await cloud.deleteMetadata(me(req), id(req), undefined, callerInfo(req));
    return reply.status(204).send();
  });
  app.delete('/:login/machines/:id/metadata/:key', async (req, reply) => {
    await cloud.deleteMetadata(me(req), id(req), (req.params as { key: string }).key, callerInfo(req));
    return reply.status(204).send();
  });

  // snapshots
  const snap = (req: FastifyRequest) => (req.params as { name: string }).name;
  app.get('/:login/machines/:id/snapshots', async (req) => cloud.snapshots(me(req), id(req)));
  app.get('/:login/machines/:id/snapshots/:name', async (req) => cloud.snapshot(me(req), id(req), snap(req)));
  app.post('/:login/machines/:id/snapshots', async (req, reply) => {
    const n = body(req).name;
    const s = await cloud.createSnapshot(
      me(req),
      id(req),
      typeof n === 'string' && n ? n : undefined,
      callerInfo(req),
    );
    return reply
      .status(201)
      .header('location', `/${me(req).login}/machines/${id(req)}/snapshots/${s.name}`)
      .send(s);
  });
  app.post('/:login/machines/:id/snapshots/:name', async (req, reply) => {
    await cloud.startFromSnapshot(me(req), id(req), snap(req), callerInfo(req));
    return reply.status(202).send();
  });
  app.delete('/:login/machines/:id/snapshots/:name', async (req, reply) => {
    await cloud.deleteSnapshot(me(req), id(req), snap(req), callerInfo(req));
    return reply.status(204).send();
  });

  // ---- firewall rules ----
  const rid = (req: FastifyRequest) => (req.params as { rid: string }).rid;
  app.get('/:login/fwrules', async (req) => cloud.fwrules(me(req)).map(ruleView));
  app.get('/:login/fwrules/:rid', async (req) => ruleView(cloud.fwrule(me(req), rid(req))));
  app.post('/:login/fwrules', async (req, reply) =>
    reply.status(201).send(ruleView(await cloud.addFwrule(me(req), body(req)))),
  );
  app.post('/:login/fwrules/:rid', async (req) =>
    ruleView(await cloud.updateFwrule(me(req), rid(req), body(req))),
  );
  app.post('/:login/fwrules/:rid/enable', async (req) =>
    ruleView(await cloud.updateFwrule(me(req), rid(req), { enabled: true })),
  );
  app.post('/:login/fwrules/:rid/disable', async (req) =>
    ruleView(await cloud.updateFwrule(me(req), rid(req), { enabled: false })),
  );
  app.delete('/:login/fwrules/:rid', async (req, reply) => {
    await cloud.deleteFwrule(me(req), rid(req));
    return reply.status(204).send();
  });
  app.get('/:login/machines/:id/fwrules', async (req) => {
    const m = await cloud.getMachine(me(req), id(req));
    return cloud
      .fwrules(me(req))
      .filter(
        (r) =>
          r.global === true ||
          r.rule.includes(m.id) ||
          /\ball vms\b/.test(r.rule) ||
          Object.keys(m.tags).some((t) => r.rule.includes(`tag ${t}`) || r.rule.includes(`tag "${t}"`)),
      )
      .map(ruleView);
  });

  return app;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
