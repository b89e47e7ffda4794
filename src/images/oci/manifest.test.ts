import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseChallenges } from './auth.ts';
import { isOciError } from './errors.ts';
import { HOST_PLATFORM, parseConfig, parseManifest, selectPlatform, type ImageIndex } from './manifest.ts';

const D = (c: string) => `sha256:${c.repeat(64)}`;
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('parseManifest', () => {
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: D('a'), size: 10 },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: D('b'), size: 20 }],
  };

  it('reads a docker schema2 manifest', () => {
    const m = parseManifest(json(manifest), undefined, 'm');
    assert.equal(m.kind, 'manifest');
    assert.equal(m.mediaType, manifest.mediaType);
    if (m.kind === 'manifest') assert.deepEqual(m.layers, [manifest.layers[0]]);
  });

  it('takes the media type from Content-Type when the document has none', () => {
    const { mediaType: _, ...bare } = manifest;
    const m = parseManifest(json(bare), 'application/vnd.oci.image.manifest.v1+json; charset=utf-8', 'm');
    assert.equal(m.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  });

  const refusals: [string, unknown, RegExp][] = [
    ['schema1', { schemaVersion: 1, name: 'x', fsLayers: [] }, /schema1 manifests are not supported/],
    [
      'foreign layers',
      {
        ...manifest,
        layers: [
          { mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', digest: D('c'), size: 1 },
        ],
      },
      /foreign layer/,
    ],
    [
      'artifacts that are not images',
      {
        ...manifest,
        config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: D('a'), size: 1 },
      },
      /not a container image/,
    ],
    [
      'sha512 digests',
      { ...manifest, layers: [{ mediaType: 'x', digest: `sha512:${'a'.repeat(128)}`, size: 1 }] },
      /only sha256/,
    ],
    ['a missing size', { ...manifest, layers: [{ mediaType: 'x', digest: D('d') }] }, /no valid size/],
  ];
  for (const [name, doc, message] of refusals) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => parseManifest(json(doc), undefined, 'test manifest'),
        (err: unknown) => isOciError(err, 'InvalidImage') && message.test(err.message),
      );
    });
  }
});

describe('selectPlatform', () => {
  const index: ImageIndex = {
    kind: 'index',
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'm',
        digest: D('1'),
        size: 1,
        platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      },
      { mediaType: 'm', digest: D('2'), size: 1, platform: { os: 'windows', architecture: 'amd64' } },
      {
        mediaType: 'm',
        digest: D('3'),
        size: 1,
        platform: { os: 'linux', architecture: 'amd64', variant: 'v3' },
      },
    ],
  };

  it('picks linux/amd64 whatever its variant or position', () => {
    assert.equal(selectPlatform(index, HOST_PLATFORM, 'x').digest, D('3'));
  });

  it('lists what there is when linux/amd64 is missing', () => {
    const armOnly: ImageIndex = { ...index, manifests: index.manifests.slice(0, 2) };
    assert.throws(
      () => selectPlatform(armOnly, HOST_PLATFORM, 'ref'),
      (err: unknown) =>
        isOciError(err, 'PlatformNotFound') && /has: linux\/arm64\/v8, windows\/amd64/.test(err.message),
    );
  });
});

describe('parseConfig', () => {
  it('keeps the run config and the diff_ids', () => {
    const cfg = parseConfig(
      json({
        architecture: 'amd64',
        os: 'linux',
        config: {
          Cmd: ['sh'],
          Env: ['A=1'],
          WorkingDir: '',
          User: 'nobody',
          Labels: { a: 'b' },
          Volumes: {},
        },
        rootfs: { type: 'layers', diff_ids: [D('e')] },
      }),
      'cfg',
    );
    assert.deepEqual(cfg.config, { Cmd: ['sh'], Env: ['A=1'], User: 'nobody', Labels: { a: 'b' } });
    assert.deepEqual(cfg.diffIds, [D('e')]);
  });

  it('refuses a config without rootfs.diff_ids', () => {
    assert.throws(() => parseConfig(json({ os: 'linux' }), 'cfg'), /cfg: config has no rootfs.diff_ids/);
  });
});

describe('parseChallenges', () => {
  it('reads Bearer parameters, with commas inside quotes', () => {
    assert.deepEqual(
      parseChallenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push"',
      ),
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.docker.io/token',
            service: 'registry.docker.io',
            scope: 'repository:library/alpine:pull,push',
          },
        },
      ],
    );
  });

  it('reads several challenges, unquoted values and escapes', () => {
    assert.deepEqual(
      parseChallenges('Basic realm="a \\"b\\"", Bearer realm=http://x/token , error=invalid_token'),
      [
        { scheme: 'basic', params: { realm: 'a "b"' } },
        { scheme: 'bearer', params: { realm: 'http://x/token', error: 'invalid_token' } },
      ],
    );
    assert.deepEqual(parseChallenges(null), []);
  });
});
