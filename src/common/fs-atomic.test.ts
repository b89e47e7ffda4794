import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomicSync } from './fs-atomic.ts';

describe('writeFileAtomicSync', () => {
  let tmp = '';
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'zonix-atomic-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('creates a file with the given mode and leaves no temp file', () => {
    const dir = join(tmp, 'create');
    mkdirSync(dir);
    writeFileAtomicSync(join(dir, 'meta.json'), '{"a":1}\n', 0o600);
    assert.equal(readFileSync(join(dir, 'meta.json'), 'utf8'), '{"a":1}\n');
    assert.equal(statSync(join(dir, 'meta.json')).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ['meta.json']);
  });

  it('replaces existing content, longer or shorter, text or bytes', () => {
    const dir = join(tmp, 'replace');
    mkdirSync(dir);
    const path = join(dir, 'meta.json');
    writeFileSync(path, 'x'.repeat(10_000));
    writeFileAtomicSync(path, 'short');
    assert.equal(readFileSync(path, 'utf8'), 'short');
    const bytes = new Uint8Array(300_000).map((_, i) => i % 251);
    writeFileAtomicSync(path, bytes);
    assert.deepEqual(new Uint8Array(readFileSync(path)), bytes);
    writeFileAtomicSync(path, '');
    assert.equal(readFileSync(path, 'utf8'), '');
    assert.deepEqual(readdirSync(dir), ['meta.json']);
  });

  it('leaves no temp file behind when the rename fails', () => {
    const dir = join(tmp, 'rename-fails');
    mkdirSync(join(dir, 'meta.json', 'inner'), { recursive: true });
    assert.throws(() => writeFileAtomicSync(join(dir, 'meta.json'), 'data'), { code: 'EISDIR' });
    assert.deepEqual(readdirSync(dir), ['meta.json']);
  });

  it('fails without leaving anything when the directory does not exist', () => {
    assert.throws(() => writeFileAtomicSync(join(tmp, 'missing', 'meta.json'), 'data'), { code: 'ENOENT' });
    assert.equal(readdirSync(tmp).includes('missing'), false);
  });
});
