/**
 * CloudAPI's HTTP Signature auth (draft-cavage, as the `triton` CLI signs): the Authorization header
 * parsed, the date's skew and the algorithm checked, and the signature checked with the account's
 * key (read by sshpk) through node:crypto. Keys are looked up under the keyId's login, never
 * by fingerprint alone.
 * @module
 */
import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Account, AccountKey } from './accounts.ts';
import { CloudError } from './errors.ts';
import { normalizeFingerprint, parseKey } from './keys.ts';

/** The algorithms CloudAPI allows (rsa-sha1 for old ssh-agents). */
const ALGORITHMS = [
  'rsa-sha1',
  'rsa-sha256',
  'rsa-sha384',
  'rsa-sha512',
  'ecdsa-sha256',
  'ecdsa-sha384',
  'ecdsa-sha512',
  'ed25519-sha512',
];
export const CLOCK_SKEW_S = 300;

export interface Caller {
  account: Account;
  key: AccountKey;
  keyId: string;
}

/** An account key as node:crypto holds it, made once per key (sshpk reads OpenSSH's format). */
const keys = new Map<string, { type: string; key: KeyObject }>();
function publicKey(text: string): { type: string; key: KeyObject } {
  let k = keys.get(text);
  if (!k) {
    const p = parseKey(text);
    k = { type: p.type, key: createPublicKey(p.key.toString('pkcs8')) };
    if (keys.size > 10_000) keys.clear();
    keys.set(text, k);
  }
  return k;
}

/** A parsed Authorization header and the string it signs. */
export interface ParsedSignature {
  keyId: string;
  algorithm: string;
  signature: string;
  signingString: string;
}

const invalidHeader = (why: string) =>
  new CloudError('InvalidHeader', `Authorization header invalid: ${why}`);

/**
 * Parse a `Signature keyId="...",algorithm="...",headers="...",signature="..."` header as
 * draft-cavage has it (what http-signature's parser does, with the algorithms CloudAPI allows, which
 * include `ecdsa-sha384` that http-signature 1.4 does not), and build the signing string from the
 * request: `(request-target)` is the method and the target as sent; the date must be signed and
 * within 300 s.
 */
export function parseSignature(
  req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>,
  now = Date.now(),
): ParsedSignature {
  const auth = req.headers.authorization ?? '';
  const params: Record<string, string> = {};
  const rest = auth.replace(/^Signature\s+/i, '');
  const re = /\s*([A-Za-z]+)="([^"]*)"\s*(,|$)/y;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < rest.length && (m = re.exec(rest))) {
    params[m[1]!] = m[2]!;
    at = re.lastIndex;
  }
  if (at < rest.length) throw invalidHeader(`bad parameters at '${rest.slice(at, at + 20)}'`);
  for (const k of ['keyId', 'algorithm', 'signature'])
    if (!params[k]) throw invalidHeader(`${k} was not specified`);
  const algorithm = params.algorithm!.toLowerCase();
  if (!ALGORITHMS.includes(algorithm))
    throw invalidHeader(`${params.algorithm!} is not a supported algorithm`);
  const headers = (params.headers ?? 'date').toLowerCase().split(/\s+/).filter(Boolean);
  if (!headers.includes('date') && !headers.includes('x-date'))
    throw invalidHeader('date was not in the request');
  const lines = headers.map((h) => {
    if (h === '(request-target)')
      return `(request-target): ${(req.method ?? 'GET').toLowerCase()} ${req.url ?? '/'}`;
    const v = req.headers[h];
    if (v === undefined) throw invalidHeader(`${h} was not in the request`);
    return `${h}: ${Array.isArray(v) ? v.join(', ') : v}`;
  });
  const date = Date.parse(String(req.headers['x-date'] ?? req.headers.date ?? ''));
  if (Number.isNaN(date)) throw invalidHeader('the date header is not a date');
  const skew = Math.abs(now - date) / 1000;
  if (skew > CLOCK_SKEW_S)
    throw new CloudError(
      'InvalidHeader',
      `clock skew of ${skew.toFixed(3)}s was greater than ${CLOCK_SKEW_S}s`,
    );
  return { keyId: params.keyId!, algorithm, signature: params.signature!, signingString: lines.join('\n') };
}

/**
 * Check the signature with node:crypto (OpenSSL; sshpk's Ed25519 is plain JavaScript and fifty times
 * slower). The algorithm names the key's type and the hash (`rsa-sha256`, `ecdsa-sha384`,
 * `ed25519-sha512`); ECDSA signatures are DER.
 */
function verifyWith(k: { type: string; key: KeyObject }, parsed: ParsedSignature): boolean {
  const [type, hash] = parsed.algorithm.split('-');
  if (type !== k.type || !hash) return false;
  return cryptoVerify(
    type === 'ed25519' ? null : hash,
    Buffer.from(parsed.signingString),
    k.key,
    Buffer.from(parsed.signature, 'base64'),
  );
}

const noAuth = () =>
  new CloudError('InvalidCredentials', 'You must make authenticated requests to use CloudAPI');

/**
 * Who signed the request: its account and key, or a CloudError as CloudAPI gives it. `req.url`
 * must be the request target as sent (with its query string), which is what was signed.
 */
export function verifyRequest(
  req: IncomingMessage,
  accountOf: (login: string) => Account | undefined,
): Caller {
  const auth = req.headers.authorization;
  if (!auth) throw noAuth();
  if (!/^Signature\s/i.test(auth)) throw noAuth();
  const parsed = parseSignature(req);
  const keyId = parsed.keyId;
  const parts = keyId.split('/');
  // `/<login>/keys/<fp>`; RBAC sub-users (`/<login>/users/<user>/keys/<fp>`) are not kept here.
  if (parts.length !== 4 || parts[0] !== '' || parts[2] !== 'keys' || parts[1] === 'my')
    throw new CloudError('InvalidCredentials', `Invalid KeyId ${keyId} in authorization header`);
  const account = accountOf(parts[1]!);
  const want = normalizeFingerprint(decodeURIComponent(parts[3]!));
  const key = account?.keys.find((k) => k.fingerprint === want || k.sha256 === want || k.name === want);
  if (!account || !key)
    throw new CloudError('InvalidCredentials', `Invalid KeyId ${keyId} in authorization header`);
  let ok: boolean;
  try {
    ok = verifyWith(publicKey(key.key), parsed);
  } catch {
    ok = false;
  }
  if (!ok) throw new CloudError('InvalidCredentials', 'Invalid authorization credentials supplied');
  return { account, key, keyId };
}
