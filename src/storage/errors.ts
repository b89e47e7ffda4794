/**
 * Errors from the pool and datasets, worded as zfs(8) and zpool(8) word them
 * (`cannot open 'zones/x': dataset does not exist`). Exit 1, as ZFS.
 * @module
 */
import { ZonixError } from '../common/errors.ts';

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
