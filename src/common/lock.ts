/**
 * A lock shared by every Zonix process on the host: a file created with O_EXCL that names its holder
 * (pid and process start time). A holder that died (kill -9) leaves the file behind; the next taker sees
 * the process is gone, and takes over, handing the dead holder's recorded intent to `onStale` so that
 * half-done work can be reconciled first. Inside one process, takers of the same path queue up.
 * @module
 */
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync, constants } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErrno, ZonixError } from './errors.ts';
import { procStat } from './proc.ts';

export interface LockHolder {
  pid: number;
  start: string;
  intent?: unknown;
}

export interface LockOptions {
  /** Give up after this long (default 60 s). */
  timeoutMs?: number;
  /** What the holder means to do: readable by whoever finds the lock stale. */
  intent?: unknown;
  /** Called with the dead holder's record before the lock is taken over. */
  onStale?: (dead: LockHolder) => void | Promise<void>;
}

const inProcess = new Map<string, Promise<void>>();

/** When the process started (field 22 of its stat), or undefined when it is gone. */
export function processStartTime(pid: number): string | undefined {
  return procStat(pid)?.start || undefined;
}

const selfStart = processStartTime(process.pid) ?? '0';

function readHolder(path: string): LockHolder | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

function fileAgeMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function holderAlive(h: LockHolder): boolean {
  return processStartTime(h.pid) === h.start;
}

/** Is the lock at `path` held by a process that died without releasing it? */
export function lockIsStale(path: string): boolean {
  const h = readHolder(path);
  return h !== undefined && !holderAlive(h);
}

export class FileLock {
  private released = false;
  constructor(
    readonly path: string,
    private readonly releaseInProcess: () => void,
  ) {}

  /** Rewrite the recorded intent (for example, as a multi-step operation advances). */
  setIntent(intent: unknown): void {
    const fd = openSync(this.path, 'w');
    try {
      writeSync(fd, JSON.stringify({ pid: process.pid, start: selfStart, intent }));
    } finally {
      closeSync(fd);
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    try {
      unlinkSync(this.path);
    } finally {
      this.releaseInProcess();
    }
  }
}

export async function acquireLock(path: string, opts: LockOptions = {}): Promise<FileLock> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  // Queue behind other takers in this process.
  const prev = inProcess.get(path) ?? Promise.resolve();
  let releaseLocal!: () => void;
  const mine = new Promise<void>((resolve) => (releaseLocal = resolve));
  const chained = prev.then(() => mine);
  inProcess.set(path, chained);
  const releaseInProcess = () => {
    releaseLocal();
    if (inProcess.get(path) === chained) inProcess.delete(path);
  };
  // Waiting behind another taker counts against the same deadline.
  let timer: NodeJS.Timeout | undefined;
  const expired = await Promise.race([
    prev.then(() => false),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (expired) {
    // Keep the queue intact: hand our turn straight on when it comes.
    void prev.then(releaseInProcess);
    throw new ZonixError('EBUSY', `timed out waiting for lock ${path} (held in this process)`);
  }

  let delay = 2;
  for (;;) {
    try {
      const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      try {
        writeSync(fd, JSON.stringify({ pid: process.pid, start: selfStart, intent: opts.intent }));
      } catch (err) {
        // Could not say who holds it (a full disk): leave no torn lock behind.
        closeSync(fd);
        unlinkSync(path);
        throw err;
      }
      closeSync(fd);
      return new FileLock(path, releaseInProcess);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) {
        releaseInProcess();
        throw err;
      }
    }
    const holder = readHolder(path);
    if ((holder === undefined && fileAgeMs(path) > 2000) || (holder !== undefined && !holderAlive(holder))) {
      // A holder that died, or a file torn by a crash between create and write.
      try {
        if (holder !== undefined && opts.onStale) await opts.onStale(holder);
        unlinkSync(path);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) {
          releaseInProcess();
          throw err;
        }
      }
      continue;
    }
    if (Date.now() > deadline) {
      releaseInProcess();
      throw new ZonixError('EBUSY', `timed out waiting for lock ${path} held by pid ${holder?.pid ?? '?'}`);
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 100);
  }
}

export async function withLock<T>(path: string, fn: (lock: FileLock) => Promise<T>, opts?: LockOptions) {
  const lock = await acquireLock(path, opts);
  try {
    return await fn(lock);
  } finally {
    lock.release();
  }
}
