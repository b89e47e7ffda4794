/**
 * Accounts (as Triton's UFDS has them: login, uuid, email, name) and their SSH keys, kept in the
 * system pool (one document per account). A VM is an account's through its `owner_uuid`.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { acquireLock } from '../common/index.ts';
import type { DocStore } from '../storage/index.ts';
import { DocCache } from './doc-cache.ts';
import { CloudError, invalid, notFound } from './errors.ts';
import { normalizeFingerprint, parseKey } from './keys.ts';

export interface AccountKey {
  name: string;
  /** MD5, colon hex. */
  fingerprint: string;
  /** SHA256:base64. */
  sha256: string;
  /** The OpenSSH line. */
  key: string;
  created: string;
}

export interface Account {
  uuid: string;
  login: string;
  email?: string;
  /** The person's name (CloudAPI splits it into firstName and lastName). */
  name?: string;
  created: string;
  updated: string;
  keys: AccountKey[];
}

/** As UFDS: 3 to 32 characters, a letter first, then letters, digits, `_ . @ -`. */
const LOGIN = /^[a-zA-Z][a-zA-Z0-9_.@-]{2,31}$/;
/** Key names: what CloudAPI takes (a key's file name, a fingerprint). */
const KEY_NAME = /^[a-zA-Z0-9_.:@+=-]{1,128}$/;
/** `my` stands for the caller in CloudAPI paths, `--ping` is the ping route: neither can be a login. */
const RESERVED = new Set(['my', 'admin', 'root']);

export const validLogin = (login: string) => LOGIN.test(login) && !RESERVED.has(login.toLowerCase());

export class Accounts {
  private readonly cache: DocCache<Account>;

  constructor(private readonly docs: () => DocStore) {
    this.cache = new DocCache(docs);
  }

  private lock() {
    const dir = this.docs().dir;
    mkdirSync(dir, { recursive: true });
    return acquireLock(join(dir, '.lock'), { timeoutMs: 10_000 });
  }

  list(): Account[] {
    return [...this.cache.all()].sort((a, b) => a.login.localeCompare(b.login));
  }

  /** By login (case as given) or uuid. */
  find(loginOrUuid: string): Account | undefined {
    return this.cache.all().find((a) => a.login === loginOrUuid || a.uuid === loginOrUuid);
  }

  get(loginOrUuid: string): Account {
    const a = this.find(loginOrUuid);
    if (!a) throw notFound(`account ${loginOrUuid} not found`);
    return a;
  }

  async add(req: { login: string; email?: string; name?: string; keys?: { key: string; name?: string }[] }) {
    if (!validLogin(req.login))
      throw invalid(
        `login '${req.login}' is invalid: 3 to 32 characters, a letter first, then letters, digits, _ . @ -`,
      );
    if (req.email !== undefined && !/^[^\s@]+@[^\s@]+$/.test(req.email))
      throw invalid(`email '${req.email}' is invalid`);
    const now = new Date().toISOString();
    const keys = (req.keys ?? []).map((k) => keyRecord(k.key, k.name, now));
    const lock = await this.lock();
    try {
      if (this.list().some((a) => a.login.toLowerCase() === req.login.toLowerCase()))
        throw new CloudError('InvalidArgument', `login ${req.login} is already taken`);
      const account: Account = {
        uuid: randomUUID(),
        login: req.login,
        ...(req.email ? { email: req.email } : {}),
        ...(req.name ? { name: req.name } : {}),
        created: now,
        updated: now,
        keys: dedupeKeys(keys),
      };
      this.docs().put(account.uuid, account);
      return account;
    } finally {
      lock.release();
    }
  }

  async delete(login: string): Promise<Account> {
    const lock = await this.lock();
    try {
      const a = this.get(login);
      this.docs().delete(a.uuid);
      return a;
    } finally {
      lock.release();
    }
  }

  async addKey(login: string, text: string, name?: string): Promise<AccountKey> {
    const k = keyRecord(text, name, new Date().toISOString());
    const lock = await this.lock();
    try {
      const a = this.get(login);
      if (a.keys.some((x) => x.fingerprint === k.fingerprint || x.name === k.name))
        throw invalid('key already exists or is invalid');
      this.docs().put(a.uuid, { ...a, keys: [...a.keys, k], updated: k.created });
      return k;
    } finally {
      lock.release();
    }
  }

  /** A key by name, MD5 fingerprint (with or without `MD5:`) or SHA256 fingerprint. */
  key(login: string, id: string): AccountKey {
    const k = findKey(this.get(login), id);
    if (!k) throw notFound(`key ${id} not found`);
    return k;
  }

  async deleteKey(login: string, id: string): Promise<AccountKey> {
    const lock = await this.lock();
    try {
      const a = this.get(login);
      const k = findKey(a, id);
      if (!k) throw notFound(`key ${id} not found`);
      this.docs().put(a.uuid, {
        ...a,
        keys: a.keys.filter((x) => x !== k),
        updated: new Date().toISOString(),
      });
      return k;
    } finally {
      lock.release();
    }
  }
}

function findKey(a: Account, id: string): AccountKey | undefined {
  const fp = normalizeFingerprint(id);
  return a.keys.find((k) => k.fingerprint === fp || k.sha256 === fp || k.name === id);
}

function keyRecord(text: string, name: string | undefined, now: string): AccountKey {
  const p = parseKey(text);
  const n = name ?? p.md5;
  if (!KEY_NAME.test(n)) throw invalid(`key name '${n}' is invalid`);
  return { name: n, fingerprint: p.md5, sha256: p.sha256, key: p.openssh, created: now };
}

function dedupeKeys(keys: AccountKey[]): AccountKey[] {
  const seen = new Set<string>();
  return keys.filter((k) => !seen.has(k.fingerprint) && seen.add(k.fingerprint));
}
