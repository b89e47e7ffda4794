/**
 * SSH public keys as accounts hold them (RSA, ECDSA, Ed25519), read with sshpk: their MD5
 * fingerprint (colon hex, what CloudAPI's keyId carries) and SHA256 one, and the key itself for
 * checking HTTP signatures.
 * @module
 */
import sshpk from 'sshpk';
import { invalid } from './errors.ts';

export interface ParsedKey {
  /** `rsa`, `ecdsa`, `ed25519`. */
  type: string;
  bits: number;
  /** `4e:7f:41:...` */
  md5: string;
  /** `SHA256:Eu2u...` */
  sha256: string;
  /** The key as one OpenSSH line, with its comment. */
  openssh: string;
  comment: string;
  key: sshpk.Key;
}

const TYPES = new Set(['rsa', 'ecdsa', 'ed25519']);

/** Read an OpenSSH public key (`ssh-ed25519 AAAA... comment`); a bad or unsupported one is refused. */
export function parseKey(text: string): ParsedKey {
  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(text.trim(), 'ssh');
  } catch {
    throw invalid('key is invalid');
  }
  if (!TYPES.has(key.type)) throw invalid(`key is invalid: ${key.type} keys are not supported`);
  if (key.type === 'rsa' && key.size < 1024) throw invalid('key is invalid: RSA keys need 1024 bits or more');
  return {
    type: key.type,
    bits: key.size,
    md5: key.fingerprint('md5').toString('hex'),
    sha256: key.fingerprint('sha256').toString('base64'),
    openssh: key.toString('ssh'),
    comment: key.comment ?? '',
    key,
  };
}

/** `MD5:aa:bb...` or `aa:bb...` → `aa:bb...`; a SHA256 one stays as it is. */
export function normalizeFingerprint(fp: string): string {
  const s = fp.trim();
  if (/^MD5:/i.test(s)) return s.slice(4).toLowerCase();
  if (/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/i.test(s)) return s.toLowerCase();
  return s;
}
