/**
 * The dataset conformance suite: every storage driver runs it, through the real `zpool` and `zfs`
 * commands, on pools made for the run (loop files for btrfs, folders for dir).
 * @module
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cli, isRoot, leaks, makeTestEnv, ok, teardown, ROOT } from '../helpers/host.ts';

export interface SuiteOptions {
  driver: 'btrfs' | 'dir';
  quotas: boolean;
  readonly: boolean;
  compression: boolean;
}

export function datasetSuite(o: SuiteOptions): void {
  describe(`datasets on the ${o.driver} driver`, { skip: isRoot ? false : 'needs root' }, () => {
    const env = makeTestEnv(o.driver.slice(0, 2));
    const P = `${env.prefix}a`;
    const Q = `${env.prefix}b`;
    const mnt = (pool: string) => join(env.dir, 'mnt', pool);
    const vdev = (pool: string) =>
      o.driver === 'dir' ? join(env.dir, `${pool}.d`) : join(env.dir, `${pool}.img`);
    const zfs = (...a: string[]) => ok('zfs', a);
    const list = async (...a: string[]) =>
      (await zfs('list', '-H', '-o', 'name', ...a)).trim().split('\n').filter(Boolean);
    const pathOf = (ds: string) => join(mnt(ds.split('/')[0]!), ...ds.split('/').slice(1));

    before(async () => {
      for (const pool of [P, Q]) {
        await ok('zpool', [
          'create',
          '-m',
          mnt(pool),
          '-o',
          'size=512M',
          '-o',
          `driver=${o.driver}`,
          pool,
          vdev(pool),
        ]);
      }
    });

    after(async () => {
      await teardown(env, [P, Q]);
      assert.deepEqual(leaks(env), []);
    });

    it('creates the pool with its root dataset mounted and zstd compression when the driver has it', async () => {
      const out = await ok('zpool', ['list', '-H', '-o', 'name,health', P]);
      assert.equal(out, `${P}\tONLINE\n`);
      assert.ok(statSync(mnt(P)).isDirectory());
      const comp = await zfs('get', '-H', '-o', 'value,source', 'compression', P);
      assert.equal(comp, o.compression ? 'zstd\tlocal\n' : 'off\tdefault\n');
      const status = await ok('zpool', ['status', P]);
      assert.match(status, new RegExp(`pool: ${P}\\n state: ONLINE`));
      assert.match(status, /errors: No known data errors/);
    });

    it('refuses a second pool of the same name, bad pool names, and missing arguments', async () => {
      let r = await cli('zpool', ['create', '-o', `driver=${o.driver}`, P, join(env.dir, 'other')]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `cannot create '${P}': pool already exists\n`);
      r = await cli('zpool', ['create', '-o', `driver=${o.driver}`, '1bad', join(env.dir, 'other')]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^cannot create '1bad': name must begin with a letter/);
      r = await cli('zpool', ['create', P]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /missing vdev specification\nusage:/);
      r = await cli('zpool', ['frob']);
      assert.equal(r.code, 2);
      assert.equal(existsSync(join(env.dir, 'other')), false);
    });

    it('creates filesystems, with -p for missing parents, and lists them as zfs does', async () => {
      await zfs('create', `${P}/a`);
      await zfs('create', '-p', `${P}/b/c/d`);
      assert.deepEqual(await list('-r', P), [P, `${P}/a`, `${P}/b`, `${P}/b/c`, `${P}/b/c/d`]);
      assert.deepEqual(await list('-d', '1', P), [P, `${P}/a`, `${P}/b`]);
      assert.deepEqual(await list(`${P}/a`), [`${P}/a`]);
      const table = await zfs('list', '-r', `${P}/b`);
      const lines = table.trimEnd().split('\n');
      assert.match(lines[0]!, /^NAME\s+USED\s+AVAIL\s+REFER\s+MOUNTPOINT$/);
      assert.match(lines[1]!, new RegExp(`^${P}/b\\s+\\S+\\s+\\S+\\s+\\S+\\s+${mnt(P)}/b$`));
      const p = await zfs('list', '-Hp', '-o', 'name,used,type,mountpoint', `${P}/a`);
      assert.match(p, new RegExp(`^${P}/a\\t\\d+\\tfilesystem\\t${mnt(P)}/a\\n$`));
      assert.ok(statSync(pathOf(`${P}/b/c/d`)).isDirectory());
      // Sorting.
      const sorted = await zfs('list', '-H', '-o', 'name', '-S', 'name', '-r', `${P}/b`);
      assert.deepEqual(sorted.trim().split('\n'), [`${P}/b/c/d`, `${P}/b/c`, `${P}/b`]);
    });

    it('rejects bad names, missing parents and duplicates with ZFS messages, changing nothing', async () => {
      const before = await list('-r', P);
      const cases: [string[], number, RegExp][] = [
        [
          ['create', `${P}/bad name`],
          1,
          new RegExp(`^cannot create '${P}/bad name': invalid character ' ' in name\\n$`),
        ],
        [['create', `${P}/x/y`], 1, new RegExp(`^cannot create '${P}/x/y': parent does not exist\\n$`)],
        [['create', `${P}/a`], 1, new RegExp(`^cannot create '${P}/a': dataset already exists\\n$`)],
        [['create', `${P}/a@s`], 1, /snapshot delimiter '@' is not expected here/],
        [['create', `${P}//z`], 1, /empty component/],
        [['create', 'nopool/x'], 1, /^cannot create 'nopool\/x': no such pool 'nopool'\n$/],
        [['create', `${P}/${'x'.repeat(300)}`], 1, /name is too long/],
        [['create'], 2, /missing filesystem argument\nusage:/],
        [['create', '-z', `${P}/q`], 2, /invalid option 'z'\nusage:/],
        [['list', `${P}/nope`], 1, new RegExp(`^cannot open '${P}/nope': dataset does not exist\\n$`)],
        [['get', 'frobnicate', P], 2, /invalid property 'frobnicate'/],
        [
          ['set', 'quota=abc', `${P}/a`],
          1,
          new RegExp(`cannot set property for '${P}/a': bad numeric value 'abc'`),
        ],
        [['set', 'used=5', `${P}/a`], 1, /'used' is readonly/],
        [['frob'], 2, /unrecognized command 'frob'/],
      ];
      for (const [args, code, re] of cases) {
        const r = await cli('zfs', args);
        assert.equal(r.code, code, `zfs ${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, re, `zfs ${args.join(' ')}`);
      }
      assert.deepEqual(await list('-r', P), before);
    });

    it('snapshots are read-only images of one moment; clones are writable and record their origin', async () => {
      const d = pathOf(`${P}/a`);
      writeFileSync(join(d, 'f'), 'one');
      await zfs('snapshot', `${P}/a@s1`);
      writeFileSync(join(d, 'f'), 'two');
      await zfs('snapshot', `${P}/a@s2`);
      assert.deepEqual(await list('-t', 'snapshot', `${P}/a`), [`${P}/a@s1`, `${P}/a@s2`]);
      const r = await cli('zfs', ['snapshot', `${P}/a@s1`]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `cannot create snapshot '${P}/a@s1': dataset already exists\n`);
      await zfs('clone', `${P}/a@s1`, `${P}/c1`);
      assert.equal(readFileSync(join(pathOf(`${P}/c1`), 'f'), 'utf8'), 'one');
      writeFileSync(join(pathOf(`${P}/c1`), 'f'), 'clone');
      assert.equal(readFileSync(join(d, 'f'), 'utf8'), 'two');
      assert.equal(await zfs('get', '-H', '-o', 'value', 'origin', `${P}/c1`), `${P}/a@s1\n`);
      assert.equal(await zfs('list', '-H', '-o', 'type', `${P}/a@s1`), 'snapshot\n');
      // Recursive snapshots take every descendant at once.
      await zfs('snapshot', '-r', `${P}/b@r`);
      assert.deepEqual(await list('-t', 'snapshot', '-r', `${P}/b`), [
        `${P}/b@r`,
        `${P}/b/c@r`,
        `${P}/b/c/d@r`,
      ]);
    });

    it('destroy refuses while children, snapshots or dependent clones exist, and -r/-R allow it', async () => {
      let r = await cli('zfs', ['destroy', `${P}/a`]);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        `cannot destroy '${P}/a': filesystem has children\nuse '-r' to destroy the following datasets:\n${P}/a@s1\n${P}/a@s2\n`,
      );
      r = await cli('zfs', ['destroy', `${P}/a@s1`]);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        `cannot destroy '${P}/a@s1': snapshot has dependent clones\nuse '-R' to destroy the following datasets:\n${P}/c1\n`,
      );
      r = await cli('zfs', ['destroy', '-r', `${P}/a`]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /filesystem has dependent clones\nuse '-R'/);
      r = await cli('zfs', ['destroy', `${P}/a@nope`]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /could not find any snapshots to destroy/);
      r = await cli('zfs', ['destroy', P]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /operation does not apply to pools/);
      const dry = await zfs('destroy', '-nR', `${P}/a`);
      assert.match(dry, new RegExp(`would destroy ${P}/c1`));
      assert.ok(existsSync(pathOf(`${P}/c1`)));
      await zfs('destroy', '-R', `${P}/a`);
      assert.deepEqual(
        (await list('-t', 'all', '-r', P)).filter((n) => n.startsWith(`${P}/a`) || n.startsWith(`${P}/c1`)),
        [],
      );
      assert.equal(existsSync(pathOf(`${P}/a`)), false);
      await zfs('destroy', '-r', `${P}/b@r`);
      assert.deepEqual(await list('-t', 'snapshot', '-r', `${P}/b`), []);
    });

    it('rollback restores content, refuses when newer snapshots exist, and -r destroys them', async () => {
      await zfs('create', `${P}/rb`);
      await zfs('create', `${P}/rb/child`);
      const d = pathOf(`${P}/rb`);
      writeFileSync(join(d, 'f'), 'v1');
      writeFileSync(join(pathOf(`${P}/rb/child`), 'keep'), 'child data');
      await zfs('snapshot', `${P}/rb@one`);
      writeFileSync(join(d, 'f'), 'v2');
      writeFileSync(join(d, 'g'), 'later');
      await zfs('snapshot', `${P}/rb@two`);
      writeFileSync(join(d, 'f'), 'v3');
      await zfs('rollback', `${P}/rb@two`);
      assert.equal(readFileSync(join(d, 'f'), 'utf8'), 'v2');
      const r = await cli('zfs', ['rollback', `${P}/rb@one`]);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        `cannot rollback to '${P}/rb@one': more recent snapshots or bookmarks exist\nuse '-r' to force deletion of the following snapshots and bookmarks:\n${P}/rb@two\n`,
      );
      await zfs('rollback', '-r', `${P}/rb@one`);
      assert.equal(readFileSync(join(d, 'f'), 'utf8'), 'v1');
      assert.equal(existsSync(join(d, 'g')), false);
      assert.deepEqual(await list('-t', 'snapshot', `${P}/rb`), [`${P}/rb@one`]);
      // The child dataset survives its parent's rollback.
      assert.equal(readFileSync(join(pathOf(`${P}/rb/child`), 'keep'), 'utf8'), 'child data');
      assert.deepEqual(await list('-r', `${P}/rb`), [`${P}/rb`, `${P}/rb/child`]);
    });

    it('user properties and inheritable properties survive and are inherited', async () => {
      await zfs('create', '-o', 'com.joyent:owner=alice', `${P}/props`);
      await zfs('create', `${P}/props/kid`);
      await zfs('set', 'org.example:tier=gold', 'com.joyent:note=a b c', `${P}/props`);
      const got = await zfs(
        'get',
        '-H',
        '-o',
        'name,property,value,source',
        'com.joyent:owner,org.example:tier',
        `${P}/props/kid`,
      );
      assert.equal(
        got,
        `${P}/props/kid\tcom.joyent:owner\talice\tinherited from ${P}/props\n` +
          `${P}/props/kid\torg.example:tier\tgold\tinherited from ${P}/props\n`,
      );
      assert.equal(await zfs('get', '-H', '-o', 'value', 'com.joyent:note', `${P}/props`), 'a b c\n');
      const all = await zfs('get', '-H', '-o', 'property', 'all', `${P}/props`);
      for (const prop of [
        'type',
        'creation',
        'used',
        'available',
        'referenced',
        'mountpoint',
        'compression',
        'quota',
        'com.joyent:owner',
      ])
        assert.ok(all.split('\n').includes(prop), `get all lists ${prop}`);
      await zfs('inherit', 'org.example:tier', `${P}/props`);
      assert.equal(
        await zfs('get', '-H', '-o', 'value,source', 'org.example:tier', `${P}/props/kid`),
        '-\t-\n',
      );
      if (o.compression) {
        await zfs('set', 'compression=off', `${P}/props`);
        assert.equal(
          await zfs('get', '-H', '-o', 'value,source', 'compression', `${P}/props/kid`),
          `off\tinherited from ${P}/props\n`,
        );
        await zfs('inherit', 'compression', `${P}/props`);
        assert.equal(await zfs('get', '-H', '-o', 'value', 'compression', `${P}/props`), 'zstd\n');
      } else {
        const r = await cli('zfs', ['set', 'compression=on', `${P}/props`]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /not supported by the dir driver/);
      }
    });

    it(
      'readonly datasets refuse writes',
      { skip: o.readonly ? false : 'driver has no read-only datasets' },
      async () => {
        await zfs('create', '-o', 'readonly=on', `${P}/ro`);
        const r = await new Promise<number>((res) => {
          spawn('sh', ['-c', `echo x > ${pathOf(`${P}/ro`)}/f`]).on('close', (c) => res(c ?? -1));
        });
        assert.notEqual(r, 0);
        await zfs('set', 'readonly=off', `${P}/ro`);
        writeFileSync(join(pathOf(`${P}/ro`), 'f'), 'x');
      },
    );

    it('moves a dataset to a mountpoint of its own and back', async () => {
      const where = join(env.dir, 'elsewhere');
      await zfs('create', `${P}/mp`);
      writeFileSync(join(pathOf(`${P}/mp`), 'f'), 'here');
      await zfs('set', `mountpoint=${where}`, `${P}/mp`);
      assert.equal(readFileSync(join(where, 'f'), 'utf8'), 'here');
      assert.equal(
        await zfs('get', '-H', '-o', 'value,source', 'mountpoint', `${P}/mp`),
        `${where}\tlocal\n`,
      );
      assert.equal(await zfs('get', '-H', '-o', 'value', 'mounted', `${P}/mp`), 'yes\n');
      await zfs('inherit', 'mountpoint', `${P}/mp`);
      assert.equal(readdirSync(where).length, 0);
      assert.equal(
        await zfs('get', '-H', '-o', 'value,source', 'mountpoint', `${P}/mp`),
        `${mnt(P)}/mp\tinherited from ${P}\n`,
      );
    });

    it(
      'enforces quotas: writing past one fails with EDQUOT',
      { skip: o.quotas ? false : 'driver has no quotas' },
      async () => {
        await zfs('create', '-o', 'quota=20M', `${P}/q`);
        assert.equal(await zfs('get', '-H', '-o', 'value', 'quota', `${P}/q`), '20M\n');
        assert.equal(await zfs('get', '-Hp', '-o', 'value', 'quota', `${P}/q`), `${20 * 1024 * 1024}\n`);
        const r = await new Promise<{ code: number; err: string }>((res) => {
          const c = spawn('dd', [
            'if=/dev/urandom',
            `of=${join(pathOf(`${P}/q`), 'big')}`,
            'bs=1M',
            'count=40',
            'oflag=sync',
          ]);
          let err = '';
          c.stderr.on('data', (d: Buffer) => (err += d.toString()));
          c.on('close', (code) => res({ code: code ?? -1, err }));
        });
        assert.notEqual(r.code, 0);
        assert.match(r.err, /Disk quota exceeded/);
        const size = statSync(join(pathOf(`${P}/q`), 'big')).size;
        assert.ok(size <= 21 * 1024 * 1024, `wrote ${size} bytes under a 20M quota`);
        // Raising the quota lets writes through again; a quota under the used space is refused.
        const low = await cli('zfs', ['set', 'quota=1M', `${P}/q`]);
        assert.equal(low.code, 1);
        assert.match(low.stderr, /size is less than current used or reserved space/);
        await zfs('set', 'quota=none', `${P}/q`);
        writeFileSync(join(pathOf(`${P}/q`), 'more'), randomBytes(4 << 20));
      },
    );

    it(
      'a full pool still takes changes that free space, and says out of space for data',
      { skip: o.quotas ? false : 'the dir driver uses the host filesystem' },
      async () => {
        const small = `${env.prefix}f`;
        await ok('zpool', [
          'create',
          '-m',
          mnt(small),
          '-o',
          'size=160M',
          '-o',
          `driver=${o.driver}`,
          small,
          vdev(small),
        ]);
        try {
          await zfs('create', `${small}/fill`);
          const dd = spawnSync(
            'dd',
            ['if=/dev/urandom', `of=${join(pathOf(`${small}/fill`), 'big')}`, 'bs=1M', 'count=400'],
            {
              encoding: 'utf8',
            },
          );
          assert.notEqual(dd.status, 0);
          assert.match(dd.stderr, /No space left on device/);
          // Like ZFS's slop space: the pool keeps room to record changes when user data has filled it.
          await zfs('snapshot', `${small}/fill@full`);
          await zfs('create', `${small}/more`);
          await zfs('destroy', `${small}/fill@full`);
          await zfs('destroy', '-r', `${small}/fill`);
          assert.deepEqual(await list('-r', small), [small, `${small}/more`]);
        } finally {
          await ok('zpool', ['destroy', small]);
        }
      },
    );

    it('volumes are sparse files of their size, and snapshot like filesystems', async () => {
      await zfs('create', '-V', '64M', `${P}/vol`);
      assert.equal(await zfs('list', '-H', '-o', 'type,volsize,mountpoint', `${P}/vol`), 'volume\t64M\t-\n');
      const { openPool } = await import('../../src/storage/index.ts');
      const file = openPool(P).volumeFile(`${P}/vol`);
      assert.equal(statSync(file).size, 64 * 1024 * 1024);
      assert.ok(statSync(file).blocks * 512 < 1024 * 1024, 'sparse');
      await zfs('snapshot', `${P}/vol@s`);
      await zfs('clone', `${P}/vol@s`, `${P}/vol2`);
      assert.equal(await zfs('list', '-H', '-o', 'type,origin', `${P}/vol2`), `volume\t${P}/vol@s\n`);
      await zfs('set', 'volsize=128M', `${P}/vol2`);
      assert.equal(statSync(openPool(P).volumeFile(`${P}/vol2`)).size, 128 * 1024 * 1024);
      const r = await cli('zfs', ['create', '-V', 'lots', `${P}/vol3`]);
      assert.equal(r.code, 1);
    });

    it('send and receive: full and incremental, across pools, content and properties identical', async () => {
      await zfs('create', '-o', 'com.joyent:role=db', `${P}/src`);
      const d = pathOf(`${P}/src`);
      mkdirSync(join(d, 'dir'));
      writeFileSync(join(d, 'dir', 'big'), randomBytes(8 << 20));
      writeFileSync(join(d, 'small'), 'hello');
      await zfs('snapshot', `${P}/src@one`);
      writeFileSync(join(d, 'small'), 'hello again');
      writeFileSync(join(d, 'new'), randomBytes(64 << 10));
      await zfs('snapshot', `${P}/src@two`);
      const full = join(env.dir, 'full.stream');
      const inc = join(env.dir, 'inc.stream');
      await ok('zfs', ['send', `${P}/src@one`], { stdoutFile: full });
      await ok('zfs', ['send', '-i', `@one`, `${P}/src@two`], { stdoutFile: inc });
      assert.ok(statSync(inc).size < statSync(full).size / 20, 'incremental is much smaller than full');
      await ok('zfs', ['receive', `${Q}/copy`], { stdinFile: full });
      assert.deepEqual(
        readFileSync(join(pathOf(`${Q}/copy`), 'dir', 'big')),
        readFileSync(join(d, 'dir', 'big')),
      );
      assert.equal(readFileSync(join(pathOf(`${Q}/copy`), 'small'), 'utf8'), 'hello');
      await ok('zfs', ['receive', `${Q}/copy`], { stdinFile: inc });
      assert.equal(readFileSync(join(pathOf(`${Q}/copy`), 'small'), 'utf8'), 'hello again');
      assert.deepEqual(readFileSync(join(pathOf(`${Q}/copy`), 'new')), readFileSync(join(d, 'new')));
      assert.deepEqual(await list('-t', 'snapshot', `${Q}/copy`), [`${Q}/copy@one`, `${Q}/copy@two`]);
      assert.equal(await zfs('get', '-H', '-o', 'value', 'com.joyent:role', `${Q}/copy`), 'db\n');
      assert.equal(
        await zfs('get', '-H', '-o', 'value', 'guid', `${Q}/copy@two`),
        await zfs('get', '-H', '-o', 'value', 'guid', `${P}/src@two`),
      );
      // Receiving the same full stream again onto an existing dataset needs -F.
      const again = await cli('zfs', ['receive', `${Q}/copy`], { stdinFile: full });
      assert.equal(again.code, 1);
      assert.equal(
        again.stderr,
        `cannot receive new filesystem stream: destination '${Q}/copy' exists\nmust specify -F to overwrite it\n`,
      );
      // Refuses a terminal, like zfs.
      const r = await cli('zfs', ['send']);
      assert.equal(r.code, 2);
    });

    it('a receive that fails midway leaves nothing behind and says why', async () => {
      const full = join(env.dir, 'full.stream');
      const inc = join(env.dir, 'inc.stream');
      const before = await list('-t', 'all', '-r', Q);
      const data = readFileSync(full);
      const cut = join(env.dir, 'cut.stream');
      writeFileSync(cut, data.subarray(0, Math.floor(data.length / 2)));
      let r = await cli('zfs', ['receive', `${Q}/cut`], { stdinFile: cut });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^cannot receive new filesystem stream: .*(incomplete stream|checksum)/);
      const bad = Buffer.from(data);
      bad[Math.floor(bad.length / 2)]! ^= 0xff;
      const corrupt = join(env.dir, 'corrupt.stream');
      writeFileSync(corrupt, bad);
      r = await cli('zfs', ['receive', `${Q}/corrupt`], { stdinFile: corrupt });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^cannot receive new filesystem stream: /);
      r = await cli('zfs', ['receive', `${Q}/nobase`], { stdinFile: inc });
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `cannot receive incremental stream: destination '${Q}/nobase' does not exist\n`);
      r = await cli('zfs', ['receive', `${Q}/junk`], { input: 'this is not a stream at all' });
      assert.equal(r.code, 1);
      assert.equal(r.stderr, 'cannot receive: invalid stream (bad magic number)\n');
      assert.deepEqual(await list('-t', 'all', '-r', Q), before);
      assert.equal(existsSync(pathOf(`${Q}/cut`)), false);
      const { openPool } = await import('../../src/storage/index.ts');
      assert.deepEqual(readdirSync(join(openPool(Q).top, 'tmp')), []);
    });

    it('a process killed in the middle of a receive leaves nothing once the pool is next used', async () => {
      const full = join(env.dir, 'full.stream');
      const child = spawn(join(ROOT, 'bin', 'zfs'), ['receive', `${Q}/killed`], {
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      const closed = new Promise((r) => child.on('close', r));
      let exited = false;
      void closed.then(() => (exited = true));
      child.stdin.on('error', () => undefined);
      const data = readFileSync(full);
      child.stdin.write(data.subarray(0, Math.floor(data.length / 2)));
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(exited, false, 'zfs receive was still waiting for the rest of the stream');
      child.kill('SIGKILL');
      await closed;
      // The next change on the pool finds the dead holder's lock and cleans up after it.
      await zfs('create', `${Q}/after`);
      assert.equal(existsSync(pathOf(`${Q}/killed`)), false);
      assert.deepEqual(
        (await list('-r', Q)).filter((n) => n.includes('killed')),
        [],
      );
      const { openPool } = await import('../../src/storage/index.ts');
      const pool = openPool(Q);
      assert.deepEqual(readdirSync(join(pool.top, 'tmp')), []);
      const meta = pool.meta();
      const guids = new Set(Object.values(meta.datasets).map((x) => x.guid));
      for (const g of readdirSync(join(pool.top, 'snapshots'))) {
        if (!guids.has(g))
          assert.deepEqual(readdirSync(join(pool.top, 'snapshots', g)), [], `orphan snapshots of ${g}`);
      }
    });

    it('changes to different datasets go on at once; a subtree in use waits', async () => {
      const { openPool } = await import('../../src/storage/index.ts');
      const pool = openPool(P);
      await zfs('create', `${P}/busy`);
      // This process holds one VM-like subtree, as a slow clone or copy would.
      const held = await pool.lockSubtrees([`${P}/busy`]);
      let waiting = true;
      const child = cli('zfs', ['create', `${P}/busy/child`]).then((r) => {
        waiting = false;
        return r;
      });
      const snap = cli('zfs', ['snapshot', `${P}/busy@held`]);
      const t0 = Date.now();
      await zfs('create', `${P}/free`);
      await zfs('snapshot', `${P}/free@one`);
      await zfs('clone', `${P}/free@one`, `${P}/free2`);
      await zfs('destroy', `${P}/free2`);
      assert.ok(Date.now() - t0 < 10_000);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(waiting, true, 'a change inside the held subtree waited');
      assert.deepEqual(await list('-r', `${P}/busy`), [`${P}/busy`]);
      await held.release();
      assert.equal((await child).code, 0);
      assert.equal((await snap).code, 0);
      assert.deepEqual(await list('-t', 'all', '-r', `${P}/busy`), [
        `${P}/busy`,
        `${P}/busy@held`,
        `${P}/busy/child`,
      ]);
      await zfs('destroy', '-r', `${P}/busy`);
      await zfs('destroy', '-r', `${P}/free`);
    });

    it('clones made at once by several processes all land, each whole', async () => {
      await zfs('create', `${P}/origin`);
      writeFileSync(join(pathOf(`${P}/origin`), 'f'), 'content');
      await zfs('snapshot', `${P}/origin@s`);
      const names = Array.from({ length: 6 }, (_, i) => `${P}/par${i}`);
      const results = await Promise.all(names.map((n) => cli('zfs', ['clone', `${P}/origin@s`, n])));
      assert.deepEqual(
        results.map((r) => [r.code, r.stderr]),
        names.map(() => [0, '']),
      );
      assert.deepEqual(
        (await list('-r', P)).filter((n) => n.includes('/par')),
        names,
      );
      for (const n of names) assert.equal(readFileSync(join(pathOf(n), 'f'), 'utf8'), 'content');
      // Every clone names its origin, and nothing is left in the making.
      const origins = (await zfs('get', '-H', '-o', 'value', 'origin', ...names)).trim().split('\n');
      assert.deepEqual(
        origins,
        names.map(() => `${P}/origin@s`),
      );
      const { openPool } = await import('../../src/storage/index.ts');
      const pool = openPool(P);
      assert.deepEqual(readdirSync(join(pool.top, 'tmp')), []);
      assert.deepEqual(readdirSync(join(pool.top, 'meta', 'locks')), []);
      await Promise.all(names.map((n) => zfs('destroy', n)));
    });

    it('clones killed together at any point leave each whole or gone, and nothing else', async () => {
      const { openPool } = await import('../../src/storage/index.ts');
      const pool = openPool(P);
      const seen = { whole: 0, gone: 0 };
      for (const ms of [40, 90, 140, 200, 300, 2000]) {
        const names = [0, 1, 2].map((i) => `${P}/k${ms}x${i}`);
        const kids = names.map((n) =>
          spawn(join(ROOT, 'bin', 'zfs'), ['clone', `${P}/origin@s`, n], { stdio: 'ignore' }),
        );
        const closed = kids.map((k) => new Promise((r) => k.on('close', r)));
        await new Promise((r) => setTimeout(r, ms));
        for (const k of kids) k.kill('SIGKILL');
        await Promise.all(closed);
        // The next change of the pool cleans up after the dead.
        await zfs('create', `${P}/after${ms}`);
        const listed = await list('-r', P);
        for (const n of names) {
          if (listed.includes(n)) {
            seen.whole++;
            assert.equal(readFileSync(join(pathOf(n), 'f'), 'utf8'), 'content', n);
            await zfs('destroy', n);
          } else {
            seen.gone++;
            assert.equal(existsSync(pathOf(n)), false, `${n} left a body`);
          }
        }
        await zfs('destroy', `${P}/after${ms}`);
        assert.deepEqual(readdirSync(join(pool.top, 'tmp')), [], `killed after ${ms} ms`);
        assert.deepEqual(readdirSync(join(pool.top, 'meta', 'locks')), [], `killed after ${ms} ms`);
      }
      assert.ok(seen.whole > 0 && seen.gone > 0, JSON.stringify(seen));
      await zfs('destroy', '-r', `${P}/origin`);
    });

    it('export and import: data, properties and mounts come back, loop devices included', async () => {
      const where = join(env.dir, 'custom-mp');
      await zfs('create', '-o', `mountpoint=${where}`, '-o', 'com.joyent:keep=yes', `${P}/persist`);
      writeFileSync(join(where, 'f'), 'persisted');
      await ok('zpool', ['export', P]);
      assert.equal(existsSync(join(where, 'f')), false);
      const r = await cli('zfs', ['list', P]);
      assert.equal(r.code, 1);
      const found = await ok('zpool', ['import', '-d', env.dir]);
      assert.match(found, new RegExp(`pool: ${P}\\n`));
      await ok('zpool', ['import', '-d', env.dir, P]);
      assert.equal(readFileSync(join(where, 'f'), 'utf8'), 'persisted');
      assert.equal(await zfs('get', '-H', '-o', 'value', 'com.joyent:keep', `${P}/persist`), 'yes\n');
      assert.equal(await zfs('get', '-H', '-o', 'value', 'mountpoint', P), `${mnt(P)}\n`);
      const again = await cli('zpool', ['import', '-d', env.dir, P]);
      assert.equal(again.code, 1);
      const none = await cli('zpool', ['import', '-d', env.dir, 'nosuchpool']);
      assert.equal(none.code, 1);
      assert.equal(none.stderr, "cannot import 'nosuchpool': no such pool available\n");
    });

    it('after a host restart, zpool import finds the cached pools without -d and brings them back', async () => {
      writeFileSync(join(mnt(P), 'boot-marker'), 'still here');
      // A restart: every mount and the whole run folder are gone; the config folder (pool cache) stays.
      const mine = readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[4] ?? '')
        .filter((t) => t.startsWith(env.dir));
      for (const t of mine.reverse()) assert.equal(spawnSync('umount', [t]).status, 0, `umount ${t}`);
      rmSync(process.env.ZONIX_RUN_DIR!, { recursive: true, force: true });
      assert.equal((await cli('zpool', ['list', P])).code, 1);
      const found = await ok('zpool', ['import']);
      assert.match(found, new RegExp(`pool: ${P}\\n`));
      assert.match(found, new RegExp(`pool: ${Q}\\n`));
      await ok('zpool', ['import', '-a']);
      assert.equal(readFileSync(join(mnt(P), 'boot-marker'), 'utf8'), 'still here');
      assert.equal(readFileSync(join(env.dir, 'custom-mp', 'f'), 'utf8'), 'persisted');
      assert.ok((await list('-r', Q)).includes(`${Q}/copy`));
      assert.equal((await ok('zpool', ['list', '-H', '-o', 'health', P, Q])).trim(), 'ONLINE\nONLINE');
    });

    it('zpool destroy removes the pool and its mounts', async () => {
      await zfs('set', `mountpoint=${join(env.dir, 'gone')}`, `${P}/persist`);
      await ok('zpool', ['destroy', P]);
      const r = await cli('zpool', ['list', P]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `cannot open '${P}': no such pool\n`);
      assert.deepEqual(
        leaks(env).filter((l) => l.includes(mnt(P)) || l.includes('gone')),
        [],
      );
      const imp = await cli('zpool', ['import', '-d', env.dir, P]);
      assert.equal(imp.code, 1);
    });
  });
}
