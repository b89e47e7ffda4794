/**
 * Errors from pulling and unpacking OCI/Docker images. One class with a stable CamelCase `code` (imgadm's
 * style), so callers switch on the code; every message names the image reference it is about.
 * @module
 */
import { ZonixError } from '../../common/index.ts';

export type OciErrorCode =
  /** The image reference does not parse (the message names the bad part). */
  | 'InvalidImageReference'
  /** 401/403 from the registry or its token server, or credentials needed and not given. */
  | 'RegistryUnauthorized'
  /** 404 for a manifest (tag or digest unknown, or the repository does not exist). */
  | 'ManifestUnknown'
  /** 404 for a blob (config or layer). */
  | 'BlobUnknown'
  /** 5xx, or another status the protocol does not allow. */
  | 'RegistryServerError'
  /** The registry could not be reached (DNS, refused, reset, timeout). */
  | 'RegistryNetworkError'
  /** Content whose sha256 is not the digest it was asked for (or its size is wrong). */
  | 'DigestMismatch'
  /** A malformed or unsupported manifest, config, layer or archive. */
  | 'InvalidImage'
  /** No linux/amd64 image in a manifest list, or an image built for another platform. */
  | 'PlatformNotFound';

const HTTP: Record<OciErrorCode, number> = {
  InvalidImageReference: 400,
  RegistryUnauthorized: 401,
  ManifestUnknown: 404,
  BlobUnknown: 404,
  RegistryServerError: 502,
  RegistryNetworkError: 502,
  DigestMismatch: 502,
  InvalidImage: 422,
  PlatformNotFound: 404,
};

export class OciError extends ZonixError {
  declare readonly code: OciErrorCode;
  constructor(
    code: OciErrorCode,
    message: string,
    opts: { cause?: unknown; hint?: string; httpStatus?: number } = {},
  ) {
    super(code, message, { httpStatus: opts.httpStatus ?? HTTP[code], cause: opts.cause, hint: opts.hint });
  }
}

/** True when `err` is an OciError with this code. */
export function isOciError(err: unknown, code: OciErrorCode): err is OciError {
  return err instanceof OciError && err.code === code;
}
