/**
 * Errors from the pool and datasets, worded as zfs(8) and zpool(8) word them
 * (`cannot open 'zones/x': dataset does not exist`). Exit 1, as ZFS.
 * @module
 */
import { ZonixError } from '../common/index.ts';
import { HostCommandError } from '../platform/index.ts';

export type ZfsErrorCode =
  | 'ENOENT'
  | 'EEXIST'
  | 'EINVAL'
  | 'EBUSY'
  | 'ENOSPC'
  | 'EDQUOT'
  | 'ENOTEMPTY'
  | 'ENOTSUP'
  | 'EBADSTREAM'
  | 'EIO';

const HTTP: Record<ZfsErrorCode, number> = {
  ENOENT: 404,
  EEXIST: 409,
  EINVAL: 400,
  EBUSY: 409,
  ENOSPC: 507,
  EDQUOT: 507,
  ENOTEMPTY: 409,
  ENOTSUP: 501,
  EBADSTREAM: 400,
  EIO: 500,
};

export class ZfsError extends ZonixError {
  constructor(code: ZfsErrorCode, message: string, cause?: unknown) {
    super(code, message, { httpStatus: HTTP[code], cause });
  }
}

/** `cannot <action> '<name>': <reason>` */
export function cannot(code: ZfsErrorCode, action: string, name: string, reason: string, cause?: unknown) {
  return new ZfsError(code, `cannot ${action} '${name}': ${reason}`, cause);
}

export const noDataset = (action: string, name: string) =>
  cannot('ENOENT', action, name, 'dataset does not exist');
export const noPool = (name: string) => cannot('ENOENT', 'open', name, 'no such pool');

/**
 * A failure from below (a host command, the kernel) worded as ZFS words it: a full pool is
 * `out of space`, a busy mount `dataset is busy`. Errors already worded pass through.
 */
export function asZfsError(err: unknown, action: string, name: string): unknown {
  if (err instanceof ZonixError && !(err instanceof HostCommandError)) return err;
  const text = err instanceof HostCommandError ? err.stderr : err instanceof Error ? err.message : '';
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  if (code === 'ENOSPC' || /No space left on device/i.test(text))
    return cannot('ENOSPC', action, name, 'out of space', err);
  if (code === 'EDQUOT' || /Disk quota exceeded/i.test(text))
    return cannot('EDQUOT', action, name, 'disk quota exceeded', err);
  if (code === 'EBUSY' || /Device or resource busy/i.test(text))
    return cannot('EBUSY', action, name, 'dataset is busy', err);
  if (code === 'EROFS' || /Read-only file system/i.test(text))
    return cannot('EIO', action, name, 'read-only file system', err);
  return err;
}

/** `cannot destroy 'x': <reason>`, then the datasets the flag would destroy with it, as zfs lists them. */
export function needsFlag(name: string, reason: string, flag: '-r' | '-R', names: string[]) {
  return cannot(
    'EBUSY',
    'destroy',
    name,
    `${reason}\nuse '${flag}' to destroy the following datasets:\n${names.join('\n')}`,
  );
}
