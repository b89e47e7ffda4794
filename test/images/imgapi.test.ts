// IMGAPI end to end: the real server on 127.0.0.1 over an in-memory provider of 2500 synthetic
// manifests and a few real files, queried by the real client; tiny fake servers for the failures.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { ZonixError } from '../../src/common/errors.ts';
import {
  ImgapiClient,
  ImgapiError,
  createImgapiServer,
  type ImageManifest,
  type ImageState,
  type ImgapiProvider,
} from '../../src/images/imgapi/index.ts';

// ---- fixtures

const COUNT = 2500;
const OWNERS = [randomUUID(), randomUUID()] as const;
const T0 = Date.parse('2020-01-01T00:00:00Z');
const NAMES = ['base-64', 'minimal-64', 'ubuntu-24.04'] as const;

function synth(i: number): ImageManifest {
  const state: ImageState = i % 10 === 9 ? 'disabled' : i % 25 === 0 ? 'unactivated' : 'active';
  return {
    v: 2,
    uuid: randomUUID(),
    owner: OWNERS[i % 2],
    name: NAMES[i % 3]!,
    version: `${20200101 + Math.floor(i / 3)}.${i}`,
    type: i % 3 === 2 ? 'lx-dataset' : i % 11 === 0 ? 'zvol' : 'zone-dataset',
    os: i % 3 === 2 ? 'linux' : 'smartos',
    state,
    disabled: state === 'disabled',
    public: i % 7 !== 0,
    // Pairs share a published_at, so the uuid tie-break decides their order. Unactivated images
    // were never published.
    ...(state === 'unactivated'
      ? {}
      : { published_at: new Date(T0 + Math.floor(i / 2) * 60_000).toISOString() }),
    files: [{ sha1: createHash('sha1').update(String(i)).digest('hex'), size: i, compression: 'none' }],
    tags: {
      role: i % 4 === 0 ? 'db' : 'web',
      smartdc_service: i % 40 === 1,
      ...(i % 5 === 0 && { kv: '5.10' }),
    },
  };
}

const manifests = Array.from({ length: COUNT }, (_, i) => synth(i));
const byUuid = new Map(manifests.map((m) => [m.uuid, m]));
const active = manifests.filter((m) => m.state === 'active');
const at = (i: number) => manifests[i]!;
const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');

/** The order IMGAPI promises, computed independently: published_at (ISO strings), then uuid. */
const key = (m: ImageManifest) => `${m.published_at ?? ''} ${m.uuid}`;
const sorted = (ms: ImageManifest[]) => [...ms].sort((a, b) => (key(a) < key(b) ? -1 : 1));
const uuids = (ms: ImageManifest[]) => ms.map((m) => m.uuid);

// Images with real files: [1] 1 MiB + 7 bytes, [2] empty, [3] 3 MiB. [4] breaks (when the test
// says so) after 256 KiB, [5] stalls after 64 KiB, [6] never ends. [7] has no file.
const FILES = new Map<string, Buffer>([
  [at(1).uuid, randomBytes((1 << 20) + 7)],
  [at(2).uuid, Buffer.alloc(0)],
  [at(3).uuid, randomBytes(3 << 20)],
]);
const BROKEN = at(4).uuid;
const STALLED = at(5).uuid;
const ENDLESS = at(6).uuid;
const FAILING = at(8).uuid; // getManifest throws
/** The last provider stream of each broken/stalled/endless file, to break it or see it destroyed. */
const opened = new Map<string, Readable>();

function chunks(first: Buffer, then: 'stall' | 'forever'): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(first);
      } else if (then === 'forever') this.push(randomBytes(64 << 10));
    },
  });
}

let listCalls = 0;
const provider: ImgapiProvider = {
  listManifests: async () => {
    listCalls++;
    return manifests;
  },
  getManifest: async (uuid) => {
    if (uuid === FAILING) throw new Error('provider exploded');
    return byUuid.get(uuid);
  },
  openFile: async (uuid) => {
    const data = FILES.get(uuid);
    if (data) return { stream: Readable.from([data]), size: data.length };
    let stream: Readable;
    if (uuid === BROKEN) stream = chunks(randomBytes(256 << 10), 'stall');
    else if (uuid === STALLED) stream = chunks(randomBytes(64 << 10), 'stall');
    else if (uuid === ENDLESS) stream = chunks(randomBytes(64 << 10), 'forever');
    else return undefined;
    opened.set(uuid, stream);
    return { stream, size: 10 << 20 };
  },
};

// ---- helpers

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A fake server answering every request with `answer`; records the requests. */
function fake(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const seen: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req);
    answer(req, res);
  });
  return { server, seen };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

function isImgapiError(code: string, extra: (e: ImgapiError) => boolean = () => true) {
  return (err: unknown) => {
    assert.ok(err instanceof ImgapiError, `expected ImgapiError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return extra(err);
  };
}

const closed = (s: Readable) =>
  s.destroyed ? Promise.resolve() : new Promise<void>((resolve) => s.once('close', resolve));

// ---- tests

describe('IMGAPI server and client', () => {
  const server = createImgapiServer(provider, { version: '9.9.9' });
  let url = '';
  let client: ImgapiClient;
  const get = (path: string, init?: RequestInit) => fetch(url + path, init);

  before(async () => {
    url = await listen(server);
    client = new ImgapiClient(url, { timeoutMs: 5000 });
  });
  after(() => close(server));

  it('ping', async () => {
    assert.deepEqual(await client.ping(), { ping: 'pong', version: '9.9.9', imgapi: true });
    const body = (await (await get('/ping')).json()) as Record<string, unknown>;
    assert.deepEqual(body, { ping: 'pong', version: '9.9.9', imgapi: true, pid: process.pid });
  });

  it('lists active images by default, in published_at then uuid order, across pages', async () => {
    const got = await client.listImages();
    assert.equal(got.length, active.length);
    assert.deepEqual(uuids(got), uuids(sorted(active)));
  });

  it('pages through all 2500 exactly once, in order, with 3 requests of 1000', async () => {
    listCalls = 0;
    const got = await client.listImages({ state: 'all' });
    assert.equal(listCalls, 3);
    assert.equal(got.length, COUNT);
    assert.equal(new Set(uuids(got)).size, COUNT);
    assert.deepEqual(uuids(got), uuids(sorted(manifests)));
    assert.deepEqual(got[0], sorted(manifests)[0]);
  });

  it('pages in descending order too', async () => {
    const got = await client.listImages({ state: 'all', sort: 'published_at.desc' });
    assert.deepEqual(uuids(got), uuids(sorted(manifests)).reverse());
  });

  const filterCases: [string, Record<string, string>, (m: ImageManifest) => boolean][] = [
    ['state=disabled', { state: 'disabled' }, (m) => m.state === 'disabled'],
    ['state=unactivated', { state: 'unactivated' }, (m) => m.state === 'unactivated'],
    ['name exact', { name: 'base-64' }, (m) => m.state === 'active' && m.name === 'base-64'],
    ['name ~substring', { name: '~mal' }, (m) => m.state === 'active' && m.name === 'minimal-64'],
    ['version exact', { version: at(1).version }, (m) => m.uuid === at(1).uuid],
    ['version ~substring', { version: '~.12' }, (m) => m.state === 'active' && m.version.includes('.12')],
    ['owner', { owner: OWNERS[1] }, (m) => m.state === 'active' && m.owner === OWNERS[1]],
    ['public=true', { public: 'true' }, (m) => m.state === 'active' && m.public === true],
    ['public=false', { public: 'false' }, (m) => m.state === 'active' && m.public === false],
    ['os', { os: 'linux' }, (m) => m.state === 'active' && m.os === 'linux'],
    ['type', { type: 'zvol' }, (m) => m.state === 'active' && m.type === 'zvol'],
    ['type !excluded', { type: '!zone-dataset' }, (m) => m.state === 'active' && m.type !== 'zone-dataset'],
    ['tag string', { 'tag.role': 'db' }, (m) => m.state === 'active' && m.tags?.role === 'db'],
    [
      'tag boolean',
      { 'tag.smartdc_service': 'true' },
      (m) => m.state === 'active' && m.tags?.smartdc_service === true,
    ],
    [
      'two tags',
      { 'tag.role': 'db', 'tag.kv': '5.10' },
      (m) => m.state === 'active' && m.tags?.role === 'db' && m.tags.kv === '5.10',
    ],
    [
      'combined',
      { state: 'all', os: 'smartos', public: 'false' },
      (m) => m.os === 'smartos' && m.public === false,
    ],
    ['channel and account ignored', { channel: 'dev', account: OWNERS[0] }, (m) => m.state === 'active'],
    [
      'marker as a date',
      { marker: '2020-01-01T10:00:00Z' },
      (m) => m.state === 'active' && m.published_at! >= '2020-01-01T10:00:00.000Z',
    ],
  ];
  for (const [label, filters, pred] of filterCases) {
    it(`filter: ${label}`, async () => {
      const want = sorted(manifests.filter(pred));
      assert.ok(want.length > 0, 'the fixture has matches');
      assert.deepEqual(uuids(await client.listImages(filters)), uuids(want));
    });
  }

  it('limit gives one page; a uuid marker starts at that image, inclusive', async () => {
    const all = sorted(active);
    assert.deepEqual(uuids(await client.listImages({ limit: '10' })), uuids(all.slice(0, 10)));
    const mark = all[1234]!.uuid;
    assert.deepEqual(
      uuids(await client.listImages({ marker: mark, limit: '5' })),
      uuids(all.slice(1234, 1239)),
    );
    assert.deepEqual(uuids(await client.listImages({ marker: mark })), uuids(all.slice(1234)));
  });

  it('caps limit at 1000 and answers 422 InvalidParameter for bad values', async () => {
    assert.equal(((await (await get('/images?state=all&limit=5000')).json()) as unknown[]).length, 1000);
    for (const q of [
      'limit=abc',
      'limit=0',
      'state=bogus',
      'public=yes',
      'sort=name',
      'sort=published_at.up',
      'marker=nonsense',
    ]) {
      const res = await get(`/images?${q}`);
      assert.equal(res.status, 422, q);
      const body = (await res.json()) as { code: string; message: string };
      assert.equal(body.code, 'InvalidParameter', q);
      assert.equal(typeof body.message, 'string');
    }
    const res = await get(`/images?marker=${randomUUID()}`);
    assert.equal(res.status, 404);
  });

  it('getImage returns the manifest', async () => {
    assert.deepEqual(await client.getImage(at(42).uuid), at(42));
    assert.deepEqual(await client.getImage(at(9).uuid), at(9)); // disabled images too
  });

  it('an unknown image is ImageNotFound, worded as imgadm words it', async () => {
    const uuid = randomUUID();
    await assert.rejects(
      client.getImage(uuid),
      isImgapiError('ImageNotFound', (e) => {
        assert.equal(e.message, `image "${uuid}" was not found`);
        assert.equal(e.statusCode, 404);
        assert.equal(e.body?.code, 'ResourceNotFound');
        assert.ok(e instanceof ZonixError && e.httpStatus === 404 && e.exitCode === 1);
        return true;
      }),
    );
    const res = await get(`/images/${uuid}`);
    assert.deepEqual(await res.json(), { code: 'ResourceNotFound', message: `image ${uuid} not found` });
  });

  it('a malformed uuid is 422 InvalidParameter (SourceError in the client)', async () => {
    const res = await get('/images/not-a-uuid');
    assert.equal(res.status, 422);
    assert.equal(((await res.json()) as { code: string }).code, 'InvalidParameter');
    await assert.rejects(
      client.getImage('not-a-uuid'),
      isImgapiError('SourceError', (e) => e.statusCode === 422 && e.body?.code === 'InvalidParameter'),
    );
  });

  it('unknown routes are 404 ResourceNotFound, other methods 405 BadMethod', async () => {
    const nf = await get('/nope');
    assert.equal(nf.status, 404);
    assert.deepEqual(await nf.json(), { code: 'ResourceNotFound', message: '/nope does not exist' });
    const bm = await get('/images', { method: 'POST', body: '{}' });
    assert.equal(bm.status, 405);
    assert.equal(bm.headers.get('allow'), 'GET, HEAD');
    assert.deepEqual(await bm.json(), { code: 'BadMethod', message: 'POST is not allowed' });
    const del = await get('/images/not-a-uuid', { method: 'DELETE' });
    assert.equal(del.status, 405);
    assert.equal(((await del.json()) as { code: string }).code, 'BadMethod');
  });

  it('HEAD answers the GET headers without a body', async () => {
    for (const path of ['/ping', '/images?limit=3', `/images/${at(1).uuid}`, `/images/${at(1).uuid}/file`]) {
      const h = await get(path, { method: 'HEAD' });
      const g = await get(path);
      const body = Buffer.from(await g.arrayBuffer());
      assert.equal(h.status, 200, path);
      assert.equal(h.headers.get('content-type'), g.headers.get('content-type'), path);
      assert.equal(Number(h.headers.get('content-length')), body.length, path);
      assert.equal((await h.arrayBuffer()).byteLength, 0, path);
    }
  });

  it('a failing provider gives 500 InternalError and the server keeps serving', async () => {
    await assert.rejects(
      client.getImage(FAILING),
      isImgapiError('SourceError', (e) => e.statusCode === 500 && e.body?.code === 'InternalError'),
    );
    assert.equal((await client.ping()).ping, 'pong');
  });

  it('getImageFile streams the exact bytes', async () => {
    for (const [uuid, data] of FILES) {
      const { stream, size } = await client.getImageFile(uuid);
      assert.equal(size, data.length);
      const got = await readAll(stream);
      assert.equal(got.length, data.length);
      assert.equal(sha1(got), sha1(data));
    }
    const res = await get(`/images/${at(1).uuid}/file`);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    await res.arrayBuffer();
  });

  it('no file, or no image, is a DownloadError carrying the 404', async () => {
    for (const uuid of [at(7).uuid, randomUUID()]) {
      await assert.rejects(
        client.getImageFile(uuid),
        isImgapiError('DownloadError', (e) => e.statusCode === 404 && e.body?.code === 'ResourceNotFound'),
      );
    }
    await assert.rejects(
      client.getImageFile(at(1).uuid, 1),
      isImgapiError('DownloadError', (e) => e.statusCode === 404),
    );
  });

  it('a provider stream failing midway breaks the client stream with a DownloadError', async () => {
    const { stream, size } = await client.getImageFile(BROKEN);
    assert.equal(size, 10 << 20);
    const chunks = stream[Symbol.asyncIterator]();
    assert.equal((await chunks.next()).done, false);
    opened.get(BROKEN)!.destroy(new Error('disk on fire'));
    const drain = async () => {
      while (!(await chunks.next()).done);
    };
    await assert.rejects(
      drain(),
      isImgapiError('DownloadError', (e) => !e.timedOut && /connection broke/.test(e.message)),
    );
    assert.equal((await client.ping()).ping, 'pong');
  });

  it('a stalled download fails after the idle timeout, and the server drops the provider stream', async () => {
    const quick = new ImgapiClient(url, { timeoutMs: 300 });
    const { stream } = await quick.getImageFile(STALLED);
    const t0 = Date.now();
    await assert.rejects(
      readAll(stream),
      isImgapiError('DownloadError', (e) => e.timedOut),
    );
    assert.ok(Date.now() - t0 < 2000);
    await closed(opened.get(STALLED)!);
  });

  it('a client leaving midway destroys the provider stream', async () => {
    const { stream } = await client.getImageFile(ENDLESS);
    for await (const chunk of stream) {
      assert.ok((chunk as Buffer).length > 0);
      break; // destroys the stream
    }
    await closed(opened.get(ENDLESS)!);
    assert.equal((await client.ping()).ping, 'pong');
  });
});

describe('IMGAPI client against other servers', () => {
  const servers: http.Server[] = [];
  const start = async (s: http.Server) => {
    servers.push(s);
    return listen(s);
  };
  after(() => Promise.all(servers.map(close)));

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  it('SourcePing for 200 non-JSON, JSON without imgapi:true, and a 500', async () => {
    const answers: [string, (res: http.ServerResponse) => void][] = [
      ['non-JSON', (res) => res.end('<html>hello</html>')],
      ['no imgapi', (res) => json(res, 200, { ping: 'pong' })],
      ['imgapi false', (res) => json(res, 200, { ping: 'pong', imgapi: false })],
      ['500', (res) => json(res, 500, { code: 'InternalError', message: 'boom' })],
    ];
    for (const [label, answer] of answers) {
      const base = await start(fake((_req, res) => answer(res)).server);
      await assert.rejects(
        new ImgapiClient(base).ping(),
        isImgapiError('SourcePing', (e) => {
          assert.ok(
            e.message.startsWith(`unexpected ping error with image source "${base}" (imgapi): `),
            label,
          );
          return true;
        }),
      );
    }
  });

  it('SourcePing for a closed port', async () => {
    const s = http.createServer();
    const base = await listen(s);
    await close(s);
    await assert.rejects(
      new ImgapiClient(base).ping(),
      isImgapiError('SourcePing', (e) => /ECONNREFUSED/.test(e.message)),
    );
    await assert.rejects(new ImgapiClient(base).getImage(randomUUID()), isImgapiError('SourceError'));
  });

  it('a server that never answers fails every request within the timeout', async () => {
    const base = await start(fake(() => undefined).server);
    const c = new ImgapiClient(base, { timeoutMs: 250 });
    const calls: [string, () => Promise<unknown>, string][] = [
      ['ping', () => c.ping(), 'SourcePing'],
      ['listImages', () => c.listImages(), 'SourceError'],
      ['getImage', () => c.getImage(randomUUID()), 'SourceError'],
      ['getImageFile', () => c.getImageFile(randomUUID()), 'DownloadError'],
    ];
    for (const [label, call, code] of calls) {
      const t0 = Date.now();
      await assert.rejects(
        call(),
        isImgapiError(code, (e) => e.timedOut),
      );
      const took = Date.now() - t0;
      assert.ok(took >= 200 && took < 1500, `${label} took ${took} ms`);
    }
  });

  it('sends Accept-Version ~2, extra headers, and the source URL path and query', async () => {
    const { server, seen } = fake((_req, res) => json(res, 200, { ping: 'pong', imgapi: true }));
    const base = await start(server);
    const c = new ImgapiClient(`${base}/prefix/?channel=dev`, { headers: { 'x-test': 'yes' } });
    assert.deepEqual(await c.ping(), { ping: 'pong', imgapi: true });
    const req = seen[0]!;
    assert.equal(req.url, '/prefix/ping?channel=dev');
    assert.equal(req.headers['accept-version'], '~2');
    assert.equal(req.headers['x-test'], 'yes');
  });

  it('paging stops against a server that ignores marker (or limit)', async () => {
    const many = Array.from({ length: 1500 }, (_, i) => synth(i));
    const page = many.slice(0, 1000);
    const ignoresMarker = fake((_req, res) => json(res, 200, page));
    const got = await new ImgapiClient(await start(ignoresMarker.server)).listImages();
    assert.deepEqual(uuids(got), uuids(page));
    assert.equal(ignoresMarker.seen.length, 2);

    const ignoresAll = fake((_req, res) => json(res, 200, many));
    const got2 = await new ImgapiClient(await start(ignoresAll.server)).listImages();
    assert.deepEqual(uuids(got2), uuids(many));
    assert.equal(ignoresAll.seen.length, 2);
  });

  it('a list answer that is not a list of images is a SourceError', async () => {
    const base = await start(fake((_req, res) => json(res, 200, { not: 'a list' })).server);
    await assert.rejects(
      new ImgapiClient(base).listImages(),
      isImgapiError('SourceError', (e) => e.statusCode === 200),
    );
  });

  it('a bad source URL is a SourceError', () => {
    assert.throws(() => new ImgapiClient('ftp://example.com'), isImgapiError('SourceError'));
    assert.throws(() => new ImgapiClient('not a url'), isImgapiError('SourceError'));
  });
});
