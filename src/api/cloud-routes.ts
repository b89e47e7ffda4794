/**
 * The cloud's networks, packages and accounts in the native API (`/v1/networks`, `/v1/packages`,
 * `/v1/accounts`): what `zonix network|package|account` does, for the operator and the web console
 * (whose create form offers the networks). Bad input is a 400 here, as everywhere in `/v1`.
 * @module
 */
import type { FastifyInstance } from 'fastify';
import { CloudError, type Cloud, type NetworkRequest, type PackageRequest } from '../cloud/index.ts';
import { ApiError } from './errors.ts';

type Errors = (...codes: number[]) => Record<string, unknown>;

const NetworkSchema = {
  type: 'object',
  required: [
    'uuid',
    'name',
    'nic_tag',
    'vlan_id',
    'subnet',
    'provision_start_ip',
    'provision_end_ip',
    'public',
  ],
  properties: {
    uuid: { type: 'string' },
    name: { type: 'string' },
    nic_tag: { type: 'string' },
    vlan_id: { type: 'integer' },
    subnet: { type: 'string' },
    netmask: { type: 'string' },
    gateway: { type: 'string' },
    provision_start_ip: { type: 'string' },
    provision_end_ip: { type: 'string' },
    resolvers: { type: 'array', items: { type: 'string' } },
    routes: { type: 'object', additionalProperties: { type: 'string' } },
    public: { type: 'boolean' },
    owner_uuids: { type: 'array', items: { type: 'string' } },
    description: { type: 'string' },
    created: { type: 'string' },
    free: { type: 'integer', description: 'Addresses of the range not in use' },
  },
};

const PackageSchema = {
  type: 'object',
  required: ['uuid', 'name', 'version', 'memory', 'swap', 'disk', 'vcpus', 'cpu_cap', 'lwps'],
  properties: {
    uuid: { type: 'string' },
    name: { type: 'string' },
    version: { type: 'string' },
    memory: { type: 'integer', description: 'MiB' },
    swap: { type: 'integer', description: 'MiB' },
    disk: { type: 'integer', description: 'MiB' },
    vcpus: { type: 'integer' },
    cpu_cap: { type: 'integer' },
    lwps: { type: 'integer' },
    zfs_io_priority: { type: 'integer' },
    group: { type: 'string' },
    description: { type: 'string' },
    active: { type: 'boolean' },
    builtin: { type: 'boolean' },
  },
};

const AccountSchema = {
  type: 'object',
  required: ['uuid', 'login', 'keys'],
  properties: {
    uuid: { type: 'string' },
    login: { type: 'string' },
    email: { type: 'string' },
    name: { type: 'string' },
    created: { type: 'string' },
    updated: { type: 'string' },
    keys: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'fingerprint'],
        properties: {
          name: { type: 'string' },
          fingerprint: { type: 'string' },
          sha256: { type: 'string' },
          key: { type: 'string' },
          created: { type: 'string' },
        },
      },
    },
  },
};

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.+@-]{0,63}$' } },
};

/** The cloud's errors as the native API gives them: bad input 400, not found 404. */
async function native<T>(f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof CloudError) {
      const status = err.httpStatus === 404 ? 404 : err.httpStatus === 409 ? 400 : err.httpStatus;
      throw new ApiError(status, err.code, err.message);
    }
    throw err;
  }
}

export function registerCloudRoutes(app: FastifyInstance, cloud: Cloud, errors: Errors): void {
  const id = (p: unknown) => (p as { id: string }).id;
  const withFree = async () => {
    const out = [];
    for (const n of cloud.networks.list()) out.push({ ...n, free: await cloud.freeAddresses(n) });
    return out;
  };
  app.get(
    '/v1/networks',
    {
      schema: {
        summary: 'Networks machines get their addresses from (zonix network list)',
        tags: ['cloud'],
        response: { 200: { type: 'array', items: NetworkSchema } },
      },
    },
    async () => withFree(),
  );
  app.get(
    '/v1/networks/:id',
    {
      schema: {
        summary: 'A network, by UUID or name',
        tags: ['cloud'],
        params: idParams,
        response: { 200: NetworkSchema, ...errors(400, 404) },
      },
    },
    async (req) =>
      native(async () => {
        const n = cloud.networks.get(id(req.params));
        return { ...n, free: await cloud.freeAddresses(n) };
      }),
  );
  app.post(
    '/v1/networks',
    {
      schema: {
        summary: 'Add a network on a nic tag or etherstub (zonix network add)',
        tags: ['cloud'],
        body: {
          type: 'object',
          required: ['name', 'nic_tag'],
          additionalProperties: false,
          properties: {
            name: { type: 'string' },
            nic_tag: { type: 'string' },
            vlan_id: { type: 'integer' },
            subnet: { type: 'string' },
            gateway: { type: 'string' },
            provision_start_ip: { type: 'string' },
            provision_end_ip: { type: 'string' },
            resolvers: { type: 'array', items: { type: 'string' } },
            routes: { type: 'object', additionalProperties: { type: 'string' } },
            public: { type: 'boolean' },
            owner_uuids: { type: 'array', items: { type: 'string' } },
            description: { type: 'string' },
          },
        },
        response: { 201: NetworkSchema, ...errors(400) },
      },
    },
    async (req, reply) =>
      reply.status(201).send(await native(() => cloud.networks.add(req.body as NetworkRequest))),
  );
  app.delete(
    '/v1/networks/:id',
    {
      schema: {
        summary: 'Delete a network no NIC uses',
        tags: ['cloud'],
        params: idParams,
        response: { 204: { type: 'null' }, ...errors(400, 404) },
      },
    },
    async (req, reply) => {
      await native(async () => {
        const n = cloud.networks.get(id(req.params));
        cloud.networks.delete(n.uuid, await cloud.addressesOn(n));
      });
      return reply.status(204).send();
    },
  );

  app.get(
    '/v1/packages',
    {
      schema: {
        summary: 'Packages: the limits machines are created with (zonix package list)',
        tags: ['cloud'],
        response: { 200: { type: 'array', items: PackageSchema } },
      },
    },
    async () => cloud.packages.list(),
  );
  app.get(
    '/v1/packages/:id',
    {
      schema: {
        summary: 'A package, by UUID or name',
        tags: ['cloud'],
        params: idParams,
        response: { 200: PackageSchema, ...errors(400, 404) },
      },
    },
    async (req) => native(() => cloud.packages.get(id(req.params))),
  );
  app.post(
    '/v1/packages',
    {
      schema: {
        summary: 'Add a package (zonix package add)',
        tags: ['cloud'],
        body: {
          type: 'object',
          required: ['name', 'memory'],
          additionalProperties: false,
          properties: {
            name: { type: 'string' },
            memory: { type: 'integer' },
            swap: { type: 'integer' },
            disk: { type: 'integer' },
            vcpus: { type: 'integer' },
            cpu_cap: { type: 'integer' },
            lwps: { type: 'integer' },
            zfs_io_priority: { type: 'integer' },
            version: { type: 'string' },
            group: { type: 'string' },
            description: { type: 'string' },
          },
        },
        response: { 201: PackageSchema, ...errors(400) },
      },
    },
    async (req, reply) =>
      reply.status(201).send(await native(() => cloud.packages.add(req.body as PackageRequest))),
  );
  app.delete(
    '/v1/packages/:id',
    {
      schema: {
        summary: 'Delete a package (built-in ones stay)',
        tags: ['cloud'],
        params: idParams,
        response: { 204: { type: 'null' }, ...errors(400, 404) },
      },
    },
    async (req, reply) => {
      await native(() => cloud.packages.delete(id(req.params)));
      return reply.status(204).send();
    },
  );

  app.get(
    '/v1/accounts',
    {
      schema: {
        summary: "CloudAPI's accounts and their keys (zonix account list)",
        tags: ['cloud'],
        response: { 200: { type: 'array', items: AccountSchema } },
      },
    },
    async () => cloud.accounts.list(),
  );
  app.get(
    '/v1/accounts/:id',
    {
      schema: {
        summary: 'An account, by login or UUID',
        tags: ['cloud'],
        params: idParams,
        response: { 200: AccountSchema, ...errors(400, 404) },
      },
    },
    async (req) => native(() => cloud.accounts.get(id(req.params))),
  );
}
