/**
 * imgadm's errors: a stable code (SmartOS's names) and its exit status (ImageNotInstalled is 3).
 * @module
 */
import { ZonixError } from '../common/index.ts';

export type ImgadmCode =
  | 'ImageNotInstalled'
  | 'ImageNotFound'
  | 'ImageHasDependentClones'
  | 'ManifestValidation'
  | 'InvalidManifest'
  | 'DownloadError'
  | 'SourcePing'
  | 'NoSources'
  | 'UnknownSource'
  | 'OriginNotInstalled'
  | 'InvalidImageFile'
  | 'ImportError';

const EXIT: Partial<Record<ImgadmCode, number>> = { ImageNotInstalled: 3, OriginNotInstalled: 3 };
const HTTP: Partial<Record<ImgadmCode, number>> = {
  ImageNotInstalled: 404,
  ImageNotFound: 404,
  ImageHasDependentClones: 409,
  ManifestValidation: 422,
  InvalidManifest: 422,
  OriginNotInstalled: 404,
};

export class ImgadmError extends ZonixError {
  constructor(code: ImgadmCode, message: string, cause?: unknown) {
    super(code, message, { exitCode: EXIT[code] ?? 1, httpStatus: HTTP[code] ?? 500, cause });
  }
}

export const notInstalled = (uuid: string, pool: string) =>
  new ImgadmError('ImageNotInstalled', `image "${uuid}" was not found on zpool "${pool}"`);
