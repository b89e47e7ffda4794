/**
 * Image references parsed and normalised as docker does: `alpine` is `docker.io/library/alpine:latest`,
 * `localhost:5000/foo/bar:tag` keeps its registry, `name@sha256:<hex>` pins a manifest.
 * @module
 */
import { OciError } from './errors.ts';

export interface ImageReference {
  /** The registry as written (`docker.io`, `localhost:5000`, `[::1]:5000`); `index.docker.io` becomes `docker.io`. */
  domain: string;
  /** The repository path inside the registry (`library/alpine`, `foo/bar`). */
  path: string;
  /** The tag; `latest` when neither tag nor digest was given, undefined for a digest-only reference. */
  tag?: string;
  /** `sha256:<64 hex>` when the reference pins a manifest. */
  digest?: string;
}

export const DOCKER_HUB_DOMAIN = 'docker.io';
/** Where docker.io's registry API really lives. */
export const DOCKER_HUB_REGISTRY = 'registry-1.docker.io';

const NAME_MAX = 255;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[a-fA-F0-9:.]+\]$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const SHA256 = /^sha256:[a-f0-9]{64}$/;

function invalid(input: string, why: string): OciError {
  return new OciError('InvalidImageReference', `invalid image reference "${input}": ${why}`);
}

/** Split `host[:port]` and check both parts. */
function checkDomain(input: string, domain: string): void {
  let host = domain;
  let port: string | undefined;
  if (domain.startsWith('[')) {
    const end = domain.indexOf(']');
    host = end < 0 ? domain : domain.slice(0, end + 1);
    const rest = domain.slice(host.length);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw invalid(input, `invalid registry host "${domain}"`);
      port = rest.slice(1);
    }
    if (!IPV6_HOST.test(host)) throw invalid(input, `invalid registry host "${domain}"`);
  } else {
    const colon = domain.lastIndexOf(':');
    if (colon >= 0) {
      host = domain.slice(0, colon);
      port = domain.slice(colon + 1);
    }
    if (host === '' || !host.split('.').every((c) => DOMAIN_COMPONENT.test(c)))
      throw invalid(input, `invalid registry host "${domain}"`);
  }
  if (port !== undefined) {
    const n = /^[0-9]{1,5}$/.test(port) ? Number(port) : NaN;
    if (!(n >= 1 && n <= 65535)) throw invalid(input, `invalid registry port "${port}" in "${domain}"`);
  }
}

/** Docker's rule: the first component is a registry if it has a dot or colon, is localhost, or has capitals. */
function splitDomain(name: string): { domain: string; path: string } {
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  const isDomain =
    slash >= 0 &&
    (first.includes('.') || first.includes(':') || first === 'localhost' || first.toLowerCase() !== first);
  let domain = isDomain ? first : DOCKER_HUB_DOMAIN;
  let path = isDomain ? name.slice(slash + 1) : name;
  if (domain === 'index.docker.io') domain = DOCKER_HUB_DOMAIN;
  if (domain === DOCKER_HUB_DOMAIN && !path.includes('/')) path = `library/${path}`;
  return { domain, path };
}

/** Parse an image reference as `docker pull` would; throws OciError('InvalidImageReference'). */
export function parseReference(input: string): ImageReference {
  const s = input.trim();
  if (s === '') throw invalid(input, 'empty reference');
  if (/^[a-f0-9]{64}$/.test(s))
    throw invalid(input, 'a 64-character hexadecimal string is an image ID, not a repository name');
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(input, `invalid digest "${digest}"`);
    if (!digest.startsWith('sha256:'))
      throw invalid(input, `unsupported digest algorithm "${digest.split(':')[0] ?? ''}" (only sha256)`);
    if (!SHA256.test(digest))
      throw invalid(input, `invalid digest "${digest}": expected sha256:<64 hex digits>`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(input, `invalid tag "${tag}"`);
  }
  if (rest === '') throw invalid(input, 'missing repository name');
  const { domain, path } = splitDomain(rest);
  checkDomain(input, domain);
  if (path === '') throw invalid(input, 'missing repository name');
  for (const component of path.split('/')) {
    if (component !== component.toLowerCase())
      throw invalid(input, `repository name must be lowercase ("${component}")`);
    if (!PATH_COMPONENT.test(component))
      throw invalid(input, `invalid repository name component "${component}"`);
  }
  if (domain.length + 1 + path.length > NAME_MAX)
    throw invalid(input, `repository name longer than ${NAME_MAX} characters`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  const ref: ImageReference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** The canonical string: `docker.io/library/alpine:3.20`, `host:5000/a/b@sha256:...`. */
export function formatReference(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The repository as docker prints it: `alpine`, `user/app`, `localhost:5000/foo/bar`. */
export function familiarName(ref: ImageReference): string {
  if (ref.domain !== DOCKER_HUB_DOMAIN) return `${ref.domain}/${ref.path}`;
  return ref.path.startsWith('library/') && ref.path.split('/').length === 2 ? ref.path.slice(8) : ref.path;
}

/** The host[:port] that serves the registry API for this reference. */
export function registryHost(ref: ImageReference): string {
  return ref.domain === DOCKER_HUB_DOMAIN ? DOCKER_HUB_REGISTRY : ref.domain;
}

/** localhost, 127.0.0.1 and [::1] (any port) are spoken to over plain http, as docker does. */
export function isLoopbackRegistry(domain: string): boolean {
  const host = domain.startsWith('[') ? domain.slice(0, domain.indexOf(']') + 1) : domain.split(':')[0];
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
}
