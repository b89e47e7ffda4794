/**
 * CloudAPI's errors: `{"code","message"}` with the status CloudAPI gives each code (see the
 * reference, section 2.5). The native API and the CLIs show the same messages.
 * @module
 */
import { ZonixError } from '../common/index.ts';

const STATUS: Record<string, number> = {
  InvalidHeader: 400,
  BadRequest: 400,
  InvalidVersion: 400,
  RequestExpired: 400,
  InvalidCredentials: 401,
  NotAuthorized: 403,
  ResourceNotFound: 404,
  InvalidArgument: 409,
  MissingParameter: 409,
  KeyRequired: 409,
  CannotDestroyMachine: 409,
  InsufficientCapacity: 409,
  Gone: 410,
  InternalError: 500,
};

/** An error CloudAPI answers with: its code, its message, its status. */
export class CloudError extends ZonixError {
  constructor(code: string, message: string, status = STATUS[code] ?? 500) {
    // A bad argument is a usage error for the CLIs (exit 2); a missing resource or anything else, 1.
    super(code, message, { httpStatus: status, exitCode: status === 409 || status === 400 ? 2 : 1 });
  }
}

export const notFound = (message: string) => new CloudError('ResourceNotFound', message);
export const invalid = (message: string) => new CloudError('InvalidArgument', message);
export const missing = (message: string) => new CloudError('MissingParameter', message);
