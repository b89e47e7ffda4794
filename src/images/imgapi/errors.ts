/**
 * Errors on both sides of IMGAPI. `ImgapiError` is what the client throws, with imgadm's codes
 * (`SourcePing`, `ImageNotFound`, `DownloadError`) plus `SourceError` for any other failure of a
 * source. `RestError` is what the server answers with, as `{code, message}` JSON.
 * @module
 */
import { ZonixError } from '../../common/index.ts';

export type ImgapiErrorCode = 'SourcePing' | 'ImageNotFound' | 'DownloadError' | 'SourceError';

/** The JSON body of an IMGAPI error response. */
export interface RestErrorBody {
  code: string;
  message: string;
  errors?: { field: string; code: string; message?: string }[];
}

export interface ImgapiErrorOptions {
  /** The request URL. */
  url: string;
  /** HTTP status, when the source answered. */
  statusCode?: number;
  /** The source's `{code, message}`, when it sent one. */
  body?: RestErrorBody;
  /** True when the request got no answer (or no data) within the timeout. */
  timedOut?: boolean;
  cause?: unknown;
}

const HTTP_STATUS: Record<ImgapiErrorCode, number> = {
  SourcePing: 502,
  ImageNotFound: 404,
  DownloadError: 502,
  SourceError: 502,
};

export class ImgapiError extends ZonixError {
  declare readonly code: ImgapiErrorCode;
  readonly url: string;
  readonly statusCode: number | undefined;
  readonly body: RestErrorBody | undefined;
  readonly timedOut: boolean;

  constructor(code: ImgapiErrorCode, message: string, opts: ImgapiErrorOptions) {
    super(code, message, { httpStatus: HTTP_STATUS[code], cause: opts.cause });
    this.url = opts.url;
    this.statusCode = opts.statusCode;
    this.body = opts.body;
    this.timedOut = opts.timedOut ?? false;
  }
}

/** An error answer from the server: `ResourceNotFound` 404, `InvalidParameter` 422, `BadMethod` 405. */
export class RestError extends ZonixError {
  readonly errors: RestErrorBody['errors'];

  constructor(httpStatus: number, code: string, message: string, errors?: RestErrorBody['errors']) {
    super(code, message, { httpStatus });
    this.errors = errors;
  }

  toJSON(): RestErrorBody {
    return this.errors === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, errors: this.errors };
  }
}

export const notFound = (message: string) => new RestError(404, 'ResourceNotFound', message);

/** 422 `InvalidParameter` for one query or path field. */
export const invalidParam = (field: string, message: string) =>
  new RestError(422, 'InvalidParameter', message, [{ field, code: 'Invalid' }]);
