/**
 * The OCI puller against real registries (Debian's docker-registry, pushed to with skopeo), with no auth,
 * htpasswd (Basic) auth and token (Bearer) auth from a token server written here; and local archives
 * (docker save, OCI layout). Images are built here with GNU tar: whiteouts, an opaque dir, symlinks, a
 * hard link, a setuid file, a device node, an empty dir, numeric owners.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import {
  chmod,
  chown,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { run } from '../../src/platform/index.ts';
import {
  dockerImageUuid,
  dockerTags,
  importArchive,
  inspectImage,
  isOciError,
  parseReference,
  pinnedReference,
  pullImage,
  RegistryClient,
  type OciErrorCode,
  type OciImageInfo,
  type PullProgress,
} from '../../src/images/oci/index.ts';
import {
  buildLayer,
  closeServer,
  freePort,
  htpasswdLine,
  listen,
  listTree,
  missingTools,
  pushExact,
  sha256,
  startRegistry,
  startTokenServer,
  writeImage,
  writeIndex,
  writeLayoutIndex,
  type Blob,
  type BuiltLayer,
  type Registry,
  type TokenServer,
} from './helpers-registry.ts';

const isRoot = process.getuid?.() === 0;
const missing = missingTools([
  'docker-registry',
  'skopeo',
  'tar',
  'gzip',
  'zstd',
  'openssl',
  'perl',
  'mknod',
]);
const skip = !isRoot ? 'needs root' : missing.length ? `missing host tools: ${missing.join(', ')}` : false;

const USER = 'zonix';
const PASSWORD = 's3cret-pw';

/** The rootfs the main image must unpack to, exactly. */
const EXPECTED_TREE = [
  'bin d',
  'bin/hello f',
  'data d',
  'data/keep.txt f',
  'data/new.txt f',
  'dev d',
  'dev/null c',
  'etc d',
  'etc/abs-link l',
  'etc/conf d',
  'etc/conf/c.conf f',
  'etc/hostname f',
  'etc/hostname.hard f',
  'lib l',
  'link-to-hostname l',
  'lnkdir d',
  'lnkdir/new.txt f',
  'opt d',
  'realdir d',
  'realdir/keep.txt f',
  'owned.txt f',
  'srv d',
  'srv/three.txt f',
  'usr d',
  'usr/bin d',
  'usr/bin/su-tool f',
  'usr/lib d',
  'usr/lib/merged.txt f',
  'var d',
  'var/empty d',
].sort();

const RUN_CONFIG = {
  Entrypoint: ['/bin/hello'],
  Cmd: ['--greet', 'world'],
  Env: ['PATH=/usr/bin:/bin', 'ZONIX=1'],
  WorkingDir: '/data',
  User: '1234:5678',
  Labels: { 'org.zonix.test': 'yes' },
};

async function put(path: string, content: string, mode?: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
  if (mode !== undefined) await chmod(path, mode);
}

async function newDir(parent: string, name: string): Promise<string> {
  const dir = join(parent, name);
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
  return dir;
}

/** The three layers of the main image: gzip base, zstd with whiteouts, plain tar re-adding a whited-out file. */
async function buildMainLayers(src: string): Promise<BuiltLayer[]> {
  const l1 = await newDir(src, 'l1');
  await put(join(l1, 'bin/hello'), '#!/bin/sh\necho hello\n', 0o755);
  await put(join(l1, 'etc/hostname'), 'zonix\n');
  await link(join(l1, 'etc/hostname'), join(l1, 'etc/hostname.hard'));
  await put(join(l1, 'etc/conf/a.conf'), 'a\n');
  await put(join(l1, 'etc/conf/b.conf'), 'b\n');
  await symlink('/etc', join(l1, 'etc/abs-link'));
  await put(join(l1, 'opt/old/file.txt'), 'old\n');
  await put(join(l1, 'data/keep.txt'), 'keep\n');
  await put(join(l1, 'data/gone.txt'), 'gone\n');
  await put(join(l1, 'usr/bin/su-tool'), 'setuid\n', 0o4755);
  await mkdir(join(l1, 'usr/lib'));
  await symlink('usr/lib', join(l1, 'lib'));
  await symlink('etc/hostname', join(l1, 'link-to-hostname'));
  await put(join(l1, 'realdir/keep.txt'), 'keep\n');
  await symlink('realdir', join(l1, 'lnkdir'));
  await mkdir(join(l1, 'var/empty'), { recursive: true });
  await chmod(join(l1, 'var/empty'), 0o700);
  await mkdir(join(l1, 'dev'));
  await run('mknod', [join(l1, 'dev/null'), 'c', '1', '3']);
  await put(join(l1, 'owned.txt'), 'owned\n');
  await chown(join(l1, 'owned.txt'), 1234, 5678);

  const l2 = await newDir(src, 'l2');
  await put(join(l2, 'data/.wh.gone.txt'), '');
  await put(join(l2, 'data/new.txt'), 'layer2\n');
  await put(join(l2, 'etc/conf/.wh..wh..opq'), '');
  await put(join(l2, 'etc/conf/c.conf'), 'c\n');
  await put(join(l2, 'opt/.wh.old'), '');
  // A directory replacing the lower symlink lnkdir -> realdir: its whiteouts must not reach realdir.
  await put(join(l2, 'lnkdir/.wh..wh..opq'), '');
  await put(join(l2, 'lnkdir/.wh.keep.txt'), '');
  await put(join(l2, 'lnkdir/new.txt'), 'new\n');

  // No directory entries for data/ or lib/: lib/merged.txt goes through the lower layer's lib -> usr/lib.
  const l3 = await newDir(src, 'l3');
  await put(join(l3, 'data/.wh.new.txt'), '');
  await put(join(l3, 'data/new.txt'), 'layer3\n');
  await put(join(l3, 'srv/three.txt'), 'three\n');
  await put(join(l3, 'lib/merged.txt'), 'merged\n');
  return [
    await buildLayer(l1, join(src, 'layer1'), 'gzip'),
    await buildLayer(l2, join(src, 'layer2'), 'zstd'),
    await buildLayer(l3, join(src, 'layer3'), 'none', [
      './data/.wh.new.txt',
      './data/new.txt',
      './srv',
      './lib/merged.txt',
    ]),
  ];
}

/** A one-layer image holding `name` with `content`. */
async function smallLayer(src: string, tag: string, files: Record<string, string>): Promise<BuiltLayer> {
  const dir = await newDir(src, tag);
  for (const [name, content] of Object.entries(files)) await put(join(dir, name), content);
  return buildLayer(dir, join(src, `layer-${tag}`), 'gzip');
}

async function checkMainRootfs(target: string): Promise<void> {
  assert.deepEqual(await listTree(target), EXPECTED_TREE);
  assert.equal(await readFile(join(target, 'data/new.txt'), 'utf8'), 'layer3\n');
  assert.equal(await readFile(join(target, 'etc/conf/c.conf'), 'utf8'), 'c\n');
  assert.equal(await readFile(join(target, 'usr/lib/merged.txt'), 'utf8'), 'merged\n');
  const host = await stat(join(target, 'etc/hostname'));
  const hard = await stat(join(target, 'etc/hostname.hard'));
  assert.equal(hard.ino, host.ino, 'hard link kept');
  assert.equal(host.nlink, 2);
  assert.equal(await readlink(join(target, 'link-to-hostname')), 'etc/hostname');
  assert.equal(await readlink(join(target, 'etc/abs-link')), '/etc');
  assert.equal(await readlink(join(target, 'lib')), 'usr/lib');
  assert.equal((await stat(join(target, 'usr/bin/su-tool'))).mode & 0o7777, 0o4755, 'setuid kept');
  assert.equal((await stat(join(target, 'bin/hello'))).mode & 0o7777, 0o755);
  const empty = await stat(join(target, 'var/empty'));
  assert.equal(empty.mode & 0o7777, 0o700);
  assert.deepEqual(await readdir(join(target, 'var/empty')), []);
  const dev = await lstat(join(target, 'dev/null'));
  assert.ok(dev.isCharacterDevice());
  assert.equal(dev.rdev, (1 << 8) | 3, 'device 1,3');
  const owned = await stat(join(target, 'owned.txt'));
  assert.deepEqual([owned.uid, owned.gid], [1234, 5678], 'numeric owner kept');
}

function checkMainInfo(info: OciImageInfo): void {
  assert.deepEqual(info.config, RUN_CONFIG);
  assert.equal(info.architecture, 'amd64');
  assert.equal(info.os, 'linux');
  assert.equal(info.created, '2024-05-01T12:00:00Z');
  assert.equal(info.layers.length, 3);
  assert.match(info.id, /^sha256:[a-f0-9]{64}$/);
}

async function rejectsWith(p: Promise<unknown>, code: OciErrorCode, message: RegExp): Promise<Error> {
  let caught: unknown;
  await assert.rejects(p, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(isOciError(caught, code), `expected ${code}, got ${String(caught)}`);
  assert.match(caught.message, message);
  return caught;
}

function blobData(storage: string, digest: string): string {
  const hex = digest.slice(7);
  return join(storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

async function skopeoCopy(tmp: string, from: string, to: string, extra: string[] = []): Promise<void> {
  await run(
    'skopeo',
    ['copy', '--insecure-policy', '--quiet', '--dest-tls-verify=false', ...extra, from, `docker://${to}`],
    { timeoutMs: 60_000, env: { ...process.env, TMPDIR: tmp } },
  );
}

describe('OCI image pull and import', { skip, timeout: 120_000 }, () => {
  let root = '';
  let work = '';
  let storage = '';
  let outside = '';
  const registries: Registry[] = [];
  const servers: Server[] = [];
  let plain: Registry;
  let basic: Registry;
  let bearer: Registry;
  let tokens: TokenServer;
  let front = '';
  let redirected = 0;
  let main: { manifest: Blob; config: Blob; layers: BuiltLayer[] };
  let badBlobLayer: BuiltLayer;
  let mainLayout = '';
  let layoutTar = '';
  let saveTar = '';
  let escapeLayout = '';
  let badDiffLayout = '';

  const target = () => mkdtemp(join(root, 'target-'));

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'zt-oci-'));
    work = join(root, 'work');
    storage = join(root, 'storage');
    outside = join(root, 'outside');
    const src = join(root, 'src');
    const skopeoTmp = join(root, 'skopeo-tmp');
    for (const d of [work, storage, outside, src, skopeoTmp]) await mkdir(d, { recursive: true });

    // Images.
    const layers = await buildMainLayers(src);
    mainLayout = join(root, 'layout-main');
    const m = await writeImage(mainLayout, { layers, config: RUN_CONFIG });
    main = { ...m, layers };
    await writeLayoutIndex(mainLayout, [{ name: 'v1', blob: m.manifest }]);

    const layout = join(root, 'layout');
    const amd = await writeImage(layout, {
      layers: [await smallLayer(src, 'amd64', { 'arch.txt': 'amd64\n' })],
    });
    const arm = await writeImage(layout, {
      layers: [await smallLayer(src, 'arm64', { 'arch.txt': 'arm64\n' })],
      architecture: 'arm64',
    });
    const list = await writeIndex(layout, [
      { manifest: arm.manifest, architecture: 'arm64', variant: 'v8' },
      { manifest: amd.manifest, architecture: 'amd64', variant: 'v2' },
    ]);
    badBlobLayer = await smallLayer(src, 'badblob', { 'payload.bin': 'x'.repeat(4096) });
    const badBlob = await writeImage(layout, { layers: [badBlobLayer] });
    const badManifest = await writeImage(layout, {
      layers: [await smallLayer(src, 'badmanifest', { 'm.txt': 'manifest test\n' })],
      annotations: { 'org.zonix.test': 'aaaaaaaa' },
    });
    await writeLayoutIndex(layout, [
      { name: 'multi', blob: list },
      { name: 'small', blob: amd.manifest },
      { name: 'badblob', blob: badBlob.manifest },
      { name: 'badmanifest', blob: badManifest.manifest },
    ]);

    // Registries: one writable without auth; Basic and Bearer ones serve the same storage read-only.
    const htpasswd = join(root, 'htpasswd');
    await writeFile(htpasswd, await htpasswdLine(USER, PASSWORD));
    tokens = await startTokenServer(root, { [USER]: PASSWORD });
    plain = await startRegistry({ dir: root, storage, auth: { kind: 'none' } });
    registries.push(plain);
    basic = await startRegistry({
      dir: root,
      storage,
      auth: { kind: 'htpasswd', file: htpasswd },
      readonly: true,
    });
    registries.push(basic);
    bearer = await startRegistry({
      dir: root,
      storage,
      readonly: true,
      auth: {
        kind: 'token',
        realm: tokens.realm,
        service: tokens.service,
        issuer: tokens.issuer,
        certFile: tokens.certFile,
      },
    });
    registries.push(bearer);

    await Promise.all([
      pushExact(plain.host, 'test/img', 'v1', mainLayout, main.manifest),
      skopeoCopy(skopeoTmp, `oci:${layout}:multi`, `${plain.host}/test/multi:latest`, ['--all']),
      skopeoCopy(skopeoTmp, `oci:${layout}:multi`, `${plain.host}/test/multi:docker`, [
        '--all',
        '--format',
        'v2s2',
      ]),
      skopeoCopy(skopeoTmp, `oci:${layout}:small`, `${plain.host}/test/small:v2s2`, ['--format', 'v2s2']),
      skopeoCopy(skopeoTmp, `oci:${layout}:badblob`, `${plain.host}/test/badblob:v1`),
      skopeoCopy(skopeoTmp, `oci:${layout}:badmanifest`, `${plain.host}/test/badmanifest:v1`),
    ]);

    // A front that redirects blob requests to the plain registry (another origin) and fails for test/broken.
    const frontServer = createServer((req, res) => {
      if (req.url?.includes('/blobs/')) redirected++;
      void serveFront(req, res, plain.host);
    });
    servers.push(frontServer);
    front = `127.0.0.1:${await listen(frontServer)}`;

    // Archives: the main layout as a tar, a docker-save tar of the same image, and two bad images.
    layoutTar = join(root, 'oci-layout.tar');
    await run('tar', ['-C', mainLayout, '-cf', layoutTar, '.']);
    saveTar = await buildDockerSave(root, main);
    escapeLayout = await buildEscapeLayout(src, join(root, 'layout-escape'), outside);
    badDiffLayout = join(root, 'layout-baddiff');
    const good = await smallLayer(src, 'baddiff', { 'f.txt': 'f\n' });
    const bad = await writeImage(badDiffLayout, { layers: [{ ...good, diffId: sha256('something else') }] });
    await writeLayoutIndex(badDiffLayout, [{ name: 'v1', blob: bad.manifest }]);
  });

  after(async () => {
    for (const r of registries) await r.stop();
    for (const s of servers) await closeServer(s);
    await tokens?.close();
    const alive = registries.filter((r) => {
      try {
        process.kill(r.pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    const leftovers = work && existsSync(work) ? await readdir(work) : [];
    if (root) await rm(root, { recursive: true, force: true });
    assert.deepEqual(
      alive.map((r) => r.pid),
      [],
      'registry processes left running',
    );
    assert.deepEqual(leftovers, [], 'temporary files left in tmpDir');
    assert.equal(root !== '' && existsSync(root), false, 'temp dir removed');
  });

  it('pulls an OCI image (gzip, zstd and plain layers) and applies whiteouts, opaque dirs, links and modes', async () => {
    const dir = await target();
    const progress: PullProgress[] = [];
    const info = await pullImage(`${plain.host}/test/img:v1`, dir, {
      tmpDir: work,
      onProgress: (p) => progress.push(p),
    });
    await checkMainRootfs(dir);
    checkMainInfo(info);
    assert.equal(info.reference, `${plain.host}/test/img:v1`);
    assert.equal(info.digest, main.manifest.digest);
    assert.equal(info.manifestDigest, main.manifest.digest);
    assert.equal(info.id, main.config.digest);
    assert.deepEqual(
      info.layers,
      main.layers.map((l) => ({ digest: l.digest, size: l.size, diffId: l.diffId })),
    );
    for (const [i, l] of main.layers.entries()) {
      const last = progress.filter((p) => p.layer === i + 1).at(-1);
      assert.deepEqual(last, { layer: i + 1, layers: 3, bytes: l.size, totalBytes: l.size });
    }
    const tags = dockerTags(info);
    assert.deepEqual(tags, {
      'docker:repo': `${plain.host}/test/img`,
      'docker:tag:v1': true,
      'docker:id': main.config.digest,
      'docker:architecture': 'amd64',
      'docker:config': {
        Cmd: RUN_CONFIG.Cmd,
        Entrypoint: RUN_CONFIG.Entrypoint,
        Env: RUN_CONFIG.Env,
        WorkingDir: RUN_CONFIG.WorkingDir,
      },
    });
    assert.match(dockerImageUuid(info), /^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$/);
  });

  it('pulls by digest, verifying the manifest against it', async () => {
    const dir = await target();
    const info = await pullImage(`${plain.host}/test/img@${main.manifest.digest}`, dir, { tmpDir: work });
    assert.equal(info.digest, main.manifest.digest);
    assert.equal(info.reference, `${plain.host}/test/img@${main.manifest.digest}`);
    assert.deepEqual(await listTree(dir), EXPECTED_TREE);
    assert.equal(dockerTags(info)['docker:repo'], `${plain.host}/test/img`);
  });

  it('pulls a docker schema2 image', async () => {
    const client = new RegistryClient(parseReference(`${plain.host}/test/small:v2s2`));
    const m = await client.getManifest('v2s2');
    assert.equal(m.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    const dir = await target();
    const info = await pullImage(`${plain.host}/test/small:v2s2`, dir, { tmpDir: work });
    assert.equal(await readFile(join(dir, 'arch.txt'), 'utf8'), 'amd64\n');
    assert.equal(info.digest, m.digest);
  });

  for (const [tag, mediaType] of [
    ['latest', 'application/vnd.oci.image.index.v1+json'],
    ['docker', 'application/vnd.docker.distribution.manifest.list.v2+json'],
  ] as const) {
    it(`picks linux/amd64 from a manifest list (${mediaType.split('.').slice(-2).join('.')})`, async () => {
      const client = new RegistryClient(parseReference(`${plain.host}/test/multi:${tag}`));
      const list = await client.getManifest(tag);
      assert.equal(list.mediaType, mediaType);
      const dir = await target();
      const info = await pullImage(`${plain.host}/test/multi:${tag}`, dir, { tmpDir: work });
      assert.equal(await readFile(join(dir, 'arch.txt'), 'utf8'), 'amd64\n');
      assert.equal(info.architecture, 'amd64');
      assert.equal(info.digest, list.digest);
      assert.notEqual(info.manifestDigest, info.digest);
      assert.deepEqual(
        await inspectImage(`${plain.host}/test/multi:${tag}`),
        info,
        'inspect agrees with pull',
      );
      const pinned = pinnedReference(info);
      assert.equal(pinned, `${plain.host}/test/multi:${tag}@${list.digest}`);
      const again = await pullImage(pinned, await target(), { tmpDir: work });
      assert.equal(again.manifestDigest, info.manifestDigest);
      assert.equal(dockerTags(again)[`docker:tag:${tag}`], true);
    });
  }

  it('says which manifest is unknown (404)', async () => {
    const dir = await target();
    const err = await rejectsWith(
      pullImage(`${plain.host}/test/img:nope`, dir, { tmpDir: work }),
      'ManifestUnknown',
      /tag "nope" not found/,
    );
    assert.match(err.message, new RegExp(`${plain.host}/test/img:nope`));
    await rejectsWith(
      pullImage(`${plain.host}/test/nothere:v1`, dir, { tmpDir: work }),
      'ManifestUnknown',
      /test\/nothere:v1/,
    );
    assert.deepEqual(await readdir(dir), []);
  });

  it('fails with DigestMismatch naming the blob when a layer in the registry is corrupt', async () => {
    const file = blobData(storage, badBlobLayer.digest);
    const data = await readFile(file);
    const mid = Math.floor(data.length / 2);
    data[mid] = (data[mid] ?? 0) ^ 0xff;
    await writeFile(file, data);
    const dir = await target();
    const err = await rejectsWith(
      pullImage(`${plain.host}/test/badblob:v1`, dir, { tmpDir: work }),
      'DigestMismatch',
      new RegExp(badBlobLayer.digest),
    );
    assert.match(err.message, /test\/badblob:v1/);
    assert.deepEqual(await readdir(dir), [], 'nothing extracted');
  });

  it('fails with DigestMismatch when a manifest does not hash to its digest', async () => {
    const client = new RegistryClient(parseReference(`${plain.host}/test/badmanifest:v1`));
    const { digest } = await client.getManifest('v1');
    const file = blobData(storage, digest);
    await writeFile(file, (await readFile(file, 'utf8')).replace('aaaaaaaa', 'bbbbbbbb'));
    const dir = await target();
    await rejectsWith(
      pullImage(`${plain.host}/test/badmanifest@${digest}`, dir, { tmpDir: work }),
      'DigestMismatch',
      new RegExp(`manifest ${digest}.*digest mismatch`),
    );
    await rejectsWith(
      pullImage(`${plain.host}/test/badmanifest:v1`, dir, { tmpDir: work }),
      'DigestMismatch',
      new RegExp(digest),
    );
  });

  it('uses Basic auth with htpasswd credentials, and reports 401 for wrong or missing ones', async () => {
    const ref = `${basic.host}/test/small:v2s2`;
    const dir = await target();
    await new RegistryClient(parseReference(ref), { username: USER, password: PASSWORD }).ping();
    await pullImage(ref, dir, { tmpDir: work, username: USER, password: PASSWORD });
    assert.equal(await readFile(join(dir, 'arch.txt'), 'utf8'), 'amd64\n');
    await rejectsWith(
      pullImage(ref, await target(), { tmpDir: work, username: USER, password: 'wrong' }),
      'RegistryUnauthorized',
      /rejected the credentials/,
    );
    await rejectsWith(
      pullImage(ref, await target(), { tmpDir: work }),
      'RegistryUnauthorized',
      /requires authentication/,
    );
  });

  it('uses Bearer tokens from the realm the registry names, and reports 401 for wrong credentials', async () => {
    const ref = `${bearer.host}/test/img:v1`;
    const dir = await target();
    await new RegistryClient(parseReference(ref), { username: USER, password: PASSWORD }).ping();
    tokens.requests.length = 0;
    const info = await pullImage(ref, dir, { tmpDir: work, username: USER, password: PASSWORD });
    await checkMainRootfs(dir);
    checkMainInfo(info);
    assert.ok(
      tokens.requests.some((r) => r.user === USER && r.scope.includes('repository:test/img:pull')),
      JSON.stringify(tokens.requests),
    );
    await rejectsWith(
      pullImage(ref, await target(), { tmpDir: work, username: USER, password: 'wrong' }),
      'RegistryUnauthorized',
      /token server .* refused the credentials/,
    );
    await rejectsWith(
      pullImage(ref, await target(), { tmpDir: work }),
      'RegistryUnauthorized',
      /token server .* refused anonymous access/,
    );
  });

  it('follows blob redirects to another origin, and reports 5xx and unreachable registries', async () => {
    const dir = await target();
    await pullImage(`${front}/test/small:v2s2`, dir, { tmpDir: work });
    assert.equal(await readFile(join(dir, 'arch.txt'), 'utf8'), 'amd64\n');
    assert.equal(redirected, 2, 'config and layer were redirected');
    await rejectsWith(
      pullImage(`${front}/test/broken:v1`, await target(), { tmpDir: work }),
      'RegistryServerError',
      /HTTP 503.*maintenance/,
    );
    const closed = `127.0.0.1:${await freePort()}`;
    await rejectsWith(
      pullImage(`${closed}/test/img:v1`, await target(), { tmpDir: work }),
      'RegistryNetworkError',
      new RegExp(`${closed}.*ECONNREFUSED`),
    );
  });

  it('imports a docker save tarball', async () => {
    const dir = await target();
    const info = await importArchive(saveTar, dir, { tmpDir: work });
    await checkMainRootfs(dir);
    checkMainInfo(info);
    assert.equal(info.reference, 'docker.io/zonix/test:1.0');
    assert.equal(info.id, main.config.digest);
    assert.equal(info.digest, undefined);
    const tags = dockerTags(info);
    assert.equal(tags['docker:repo'], 'zonix/test');
    assert.equal(tags['docker:tag:1.0'], true);
  });

  it('imports an OCI layout, as a tar and as a directory', async () => {
    const dir = await target();
    const info = await importArchive(layoutTar, dir, { tmpDir: work });
    await checkMainRootfs(dir);
    checkMainInfo(info);
    assert.equal(info.digest, main.manifest.digest);
    assert.equal(info.reference, undefined);
    const dir2 = await target();
    const named = await importArchive(mainLayout, dir2, { tmpDir: work, reference: 'zonix/oci:v1' });
    assert.deepEqual(await listTree(dir2), EXPECTED_TREE);
    assert.equal(named.reference, 'docker.io/zonix/oci:v1');
    await rejectsWith(
      importArchive(mainLayout, await target(), { reference: 'zonix/oci:v2' }),
      'InvalidImage',
      /no image named docker.io\/zonix\/oci:v2/,
    );
  });

  it('refuses a layer that would write through a symlink leading out of the rootfs', async () => {
    const dir = await target();
    await rejectsWith(
      importArchive(escapeLayout, dir, { tmpDir: work }),
      'InvalidImage',
      /member ".*escape\/pwned" would be written through symlink "escape"/,
    );
    assert.deepEqual(await readdir(outside), [], 'nothing written outside the rootfs');
  });

  it('checks each layer against its diff_id before touching the rootfs', async () => {
    const dir = await target();
    await rejectsWith(importArchive(badDiffLayout, dir, { tmpDir: work }), 'DigestMismatch', /diff_id/);
    assert.deepEqual(await readdir(dir), []);
  });
});

/** The redirecting front: manifests proxied, blobs redirected to the registry, test/broken failing. */
async function serveFront(req: IncomingMessage, res: ServerResponse, upstream: string): Promise<void> {
  const url = req.url ?? '/';
  if (url === '/v2/') {
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    return;
  }
  if (url.startsWith('/v2/test/broken/')) {
    res.writeHead(503, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'down for maintenance' }] }));
    return;
  }
  const m = /^\/v2\/.+\/(manifests|blobs)\/.+$/.exec(url);
  if (m?.[1] === 'blobs') {
    res.writeHead(307, { Location: `http://${upstream}${url}` }).end();
    return;
  }
  if (m?.[1] === 'manifests') {
    const up = await fetch(`http://${upstream}${url}`, { headers: { Accept: req.headers.accept ?? '' } });
    const body = Buffer.from(await up.arrayBuffer());
    res.writeHead(up.status, {
      'Content-Type': up.headers.get('content-type') ?? 'application/json',
      'Docker-Content-Digest': up.headers.get('docker-content-digest') ?? '',
    });
    res.end(body);
    return;
  }
  res.writeHead(404).end();
}

/** A `docker save` tarball (legacy layout: <id>/layer.tar, <config hex>.json, manifest.json). */
async function buildDockerSave(root: string, image: { config: Blob; layers: BuiltLayer[] }): Promise<string> {
  const dir = join(root, 'save');
  await mkdir(dir);
  const config = await readFile(join(root, 'layout-main/blobs/sha256', image.config.digest.slice(7)));
  await writeFile(join(dir, `${image.config.digest.slice(7)}.json`), config);
  const layers: string[] = [];
  for (const [i, l] of image.layers.entries()) {
    const id = sha256(`layer-${i}`).slice(7);
    await mkdir(join(dir, id));
    await writeFile(join(dir, id, 'layer.tar'), await readFile(l.tar));
    await writeFile(join(dir, id, 'VERSION'), '1.0');
    layers.push(`${id}/layer.tar`);
  }
  await writeFile(
    join(dir, 'manifest.json'),
    JSON.stringify([
      { Config: `${image.config.digest.slice(7)}.json`, RepoTags: ['zonix/test:1.0'], Layers: layers },
    ]),
  );
  const tar = join(root, 'docker-save.tar');
  await run('tar', ['-C', dir, '-cf', tar, '.']);
  return tar;
}

/** Layer 1 has `escape -> <outside>`; layer 2 writes escape/pwned with no directory entry for escape. */
async function buildEscapeLayout(src: string, layout: string, outside: string): Promise<string> {
  const a = await newDir(src, 'esc1');
  await symlink(outside, join(a, 'escape'));
  const b = await newDir(src, 'esc2');
  await put(join(b, 'escape/pwned'), 'pwned\n');
  const layers = [
    await buildLayer(a, join(src, 'layer-esc1'), 'gzip'),
    await buildLayer(b, join(src, 'layer-esc2'), 'gzip', ['./escape/pwned']),
  ];
  const img = await writeImage(layout, { layers });
  await writeLayoutIndex(layout, [{ name: 'v1', blob: img.manifest }]);
  return layout;
}
