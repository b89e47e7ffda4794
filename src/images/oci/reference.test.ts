import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isOciError } from './errors.ts';
import {
  familiarName,
  formatReference,
  isLoopbackRegistry,
  parseReference,
  registryHost,
  type ImageReference,
} from './reference.ts';

const HEX = 'a'.repeat(64);

describe('parseReference', () => {
  const cases: [string, ImageReference, string][] = [
    ['alpine', { domain: 'docker.io', path: 'library/alpine', tag: 'latest' }, 'alpine'],
    ['alpine:3.20', { domain: 'docker.io', path: 'library/alpine', tag: '3.20' }, 'alpine'],
    ['docker.io/library/alpine:3.20', { domain: 'docker.io', path: 'library/alpine', tag: '3.20' }, 'alpine'],
    ['index.docker.io/foo/bar', { domain: 'docker.io', path: 'foo/bar', tag: 'latest' }, 'foo/bar'],
    ['user/app:1.0-rc_1', { domain: 'docker.io', path: 'user/app', tag: '1.0-rc_1' }, 'user/app'],
    [
      'localhost:5000/foo/bar:tag',
      { domain: 'localhost:5000', path: 'foo/bar', tag: 'tag' },
      'localhost:5000/foo/bar',
    ],
    ['localhost/foo', { domain: 'localhost', path: 'foo', tag: 'latest' }, 'localhost/foo'],
    [
      `host.example:5000/name@sha256:${HEX}`,
      { domain: 'host.example:5000', path: 'name', digest: `sha256:${HEX}` },
      'host.example:5000/name',
    ],
    [
      `quay.io/a/b/c:v1@sha256:${HEX}`,
      { domain: 'quay.io', path: 'a/b/c', tag: 'v1', digest: `sha256:${HEX}` },
      'quay.io/a/b/c',
    ],
    ['[::1]:5000/a/b:c', { domain: '[::1]:5000', path: 'a/b', tag: 'c' }, '[::1]:5000/a/b'],
    [
      'my-reg.local/a__b/c.d-e',
      { domain: 'my-reg.local', path: 'a__b/c.d-e', tag: 'latest' },
      'my-reg.local/a__b/c.d-e',
    ],
  ];
  for (const [input, want, familiar] of cases) {
    it(`parses ${input}`, () => {
      const ref = parseReference(input);
      assert.deepEqual(ref, want);
      assert.equal(familiarName(ref), familiar);
      assert.deepEqual(parseReference(formatReference(ref)), ref, 'round trip');
    });
  }

  it('formats the canonical form and knows where docker.io lives', () => {
    const ref = parseReference('alpine');
    assert.equal(formatReference(ref), 'docker.io/library/alpine:latest');
    assert.equal(registryHost(ref), 'registry-1.docker.io');
    assert.equal(registryHost(parseReference('localhost:5000/x')), 'localhost:5000');
  });

  const errors: [string, RegExp][] = [
    ['', /empty reference/],
    ['Alpine', /must be lowercase \("Alpine"\)/],
    ['alpine:-x', /invalid tag "-x"/],
    [`alpine:${'t'.repeat(129)}`, /invalid tag/],
    ['alpine@sha256:abc', /invalid digest "sha256:abc"/],
    ['alpine@md5:abc', /unsupported digest algorithm "md5"/],
    ['host:99999/a', /invalid registry port "99999"/],
    ['ho_st.io:5000/a', /invalid registry host "ho_st.io:5000"/],
    ['a//b', /invalid repository name component ""/],
    ['foo/Bar', /must be lowercase \("Bar"\)/],
    ['foo/-bar', /invalid repository name component "-bar"/],
    [HEX, /image ID, not a repository name/],
    [`x/${'a'.repeat(260)}`, /longer than 255/],
  ];
  for (const [input, message] of errors) {
    it(`refuses ${JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}...` : input)}`, () => {
      assert.throws(
        () => parseReference(input),
        (err: unknown) => isOciError(err, 'InvalidImageReference') && message.test(err.message),
      );
    });
  }
});

describe('isLoopbackRegistry', () => {
  it('is true for localhost, 127.0.0.1 and [::1] with any port', () => {
    for (const d of ['localhost', 'localhost:5000', '127.0.0.1:80', '[::1]:5000', '[::1]'])
      assert.equal(isLoopbackRegistry(d), true, d);
    for (const d of ['docker.io', '127.0.0.2:5000', 'localhost.example:5000', '[::2]:5000'])
      assert.equal(isLoopbackRegistry(d), false, d);
  });
});
