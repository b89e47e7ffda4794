import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError, ZonixError } from '../common/index.ts';
import {
  buildManifest,
  checkOriginDepth,
  indentJson,
  manifestValidationMessage,
  parseCreateArgv,
  parseFieldArgs,
  parseManifestData,
  pathSlugify,
  savePrefixFor,
  type ManifestInputs,
} from './create.ts';
import { manifestProblems, type ImageManifest } from './manifest.ts';

const VM = '5f7a53e9-fc4d-d94b-9205-9ff110742aaf';
const NOW = new Date('2026-11-20T10:00:00.000Z');

const origin: ImageManifest = {
  v: 2,
  uuid: 'b3f153fd-0a84-571e-9bf8-fd70158db6e7',
  name: 'minimal',
  version: '1.35.0-1',
  type: 'zone-dataset',
  os: 'other',
  requirements: { min_ram: 64 },
  billing_tags: [],
  users: [{ name: 'root' }],
  description: 'not inherited',
  tags: { 'org.smartos:x': 1 },
};

const inputs = (over: Partial<ManifestInputs>): ManifestInputs => ({
  given: { name: 'myimg', version: '1.0.0' },
  uuid: '11111111-2222-4333-8444-555555555555',
  vm: { uuid: VM, brand: 'joyent-minimal' },
  origin,
  incremental: false,
  platform: { sdcVersion: '7.0', liveImage: '20261120T100000Z' },
  now: NOW,
  ...over,
});

describe('imgadm create: manifest data', () => {
  it('reads FIELD=VALUE as JSON, else as a string; string fields stay as typed', () => {
    assert.deepEqual(
      parseFieldArgs([
        'name=foo',
        'version=1.0',
        'disabled=true',
        'tags={"a":1}',
        'description="true"',
        'name2="true"',
        'x=a=b',
        'empty=',
      ]),
      {
        name: 'foo',
        version: '1.0',
        disabled: true,
        tags: { a: 1 },
        description: 'true',
        name2: 'true',
        x: 'a=b',
        empty: '',
      },
    );
    assert.throws(
      () => parseFieldArgs(['name']),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message === 'invalid manifest field arg "name": must match "<field>=<value>"',
    );
  });

  it('reads -m data as a JSON object, saying where bad JSON came from', () => {
    assert.deepEqual(parseManifestData('{"name":"a"}', 'm.json'), { name: 'a' });
    assert.throws(() => parseManifestData('{nope', '-'), /^UsageError: invalid manifest JSON on stdin: /);
    assert.throws(
      () => parseManifestData('[1]', 'm.json'),
      /invalid manifest JSON in "m\.json": not an object/,
    );
  });

  it('names files NAME-VERSION (slugified), inside a directory template, or after a prefix', () => {
    assert.equal(pathSlugify('My  App (beta)'), 'my-app-beta');
    assert.equal(pathSlugify(' base-64 lts '), 'base-64-lts');
    assert.equal(pathSlugify('1.0.0_rc+1'), '1.0.0_rc1');
    const dir = mkdtempSync(join(tmpdir(), 'zonix-create-'));
    try {
      const data = { name: 'My App', version: '1.0.0' };
      assert.equal(savePrefixFor(data), 'my-app-1.0.0');
      assert.equal(savePrefixFor(data, dir), join(dir, 'my-app-1.0.0'));
      assert.equal(savePrefixFor(data, join(dir, 'img')), join(dir, 'img'));
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('words validation errors as SmartOS: missing fields by code, others with the reason', () => {
    const problems = manifestProblems({ v: 2, uuid: origin.uuid, type: 'zone-dataset', os: 'plan9' });
    assert.equal(
      manifestValidationMessage(problems),
      'invalid manifest: name (MissingParameter), version (MissingParameter), ' +
        'os (must be one of: smartos, linux, windows, bsd, illumos, other)',
    );
  });

  it('indents the logged manifest by four spaces', () => {
    assert.equal(indentJson({ a: [1] }), '    {\n      "a": [\n        1\n      ]\n    }');
  });
});

describe('imgadm create: the new manifest', () => {
  it('takes v and uuid, the given data, the origin inheritable fields, min_platform and published_at', () => {
    const m = buildManifest(inputs({}));
    assert.deepEqual(m, {
      v: 2,
      uuid: '11111111-2222-4333-8444-555555555555',
      name: 'myimg',
      version: '1.0.0',
      type: 'zone-dataset',
      os: 'other',
      requirements: { min_ram: 64, min_platform: { '7.0': '20261120T100000Z' } },
      users: [{ name: 'root' }],
      published_at: '2026-11-20T10:00:00.000Z',
    });
    assert.deepEqual(manifestProblems(m), []);
    // The origin's manifest is not changed by what the new one adds.
    assert.deepEqual(origin.requirements, { min_ram: 64 });
  });

  it('given fields win over inherited ones; an explicit min_platform or brand is kept', () => {
    const m = buildManifest(
      inputs({
        given: {
          name: 'n',
          version: '2',
          os: 'linux',
          requirements: { min_platform: {}, brand: '' },
          published_at: '2020-01-01T00:00:00Z',
        },
        vm: { uuid: VM, brand: 'lx' },
      }),
    );
    assert.equal(m.os, 'linux');
    assert.equal(m.type, 'zone-dataset');
    assert.deepEqual(m.requirements, { min_platform: {}, brand: '' });
    assert.equal(m.published_at, '2020-01-01T00:00:00Z');
  });

  it('marks images of lx VMs with their brand, and sets origin for incremental images', () => {
    const m = buildManifest(inputs({ vm: { uuid: VM, brand: 'lx' }, incremental: true }));
    assert.deepEqual(m.requirements, { min_ram: 64, brand: 'lx' });
    assert.equal(m.origin, origin.uuid);
  });

  it('refuses an incremental image of a VM without an origin image, as SmartOS', () => {
    const { origin: _o, ...noOrigin } = inputs({ incremental: true });
    assert.throws(
      () => buildManifest(noOrigin),
      (e: unknown) =>
        e instanceof ZonixError &&
        e.code === 'VmHasNoOrigin' &&
        e.exitCode === 1 &&
        e.message === `cannot create an incremental image: vm "${VM}" has no origin`,
    );
    // Without -i and without origin: only what was given (type and os then missing).
    const m = buildManifest({ ...noOrigin, incremental: false });
    assert.equal(m.type, undefined);
    assert.deepEqual(
      manifestProblems(m).map((p) => p.field),
      ['type', 'os'],
    );
  });
});

describe('imgadm create: origin depth', () => {
  it('counts the VM image and each origin above it, refusing chains deeper than the maximum', () => {
    const img = (uuid: string, parent?: string): ImageManifest => ({
      ...origin,
      uuid,
      ...(parent ? { origin: parent } : {}),
    });
    const a = img('aaaaaaaa-0000-4000-8000-000000000001');
    const b = img('aaaaaaaa-0000-4000-8000-000000000002', a.uuid);
    const c = img('aaaaaaaa-0000-4000-8000-000000000003', b.uuid);
    const lookup = (u: string) => [a, b, c].find((m) => m.uuid === u);
    checkOriginDepth(lookup, a, 2);
    checkOriginDepth(lookup, b, 2);
    checkOriginDepth(lookup, c, 3);
    assert.throws(
      () => checkOriginDepth(lookup, c, 2),
      (e: unknown) =>
        e instanceof ZonixError &&
        e.code === 'MaxOriginDepth' &&
        e.message === 'cannot create image: maximum origin depth "2" has been reached',
    );
  });
});

describe('imgadm create: arguments', () => {
  it('takes options before, between and after the operands, short and long', () => {
    const a = parseCreateArgv([
      '-m',
      '-',
      VM,
      'name=foo',
      '-o',
      '/var/tmp',
      'version=1',
      '--compression=gzip',
      '-iq',
      '--max-origin-depth',
      '3',
    ]);
    assert.deepEqual(a, {
      vmUuid: VM,
      fields: ['name=foo', 'version=1'],
      manifestFile: '-',
      outputTemplate: '/var/tmp',
      compression: 'gzip',
      incremental: true,
      quiet: true,
      maxOriginDepth: 3,
      help: false,
    });
    assert.deepEqual(parseCreateArgv(['--output-template', 'x', '-cxz', '--', VM, '-a=b']), {
      vmUuid: VM,
      fields: ['-a=b'],
      outputTemplate: 'x',
      compression: 'xz',
      incremental: false,
      quiet: false,
      help: false,
    });
    assert.equal(parseCreateArgv(['-h']).help, true);
  });

  it('reports bad arguments as SmartOS, in its order', () => {
    const usage = (argv: string[], msg: string) =>
      assert.throws(
        () => parseCreateArgv(argv),
        (e: unknown) => e instanceof UsageError && e.exitCode === 2 && e.message === msg,
      );
    usage([], 'incorrect number of args (0): ""');
    usage(['-c', 'lz4', VM], 'invalid -c,--compression "lz4": must be one of "none", "bzip2", "gzip", "xz"');
    usage(
      ['-o', 'x', '-p', 'http://imgapi', VM],
      'cannot specify both -o,--output-template and -p,--publish',
    );
    usage(['--max-origin-depth=1', VM], 'invalid max-origin-depth "1": must be greater than 1');
    usage(['--max-origin-depth=x', VM], 'arg for "--max-origin-depth" is not a positive integer: "x"');
    usage(['-x', VM], 'unknown option: "-x"');
    usage(['--frob', VM], 'unknown option: "--frob"');
    usage([VM, '-o'], 'do not have enough args for "-o" option');
    usage(['--incremental=yes', VM], 'argument given to "--incremental" option that does not take one');
    assert.throws(
      () => parseCreateArgv(['not-a-uuid']),
      (e: unknown) =>
        e instanceof ZonixError &&
        e.code === 'InvalidUUID' &&
        e.exitCode === 1 &&
        e.message === 'invalid uuid: "not-a-uuid"',
    );
  });
});
