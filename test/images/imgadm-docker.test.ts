/**
 * imgadm with docker images: import from a registry on loopback (Debian's docker-registry, pushed to
 * with skopeo) and install from a docker-save style archive; the image config lands in the manifest.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../src/platform/exec.ts';
import { cli, isRoot, leaks, makeTestEnv, ok, teardown } from '../helpers/host.ts';
import {
  buildLayer,
  missingTools,
  startRegistry,
  writeImage,
  writeLayoutIndex,
  type Registry,
} from './helpers-registry.ts';

const absent = missingTools(['docker-registry', 'skopeo']);
const skip = !isRoot ? 'needs root' : absent.length ? `needs ${absent.join(', ')}` : false;
const RUN = {
  Entrypoint: ['/bin/app'],
  Cmd: ['--serve'],
  Env: ['PATH=/bin', 'MODE=test'],
  WorkingDir: '/srv',
  User: '1000',
};

describe('imgadm docker images', { skip, timeout: 120_000 }, () => {
  const env = makeTestEnv('id');
  const P = `${env.prefix}p`;
  const mnt = join(env.dir, 'mnt');
  let registry: Registry | undefined;
  let layout = '';

  before(async () => {
    await ok('zpool', ['create', '-m', mnt, '-o', 'size=512M', P, join(env.dir, 'pool.img')]);
    // Two layers: a base, then one that deletes a file (whiteout) and adds one.
    const base = join(env.dir, 'l1');
    const upper = join(env.dir, 'l2');
    await mkdir(join(base, 'etc'), { recursive: true });
    await mkdir(join(base, 'bin'), { recursive: true });
    await writeFile(join(base, 'etc/os-release'), 'ID=zonixtest\n');
    await writeFile(join(base, 'etc/old'), 'to be deleted\n');
    await writeFile(join(base, 'bin/app'), '#!/bin/sh\necho app\n', { mode: 0o755 });
    await mkdir(join(upper, 'etc'), { recursive: true });
    await writeFile(join(upper, 'etc/.wh.old'), '');
    await writeFile(join(upper, 'etc/new'), 'added\n');
    await run('ln', ['-s', 'os-release', join(upper, 'etc/link')]);
    const layers = [
      await buildLayer(base, join(env.dir, 'layer1'), 'gzip'),
      await buildLayer(upper, join(env.dir, 'layer2'), 'gzip'),
    ];
    layout = join(env.dir, 'layout');
    const img = await writeImage(layout, { layers, config: RUN });
    await writeLayoutIndex(layout, [{ name: 'v1', blob: img.manifest }]);
    const storage = join(env.dir, 'registry');
    await mkdir(storage, { recursive: true });
    registry = await startRegistry({ dir: env.dir, storage, auth: { kind: 'none' } });
    await run(
      'skopeo',
      [
        'copy',
        '--insecure-policy',
        '--quiet',
        '--dest-tls-verify=false',
        `oci:${layout}:v1`,
        `docker://${registry.host}/zonix/app:v1`,
      ],
      { timeoutMs: 60_000, env: { ...process.env, TMPDIR: env.dir } },
    );
  });

  after(async () => {
    await registry?.stop();
    await teardown(env, [P]);
    assert.deepEqual(leaks(env), []);
  });

  const checkRoot = (uuid: string) => {
    const root = join(mnt, uuid, 'root');
    assert.ok(existsSync(join(root, 'etc/os-release')));
    assert.ok(existsSync(join(root, 'etc/new')));
    assert.equal(existsSync(join(root, 'etc/old')), false, 'whiteout applied');
    assert.equal(existsSync(join(root, 'etc/.wh.old')), false, 'no whiteout marker left');
    assert.equal(readlinkSync(join(root, 'etc/link')), 'os-release');
  };

  it('imports an image from a registry by reference, with its config in the manifest', async () => {
    const ref = `${registry!.host}/zonix/app:v1`;
    const out = await ok('imgadm', ['import', '-P', P, ref]);
    const m = /^Imported image (\S+) \(zonix\/app@v1\) from "docker:\/\/127\.0\.0\.1:\d+"\n$/.exec(
      out.replace(/\(\S+\/zonix\/app@v1\)/, '(zonix/app@v1)'),
    );
    assert.ok(m, out);
    const uuid = m[1]!;
    checkRoot(uuid);
    const got = JSON.parse(await ok('imgadm', ['get', '-P', P, uuid])) as {
      manifest: { type: string; os: string; tags: Record<string, unknown> };
    };
    assert.equal(got.manifest.type, 'docker');
    assert.equal(got.manifest.os, 'linux');
    assert.equal(got.manifest.tags['docker:tag:v1'], true);
    assert.match(String(got.manifest.tags['docker:id']), /^sha256:[0-9a-f]{64}$/);
    const cfg = got.manifest.tags['docker:config'] as Record<string, unknown>;
    assert.deepEqual(cfg.Entrypoint, RUN.Entrypoint);
    assert.deepEqual(cfg.Cmd, RUN.Cmd);
    assert.deepEqual(cfg.Env, RUN.Env);
    assert.equal(cfg.WorkingDir, RUN.WorkingDir);
    // The same image again is a no-op.
    assert.match(await ok('imgadm', ['import', '-P', P, ref]), /is already installed, skipping/);
  });

  it('says clearly when the registry has no such image, and changes nothing', async () => {
    const before = await ok('zfs', ['list', '-H', '-o', 'name', '-r', P]);
    const r = await cli('imgadm', ['import', '-P', P, `${registry!.host}/zonix/nope:v9`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^imgadm: error \(ManifestUnknown\): .*zonix\/nope/);
    const bad = await cli('imgadm', ['import', '-P', P, '127.0.0.1:9/zonix/app:v1']);
    assert.equal(bad.code, 1);
    assert.equal(await ok('zfs', ['list', '-H', '-o', 'name', '-r', P]), before);
  });

  it('installs a docker save / OCI layout archive without a manifest', async () => {
    const tar = join(env.dir, 'layout.tar');
    await run('tar', ['-C', layout, '-cf', tar, '.']);
    const out = await ok('imgadm', ['install', '-P', P, '-f', tar]);
    const uuid = /^Installed image (\S+) /.exec(out)![1]!;
    checkRoot(uuid);
    const got = JSON.parse(await ok('imgadm', ['get', '-P', P, uuid])) as {
      manifest: { type: string; tags: Record<string, unknown> };
    };
    assert.equal(got.manifest.type, 'docker');
    assert.deepEqual((got.manifest.tags['docker:config'] as { Cmd: string[] }).Cmd, RUN.Cmd);
    assert.match(await ok('imgadm', ['install', '-P', P, '-f', tar]), /already installed/);
    await readFile(tar);
  });
});
