/**
 * imgadm for real: a pool on a loop file, the built-in minimal image, installs from files in every
 * compression, the checks that refuse bad files, and the clean-up after an interrupted install.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, isRoot, leaks, makeTestEnv, ok, teardown, ROOT } from '../helpers/host.ts';

describe('imgadm', { skip: isRoot ? false : 'needs root' }, () => {
  const env = makeTestEnv('im');
  const P = `${env.prefix}p`;
  const mnt = join(env.dir, 'mnt');
  let minimal = '';

  const sha1 = (file: string) => createHash('sha1').update(readFileSync(file)).digest('hex');
  const manifest = (extra: Record<string, unknown>): Record<string, unknown> & { uuid: string } => ({
    v: 2,
    uuid: randomUUID(),
    name: 'test-image',
    version: '1.0.0',
    type: 'zone-dataset',
    os: 'other',
    published_at: '2026-11-20T10:00:00Z',
    ...extra,
  });
  const writeManifest = (m: object) => {
    const f = join(env.dir, `${randomUUID()}.json`);
    writeFileSync(f, JSON.stringify(m));
    return f;
  };
  const withFile = (m: Record<string, unknown> & { uuid: string }, file: string, compression: string) => ({
    ...m,
    files: [{ sha1: sha1(file), size: statSync(file).size, compression }],
  });
  const datasets = async () =>
    (await ok('zfs', ['list', '-H', '-o', 'name', '-t', 'all', '-r', P])).trim().split('\n');

  before(async () => {
    await ok('zpool', ['create', '-m', mnt, '-o', 'size=1G', P, join(env.dir, 'pool.img')]);
  });

  after(async () => {
    await teardown(env, [P]);
    assert.deepEqual(leaks(env), []);
  });

  const im = (args: string[], opts = {}) => cli('imgadm', args, opts);

  it('lists the built-in minimal image as available, with SmartOS columns', async () => {
    const out = await ok('imgadm', ['avail']);
    const [head, ...rows] = out.trimEnd().split('\n');
    assert.match(head!, /^UUID\s+NAME\s+VERSION\s+OS\s+TYPE\s+PUB$/);
    const row = rows.find((r) => /\sminimal\s/.test(r));
    assert.match(row!, /^[0-9a-f-]{36}\s+minimal\s+\S+\s+other\s+zone-dataset\s+\d{4}-\d{2}-\d{2}$/);
    // debian-12 and debian-12-cloudinit are offered wherever debootstrap is installed, the small
    // kvm guest (a zvol image) wherever its tools are.
    for (const r of rows) assert.match(r, /\s(minimal|debian-12|debian-12-cloudinit|zonix-guest)\s/);
    const guest = rows.find((r) => /\szonix-guest\s/.test(r));
    if (guest) assert.match(guest, /^[0-9a-f-]{36}\s+zonix-guest\s+\S+\s+linux\s+zvol\s+\d{4}-\d{2}-\d{2}$/);
    minimal = row!.split(/\s+/)[0]!;
  });

  it('imports minimal in well under a second into <pool>/<uuid>@final, and a second import is a no-op', async () => {
    const t = Date.now();
    const out = await ok('imgadm', ['import', '-P', P, 'minimal']);
    assert.ok(Date.now() - t < 5000);
    assert.equal(
      out,
      `Imported image ${minimal} (minimal@${out.split('@')[1]!.split(')')[0]!}) from "builtin"\n`,
    );
    assert.ok((await datasets()).includes(`${P}/${minimal}@final`));
    const root = join(mnt, minimal, 'root');
    for (const f of ['bin/sh', 'sbin/init', 'etc/inittab', 'etc/rc', 'etc/passwd', 'tmp', 'native'])
      assert.ok(existsSync(join(root, f)), f);
    assert.equal(statSync(join(root, 'tmp')).mode & 0o7777, 0o1777);
    const sh = spawnSync('chroot', [root, '/bin/sh', '-c', 'echo hello from $(basename $0)'], {
      encoding: 'utf8',
    });
    assert.equal(sh.stdout, 'hello from sh\n');
    const again = await ok('imgadm', ['import', '-P', P, minimal]);
    assert.match(again, /is already installed, skipping\n$/);
  });

  it("an install syncs the image's files to disk before it records the image as installed", async () => {
    await ok('imgadm', ['delete', '-P', P, minimal]);
    const r = spawnSync(join(ROOT, 'bin', 'imgadm'), ['import', '-P', P, 'minimal'], {
      encoding: 'utf8',
      env: { ...process.env, ZONIX_TRACE: '1' },
    });
    assert.equal(r.status, 0, r.stderr);
    // The host commands in order: the snapshot that makes the image, then the sync of its filesystem.
    const cmds = r.stderr.split('\n').filter((l) => l.startsWith('[zonix] '));
    const snap = cmds.findIndex((l) => /btrfs subvolume snapshot -r |cp /.test(l));
    const sync = cmds.findIndex((l) => /^\[zonix\] sync -f \S+ -> 0 /.test(l));
    assert.ok(snap >= 0 && sync > snap, cmds.join('\n'));
    assert.match(await ok('imgadm', ['list', '-P', P, '-H', '-o', 'uuid']), new RegExp(`^${minimal}\n$`));
  });

  it('list, get and their options', async () => {
    const list = await ok('imgadm', ['list', '-P', P]);
    assert.match(
      list,
      new RegExp(`^UUID\\s+NAME\\s+VERSION\\s+OS\\s+TYPE\\s+PUB\\n${minimal}\\s+minimal\\s`),
    );
    assert.equal(await ok('imgadm', ['list', '-P', P, '-H', '-o', 'name,type']), 'minimal\tzone-dataset\n');
    const j = JSON.parse(await ok('imgadm', ['list', '-P', P, '-j'])) as {
      manifest: { uuid: string };
      zpool: string;
    }[];
    assert.equal(j[0]!.manifest.uuid, minimal);
    assert.equal(j[0]!.zpool, P);
    assert.equal(await ok('imgadm', ['list', '-P', P, '-H', '-o', 'uuid', 'name=nope']), '');
    assert.equal(await ok('imgadm', ['list', '-P', P, '-H', '-o', 'name', 'name=~mini']), 'minimal\n');
    const got = JSON.parse(await ok('imgadm', ['get', '-P', P, minimal])) as {
      manifest: { name: string };
      zpool: string;
    };
    assert.equal(got.manifest.name, 'minimal');
    assert.equal(got.zpool, P);
    const missing = randomUUID();
    const r = await im(['get', '-P', P, missing]);
    assert.equal(r.code, 3);
    assert.equal(
      r.stderr,
      `imgadm: error (ImageNotInstalled): image "${missing}" was not found on zpool "${P}"\n`,
    );
    const bad = await im(['list', '-P', P, 'nonsense']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid filter: "nonsense"/);
    const u = await im(['frobnicate']);
    assert.equal(u.code, 2);
  });

  it('installs from a file: dataset streams and tarballs, in every compression', async () => {
    // A dataset stream of the minimal image, and a root-filesystem tarball of it.
    const stream = join(env.dir, 'minimal.zfs');
    await ok('zfs', ['send', `${P}/${minimal}@final`], { stdoutFile: stream });
    const tarball = join(env.dir, 'minimal.tar');
    assert.equal(spawnSync('tar', ['-C', join(mnt, minimal, 'root'), '-cf', tarball, '.']).status, 0);
    for (const [tool, compression] of [
      ['gzip', 'gzip'],
      ['bzip2', 'bzip2'],
      ['xz', 'xz'],
      ['zstd', 'zstd'],
      ['', 'none'],
    ] as const) {
      for (const src of [stream, tarball]) {
        let file = src;
        if (tool) {
          file = `${src}.${compression}`;
          assert.equal(spawnSync('sh', ['-c', `${tool} -c < ${src} > ${file}`]).status, 0);
        }
        const m = withFile(manifest({ name: `from-${compression}` }), file, compression);
        const out = await ok('imgadm', ['install', '-P', P, '-m', writeManifest(m), '-f', file]);
        assert.equal(out, `Installed image ${m.uuid} (from-${compression}@1.0.0)\n`);
        const root = join(mnt, m.uuid, 'root');
        assert.deepEqual(
          readFileSync(join(root, 'etc/inittab')),
          readFileSync(join(mnt, minimal, 'root/etc/inittab')),
        );
        await ok('imgadm', ['delete', '-P', P, m.uuid]);
      }
    }
    // No files[] in the manifest: the compression is sniffed, nothing to check against.
    const gz = `${tarball}.gzip`;
    const m = manifest({ name: 'sniffed', type: 'lx-dataset', os: 'linux' });
    await ok('imgadm', ['install', '-P', P, '-m', writeManifest(m), '-f', gz]);
    assert.ok(existsSync(join(mnt, m.uuid, 'root/bin/busybox')));
    await ok('imgadm', ['delete', '-P', P, m.uuid]);
  });

  it('refuses bad files and manifests with a clear message, leaving the pool exactly as it was', async () => {
    const before = await datasets();
    const file = join(env.dir, 'minimal.tar.gzip');
    const good = withFile(manifest({}), file, 'gzip');
    const cases: [object, string, RegExp, number][] = [
      [
        { ...good, files: [{ ...good.files[0]!, sha1: 'a'.repeat(40) }] },
        file,
        /\(DownloadError\): .*sha1 mismatch/,
        1,
      ],
      [
        { ...good, files: [{ ...good.files[0]!, size: good.files[0]!.size + 100 }] },
        file,
        /\(DownloadError\): .*size mismatch/,
        1,
      ],
      [
        { ...good, files: [{ ...good.files[0]!, size: 100 }] },
        file,
        /\(DownloadError\): .*more data than/,
        1,
      ],
      [{ ...good, name: 'bad name!' }, file, /\(ManifestValidation\): invalid image manifest: name: /, 1],
      [{ ...good, v: 1, type: 'floppy' }, file, /v: must be 2; type: must be one of/, 1],
      [{ ...good, uuid: 'not-a-uuid' }, file, /uuid: must be a lowercase UUID/, 1],
      [
        { ...good, files: [{ ...good.files[0]!, compression: 'gzip' }] },
        join(env.dir, 'nope'),
        /does not exist/,
        1,
      ],
    ];
    for (const [m, f, re, code] of cases) {
      const r = await im(['install', '-P', P, '-m', writeManifest(m), '-f', f]);
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, re);
    }
    // A truncated file, and one that is not an image at all.
    const cut = join(env.dir, 'cut.gz');
    const data = readFileSync(file);
    writeFileSync(cut, data.subarray(0, data.length >> 1));
    let r = await im(['install', '-P', P, '-m', writeManifest(manifest({})), '-f', cut]);
    assert.equal(r.code, 1);
    const junk = join(env.dir, 'junk');
    writeFileSync(junk, randomBytes(4096));
    r = await im(['install', '-P', P, '-m', writeManifest(manifest({})), '-f', junk]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /neither a dataset stream \(zfs send\) nor a tar archive/);
    r = await im(['install', '-P', P, '-m', join(env.dir, 'missing.json'), '-f', junk]);
    assert.match(r.stderr, /\(InvalidManifest\): cannot read manifest/);
    assert.deepEqual(await datasets(), before);
    assert.equal((await ok('imgadm', ['list', '-P', P, '-H', '-o', 'name'])).trim(), 'minimal');
  });

  it('a pool that fills up during an install says so and is left as it was', async () => {
    const small = `${env.prefix}s`;
    await ok('zpool', [
      'create',
      '-m',
      join(env.dir, 'small'),
      '-o',
      'size=160M',
      small,
      join(env.dir, 'small.img'),
    ]);
    try {
      const big = join(env.dir, 'too-big');
      mkdirSync(big);
      writeFileSync(join(big, 'blob'), randomBytes(200 << 20));
      const tar = join(env.dir, 'too-big.tar');
      assert.equal(spawnSync('tar', ['-C', big, '-cf', tar, '.']).status, 0);
      const before = await ok('zfs', ['list', '-H', '-o', 'name', '-t', 'all', '-r', small]);
      const m = manifest({ name: 'too-big' });
      const r = await im(['install', '-P', small, '-m', writeManifest(m), '-f', tar]);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        `imgadm: error (ImportError): cannot install image ${m.uuid} (too-big@1.0.0): pool "${small}" is out of space\n`,
      );
      assert.equal(await ok('zfs', ['list', '-H', '-o', 'name', '-t', 'all', '-r', small]), before);
      assert.equal(await ok('imgadm', ['list', '-P', small, '-H']), '');
    } finally {
      await ok('zpool', ['destroy', small]);
    }
  });

  it('an install killed midway is cleaned up by the next imgadm command', async () => {
    const big = join(env.dir, 'big-root');
    mkdirSync(big);
    writeFileSync(join(big, 'blob'), randomBytes(48 << 20));
    const tar = join(env.dir, 'big.tar');
    assert.equal(spawnSync('tar', ['-C', big, '-cf', tar, '.']).status, 0);
    const m = manifest({ name: 'killed' });
    const child = spawn(
      join(ROOT, 'bin', 'imgadm'),
      ['install', '-P', P, '-m', writeManifest(m), '-f', '/dev/stdin'],
      {
        stdio: ['pipe', 'ignore', 'ignore'],
      },
    );
    const closed = new Promise((r) => child.on('close', r));
    child.stdin.on('error', () => undefined);
    child.stdin.write(readFileSync(tar).subarray(0, 20 << 20));
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGKILL');
    await closed;
    assert.equal((await ok('imgadm', ['list', '-P', P, '-H', '-o', 'name'])).trim(), 'minimal');
    await ok('imgadm', ['vacuum', '-P', P, '-n']);
    const ds = await datasets();
    assert.ok(!ds.some((d) => d.includes(m.uuid)), `left behind: ${ds.join(' ')}`);
  });

  it('delete refuses while a clone exists; vacuum deletes only unused images', async () => {
    const vm = `${P}/${randomUUID()}`;
    await ok('zfs', ['clone', `${P}/${minimal}@final`, vm]);
    const r = await im(['delete', '-P', P, minimal]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `\\(ImageHasDependentClones\\): image ${minimal} \\(minimal@.*\\) has dependent clones: ${vm}`,
      ),
    );
    const spare = withFile(manifest({ name: 'spare' }), join(env.dir, 'minimal.tar.gzip'), 'gzip');
    await ok('imgadm', [
      'install',
      '-P',
      P,
      '-m',
      writeManifest(spare),
      '-f',
      join(env.dir, 'minimal.tar.gzip'),
    ]);
    assert.equal(
      await ok('imgadm', ['vacuum', '-P', P, '-n']),
      `Would delete image ${spare.uuid} (spare@1.0.0)\n`,
    );
    assert.equal(
      await ok('imgadm', ['vacuum', '-P', P, '-f']),
      `Deleted image ${spare.uuid} (spare@1.0.0)\n`,
    );
    assert.equal((await ok('imgadm', ['list', '-P', P, '-H', '-o', 'name'])).trim(), 'minimal');
    await ok('zfs', ['destroy', vm]);
    assert.match(await ok('imgadm', ['delete', '-P', P, minimal]), /^Deleted image /);
    assert.deepEqual(readdirSync(mnt), []);
  });

  it('sources: the built-in one is always there; an unreachable IMGAPI source is refused', async () => {
    assert.equal(await ok('imgadm', ['sources']), 'builtin\n');
    const r = await im(['sources', '-a', 'http://127.0.0.1:9/']);
    assert.equal(r.code, 1);
    assert.equal(await ok('imgadm', ['sources']), 'builtin\n');
    const bad = await im(['sources', '-a', 'ftp://example']);
    assert.equal(bad.code, 2);
  });
});

describe(
  'imgadm over IMGAPI: one host serves its images, another imports them',
  { skip: isRoot ? false : 'needs root' },
  () => {
    const env = makeTestEnv('ia');
    const A = `${env.prefix}a`;
    const B = `${env.prefix}b`;
    let server: ReturnType<typeof spawn> | undefined;
    let url = '';

    before(async () => {
      for (const p of [A, B])
        await ok('zpool', [
          'create',
          '-m',
          join(env.dir, p),
          '-o',
          'size=512M',
          p,
          join(env.dir, `${p}.img`),
        ]);
      await ok('imgadm', ['import', '-P', A, 'minimal']);
      server = spawn(join(ROOT, 'bin', 'imgadm'), ['serve', '-P', A, '-p', '0'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      url = await new Promise<string>((resolve, reject) => {
        server!.stdout!.on('data', (d: Buffer) => {
          const m = /at (http:\/\/\S+)/.exec(d.toString());
          if (m) resolve(m[1]!);
        });
        server!.on('close', () => reject(new Error('imgadm serve exited')));
      });
    });

    after(async () => {
      if (server && server.exitCode === null) {
        const closed = new Promise((r) => server!.on('close', r));
        server.kill('SIGTERM');
        await closed;
      }
      await teardown(env, [A, B]);
      assert.deepEqual(leaks(env), []);
    });

    it('adds the source, lists its images, imports one with its checks, and deletes the source', async () => {
      assert.equal(
        await ok('imgadm', ['sources', '-P', B, '-a', url]),
        `Added "imgapi" image source "${url}"\n`,
      );
      assert.equal(await ok('imgadm', ['sources', '-P', B]), `builtin\n${url}\n`);
      const avail = await ok('imgadm', ['avail', '-P', B, '-H', '-o', 'uuid,name,source']);
      const served = avail.split('\n').filter((l) => l.endsWith(url));
      assert.equal(served.length, 1);
      const uuid = served[0]!.split('\t')[0]!;
      const listed = JSON.parse(await ok('imgadm', ['avail', '-P', B, '-j'])) as {
        manifest: { uuid: string; files?: { sha1: string; size: number; compression: string }[] };
        source: string;
      }[];
      const entry = listed.find((r) => r.source === url)!;
      assert.equal(entry.manifest.uuid, uuid);
      assert.match(entry.manifest.files![0]!.sha1, /^[0-9a-f]{40}$/);
      assert.equal(entry.manifest.files![0]!.compression, 'gzip');
      const out = await ok('imgadm', ['import', '-P', B, '-S', url, uuid]);
      assert.equal(
        out,
        `Imported image ${uuid} (minimal@${out.split('@')[1]!.split(')')[0]!}) from "${url}"\n`,
      );
      const got = JSON.parse(await ok('imgadm', ['get', '-P', B, uuid])) as { source: string; zpool: string };
      assert.equal(got.source, url);
      assert.equal(got.zpool, B);
      assert.deepEqual(
        readFileSync(join(env.dir, B, uuid, 'root/etc/inittab')),
        readFileSync(join(env.dir, A, uuid, 'root/etc/inittab')),
      );
      const missing = await cli('imgadm', ['import', '-P', B, '-S', url, randomUUID()]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /\(ImageNotFound\)/);
      assert.equal(await ok('imgadm', ['sources', '-P', B, '-d', url]), `Deleted image source "${url}"\n`);
      assert.equal(await ok('imgadm', ['sources', '-P', B]), 'builtin\n');
    });
  },
);
