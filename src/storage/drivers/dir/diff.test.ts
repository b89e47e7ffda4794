import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  lutimesSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { diffTrees } from './diff.ts';

const T = 1_700_000_000; // a fixed mtime, so untouched files compare equal across the two trees

type Entry = string | { dir: true } | { symlink: string } | { text: string; mode: number };

function build(root: string, entries: Record<string, Entry>) {
  mkdirSync(root);
  for (const [rel, e] of Object.entries(entries)) {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    if (typeof e === 'string') {
      writeFileSync(p, e);
      utimesSync(p, T, T);
    } else if ('dir' in e) {
      mkdirSync(p, { recursive: true });
    } else if ('symlink' in e) {
      symlinkSync(e.symlink, p);
      lutimesSync(p, T, T);
    } else {
      writeFileSync(p, e.text);
      chmodSync(p, e.mode);
      utimesSync(p, T, T);
    }
  }
}

describe('diffTrees', () => {
  let tmp = '';
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'zonix-diff-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('reports only the root of identical trees', async () => {
    const tree = { 'a.txt': 'a', 'd/b.txt': 'b', 'd/e': { dir: true } as const, l: { symlink: 'a.txt' } };
    build(join(tmp, 'same-a'), tree);
    build(join(tmp, 'same-b'), tree);
    assert.deepEqual(await diffTrees(join(tmp, 'same-a'), join(tmp, 'same-b')), {
      changed: ['.'],
      deleted: [],
    });
  });

  it('lists new, modified and removed entries, and a file replaced by a directory', async () => {
    build(join(tmp, 'base'), {
      'same.txt': 'same',
      'edit.txt': 'old',
      'gone.txt': 'bye',
      'mode.txt': { text: 'm', mode: 0o644 },
      swap: 'I am a file',
      'd/inner.txt': 'inner',
      'd/old/deep.txt': 'deep',
      link: { symlink: 'same.txt' },
      relink: { symlink: 'same.txt' },
    });
    build(join(tmp, 'next'), {
      'same.txt': 'same',
      'edit.txt': 'new content',
      'mode.txt': { text: 'm', mode: 0o600 },
      'swap/child.txt': 'now a directory',
      'd/inner.txt': 'inner',
      'd/added.txt': 'added',
      'new.txt': 'new',
      link: { symlink: 'same.txt' },
      relink: { symlink: 'd/inner.txt' },
    });
    const diff = await diffTrees(join(tmp, 'base'), join(tmp, 'next'));

    assert.deepEqual([...diff.changed].sort(), [
      '.',
      'd/added.txt',
      'edit.txt',
      'mode.txt',
      'new.txt',
      'relink',
      'swap',
      'swap/child.txt',
    ]);
    assert.deepEqual([...diff.deleted].sort(), ['d/old', 'gone.txt', 'swap']);
    assert.equal(diff.changed[0], '.');
    assert.ok(diff.changed.indexOf('swap') < diff.changed.indexOf('swap/child.txt'), 'parent after child');
  });

  it('deletes a directory replaced by a file and sends the file', async () => {
    build(join(tmp, 'dir-base'), { 'x/y.txt': 'y' });
    build(join(tmp, 'dir-next'), { x: 'now a file' });
    assert.deepEqual(await diffTrees(join(tmp, 'dir-base'), join(tmp, 'dir-next')), {
      changed: ['.', 'x'],
      deleted: ['x'],
    });
  });
});
