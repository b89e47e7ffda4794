import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { link, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { run } from '../../platform/index.ts';
import { isOciError } from './errors.ts';
import { parseNumeric, TarIndexer, type TarEntry } from './tar-index.ts';
import { entryParts, whiteoutOf } from './whiteouts.ts';

async function index(file: string): Promise<TarEntry[]> {
  const indexer = new TarIndexer('test layer');
  await pipeline(createReadStream(file), indexer);
  return indexer.entries;
}

describe('TarIndexer', () => {
  let dir = '';
  const long = `${'d'.repeat(80)}/${'e'.repeat(80)}`;
  const longFile = `${long}/${'f'.repeat(120)}.txt`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zt-tarindex-'));
    const src = join(dir, 'src');
    await mkdir(join(src, long), { recursive: true });
    await writeFile(join(src, longFile), 'x'.repeat(1500));
    await link(join(src, longFile), join(src, 'hard'));
    await symlink(longFile, join(src, 'sym'));
    await writeFile(join(src, '.wh.gone'), '');
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const format of ['gnu', 'pax'] as const) {
    it(`lists members of a ${format} tar with exact long names and link targets`, async () => {
      const tar = join(dir, `${format}.tar`);
      await run('tar', ['-C', join(dir, 'src'), `--format=${format}`, '--sort=name', '-cf', tar, '.']);
      const entries = await index(tar);
      const byPath = new Map(entries.map((e) => [e.path.replace(/^\.\//, ''), e]));
      assert.equal(byPath.get(longFile)?.type, 'file');
      assert.equal(byPath.get(`${long}/`)?.type, 'dir');
      assert.equal(byPath.get('.wh.gone')?.type, 'file');
      assert.deepEqual(byPath.get('sym'), { path: './sym', type: 'symlink', linkTarget: longFile });
      const hard = entries.find((e) => e.type === 'hardlink');
      assert.ok(hard, 'a hard link entry');
      assert.deepEqual(
        [hard.path, hard.linkTarget].map((p) => p?.replace(/^\.\//, '')).sort(),
        ['hard', longFile].sort(),
      );
    });
  }

  it('joins the ustar prefix and name fields', async () => {
    const src = join(dir, 'src-ustar');
    const name = `${'p'.repeat(90)}/${'q'.repeat(40)}/short.txt`;
    await mkdir(join(src, name, '..'), { recursive: true });
    await writeFile(join(src, name), 'u');
    const tar = join(dir, 'ustar.tar');
    await run('tar', ['-C', src, '--format=ustar', '-cf', tar, name]);
    assert.deepEqual(await index(tar), [{ path: name, type: 'file' }]);
  });

  it('refuses data that is not a tar, and a truncated tar', async () => {
    const junk = join(dir, 'junk');
    await writeFile(junk, Buffer.alloc(1024, 7));
    await assert.rejects(
      index(junk),
      (err: unknown) => isOciError(err, 'InvalidImage') && /checksum/.test(err.message),
    );
    const tar = join(dir, 'pax.tar');
    await run('tar', ['-C', join(dir, 'src'), '--format=pax', '-cf', tar, '.']);
    const cut = join(dir, 'cut.tar');
    await writeFile(cut, (await readFile(tar)).subarray(0, 2000));
    await assert.rejects(index(cut), /truncated tar stream/);
  });

  it('reads octal and base-256 numbers', () => {
    assert.equal(parseNumeric(Buffer.from('00000001750\0'), 0, 12), 1000);
    const big = Buffer.alloc(12);
    big[0] = 0x80;
    big.writeUIntBE(2 ** 40, 6, 6);
    assert.equal(parseNumeric(big, 0, 12), 2 ** 40);
  });
});

describe('whiteouts', () => {
  it('tells whiteouts and opaque markers from other names', () => {
    assert.deepEqual(whiteoutOf(entryParts('./a/b/.wh.c', 'x'), 'x'), {
      kind: 'remove',
      dir: ['a', 'b'],
      name: 'c',
    });
    assert.deepEqual(whiteoutOf(entryParts('a/.wh..wh..opq', 'x'), 'x'), { kind: 'opaque', dir: ['a'] });
    assert.equal(whiteoutOf(entryParts('a/x.wh.c', 'x'), 'x'), undefined);
    assert.throws(() => whiteoutOf(['.wh...'], 'x'), /bad whiteout/);
  });

  it('refuses member names with ..', () => {
    assert.deepEqual(entryParts('/./a//b/', 'x'), ['a', 'b']);
    assert.throws(
      () => entryParts('a/../../etc/passwd', 'layer 1'),
      /layer 1: member "a\/..\/..\/etc\/passwd" escapes/,
    );
  });
});
