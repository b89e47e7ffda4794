/**
 * The API's errors: every failure answers a JSON body with a stable `code`, the `message` the CLI
 * would print for it (vmadm's own wording for a VM's payload), the exit code the CLI would give, the
 * fields it names when it names some, and the request's id; and the status that says whose fault it is
 * (4xx for the request, 5xx only for the host).
 * @module
 */
import { ZonixError } from '../common/index.ts';
import { PayloadError } from '../vm/index.ts';

export interface ErrorBody {
  code: string;
  message: string;
  exit_code?: number;
  fields?: string[];
  request_id?: string;
}

/** An error the API itself raises (a bad path, a wrong state it checks). */
export class ApiError extends ZonixError {
  readonly fields: string[] | undefined;
  constructor(status: number, code: string, message: string, fields?: string[]) {
    super(code, message, { httpStatus: status, exitCode: 1 });
    this.fields = fields;
  }
}

/** Status for a ZonixError that left it at the default (500) while its code says the input was bad. */
const BY_CODE: Record<string, number> = {
  EINVAL: 400,
  Usage: 400,
  ENOENT: 404,
  EEXIST: 409,
  EBUSY: 409,
  ENOTRUNNING: 409,
  EALREADYRUNNING: 409,
  ECANCELED: 409,
  ENOPOOL: 409,
  ENOTSUP: 501,
};

/** The fields a payload error names, from its arguments. */
function payloadFields(err: PayloadError): string[] | undefined {
  const first = err.args[0];
  if (Array.isArray(first) && first.every((f) => typeof f === 'string')) return first;
  if (err.code === 'InvalidValue' || err.code === 'BothGiven') return [String(first)];
  return undefined;
}

interface FastifyishError {
  statusCode?: number;
  code?: string;
  message: string;
  validation?: { instancePath?: string; params?: Record<string, unknown> }[];
  validationContext?: string;
}

/** Status and body for any error a handler threw (or fastify raised while reading the request). */
export function errorResponse(err: unknown, requestId: string): { status: number; body: ErrorBody } {
  const own = (status: number, e: ZonixError, fields: string[] | undefined) => ({
    status,
    body: {
      code: e.code,
      message: e.message,
      exit_code: e.exitCode,
      ...(fields ? { fields } : {}),
      request_id: requestId,
    },
  });
  if (err instanceof PayloadError) return own(400, err, payloadFields(err));
  if (err instanceof ZonixError) {
    let status = err.httpStatus;
    if (status === 500 && BY_CODE[err.code] !== undefined) status = BY_CODE[err.code]!;
    // The image tools' "not found" and "bad input" codes.
    if (status === 500 && /NotFound|NotInstalled/.test(err.code)) status = 404;
    if (status === 500 && /^Invalid|Usage/.test(err.code)) status = 400;
    if (status === 422) status = 400;
    const fields =
      err instanceof ApiError
        ? err.fields
        : typeof (err as { field?: unknown }).field === 'string'
          ? [(err as unknown as { field: string }).field]
          : undefined;
    return own(status, err, fields);
  }
  const e = (err ?? {}) as FastifyishError;
  if (Array.isArray(e.validation)) {
    const fields = e.validation.map((v) => {
      const missing = v.params?.missingProperty ?? v.params?.additionalProperty;
      const path = (v.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
      return typeof missing === 'string' ? (path ? `${path}.${missing}` : missing) : path || '(body)';
    });
    return {
      status: 400,
      body: {
        code: 'ValidationFailed',
        message: `${e.validationContext ?? 'request'} ${e.message}`.trim(),
        fields: [...new Set(fields)],
        request_id: requestId,
      },
    };
  }
  const status = typeof e.statusCode === 'number' && e.statusCode >= 400 ? e.statusCode : 500;
  if (status === 413)
    return { status, body: { code: 'RequestTooLarge', message: e.message, request_id: requestId } };
  if (/^FST_ERR_CTP_(INVALID_JSON|EMPTY_JSON)/.test(e.code ?? ''))
    return { status: 400, body: { code: 'InvalidJson', message: e.message, request_id: requestId } };
  if (status < 500)
    return {
      status,
      body: {
        code: e.code?.replace(/^FST_ERR_/, '') ?? 'BadRequest',
        message: e.message,
        request_id: requestId,
      },
    };
  return {
    status: 500,
    body: { code: 'InternalError', message: e.message || 'internal error', request_id: requestId },
  };
}
