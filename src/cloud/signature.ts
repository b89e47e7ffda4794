/**
 * CloudAPI's HTTP Signature auth (draft-cavage, as the `triton` CLI signs): http-signature parses
 * the Authorization header and checks the date's skew and the algorithm; the account's key (read by
 * sshpk) checks the signature through node:crypto. Keys are looked up under the keyId's login, never
 * by fingerprint alone.
 * @module
 */
import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { ClientRequest, IncomingMessage } from 'node:http';
import httpSignature from 'http-signature';
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

/**
 * Check the signature with node:crypto (OpenSSL): what http-signature's own check does through
 * sshpk, whose Ed25519 is plain JavaScript and fifty times slower. The algorithm names the key's
 * type and the hash (`rsa-sha256`, `ecdsa-sha384`, `ed25519-sha512`); ECDSA signatures are DER.
 */
function verifyWith(k: { type: string; key: KeyObject }, parsed: httpSignature.ParseResponse): boolean {
  const [type, hash] = parsed.params.algorithm.toLowerCase().split('-');
  if (type !== k.type || !hash) return false;
  return cryptoVerify(
    type === 'ed25519' ? null : hash,
    Buffer.from(parsed.signingString),
    k.key,
    Buffer.from(parsed.params.signature, 'base64'),
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
  let parsed: httpSignature.ParseResponse;
  try {
    // Typed for client requests; it reads what a server's request has (method, url, headers).
    parsed = httpSignature.parseRequest(req as unknown as ClientRequest, {
      clockSkew: CLOCK_SKEW_S,
      algorithms: ALGORITHMS,
      headers: ['date'],
    });
  } catch (err) {
    const e = err as Error & { name?: string };
    if (e.name === 'ExpiredRequestError') throw new CloudError('InvalidHeader', e.message);
    throw new CloudError('InvalidHeader', `Authorization header invalid: ${e.message}`);
  }
  const keyId = parsed.params.keyId;
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
