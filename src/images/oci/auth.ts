/**
 * Registry authentication: parsing `WWW-Authenticate` challenges and fetching Bearer tokens from the
 * realm they name (the docker token protocol), with Basic credentials when the user gave some.
 * @module
 */
import { OciError } from './errors.ts';

export interface Challenge {
  /** Lower-cased: `bearer`, `basic`. */
  scheme: string;
  /** Parameter names lower-cased, values unquoted. */
  params: Record<string, string>;
}

export interface Credentials {
  username: string;
  password: string;
}

/**
 * Parse a `WWW-Authenticate` header (`Bearer realm="https://auth",service="reg",scope="repository:a:pull,push"`)
 * into its challenges. Quoted values may contain commas and escaped quotes.
 */
export function parseChallenges(header: string | null | undefined): Challenge[] {
  const out: Challenge[] = [];
  if (!header) return out;
  const s = header;
  let i = 0;
  let current: Challenge | undefined;
  const skip = (re: RegExp) => {
    while (i < s.length && re.test(s.charAt(i))) i++;
  };
  while (i < s.length) {
    skip(/[\s,]/);
    const start = i;
    while (i < s.length && /[^\s,=]/.test(s.charAt(i))) i++;
    const token = s.slice(start, i);
    if (token === '') break;
    skip(/\s/);
    if (s.charAt(i) !== '=') {
      // A new scheme, possibly followed by parameters.
      current = { scheme: token.toLowerCase(), params: {} };
      out.push(current);
      continue;
    }
    i++; // '='
    skip(/\s/);
    let value = '';
    if (s.charAt(i) === '"') {
      i++;
      while (i < s.length && s.charAt(i) !== '"') {
        if (s.charAt(i) === '\\' && i + 1 < s.length) i++;
        value += s.charAt(i);
        i++;
      }
      i++; // closing quote
    } else {
      const vs = i;
      while (i < s.length && /[^\s,]/.test(s.charAt(i))) i++;
      value = s.slice(vs, i);
    }
    if (current) current.params[token.toLowerCase()] = value;
  }
  return out;
}

export function basicAuthorization(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64')}`;
}

export interface TokenRequest {
  challenge: Challenge;
  /** Used when the challenge names no scope (e.g. `repository:library/alpine:pull`). */
  defaultScope?: string;
  credentials?: Credentials;
  /** Names the image in errors. */
  what: string;
  signal?: AbortSignal;
}

function tokenUrl(req: TokenRequest): URL {
  const { realm, service, scope } = req.challenge.params;
  if (!realm)
    throw new OciError('RegistryUnauthorized', `unauthorized: ${req.what}: Bearer challenge has no realm`);
  let url: URL;
  try {
    url = new URL(realm);
  } catch (err) {
    throw new OciError('RegistryServerError', `${req.what}: invalid token realm "${realm}"`, { cause: err });
  }
  if (service) url.searchParams.set('service', service);
  const wanted = scope ?? req.defaultScope;
  if (wanted) for (const sc of wanted.split(' ')) url.searchParams.append('scope', sc);
  return url;
}

/** Fetch a Bearer token from the challenge's realm; returns the `Authorization` header value. */
export async function fetchBearerToken(req: TokenRequest): Promise<string> {
  const url = tokenUrl(req);
  const headers: Record<string, string> = { 'User-Agent': 'zonix-imgadm' };
  if (req.credentials) headers.Authorization = basicAuthorization(req.credentials);
  let res: Response;
  try {
    res = await fetch(url, { headers, signal: req.signal });
  } catch (err) {
    throw new OciError('RegistryNetworkError', `${req.what}: cannot reach token server ${url.host}`, {
      cause: err,
    });
  }
  if (res.status === 401 || res.status === 403) {
    await res.body?.cancel();
    throw new OciError(
      'RegistryUnauthorized',
      `unauthorized: ${req.what}: token server ${url.host} refused ${req.credentials ? 'the credentials' : 'anonymous access'} (HTTP ${res.status})`,
      { httpStatus: res.status },
    );
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new OciError(
      'RegistryServerError',
      `${req.what}: token server ${url.host} answered HTTP ${res.status}`,
    );
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch (err) {
    throw new OciError('RegistryServerError', `${req.what}: token server ${url.host} sent invalid JSON`, {
      cause: err,
    });
  }
  const rec = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const token = typeof rec.token === 'string' ? rec.token : rec.access_token;
  if (typeof token !== 'string' || token === '')
    throw new OciError('RegistryServerError', `${req.what}: token server ${url.host} sent no token`);
  return `Bearer ${token}`;
}
