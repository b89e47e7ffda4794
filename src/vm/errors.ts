/**
 * vmadm's errors and their SmartOS wording. Starting a running VM or stopping a stopped one is not a
 * failure (exit 0), as on SmartOS.
 * @module
 */
import { ZonixError } from '../common/index.ts';

export class VmError extends ZonixError {
  constructor(
    code: string,
    message: string,
    opts: { exitCode?: number; httpStatus?: number; cause?: unknown } = {},
  ) {
    super(code, message, { httpStatus: 409, ...opts });
  }
}

export const vmNotFound = (uuid: string) =>
  new VmError('ENOENT', `zoneadm: ${uuid}: No such zone configured`, { httpStatus: 404 });

export const alreadyRunning = (uuid: string) =>
  new VmError('EALREADYRUNNING', `VM ${uuid} is already 'running'`, { exitCode: 0 });

export const notRunning = (uuid: string, state: string) =>
  new VmError('ENOTRUNNING', `VM ${uuid} is already not 'running' (currently: ${state})`, { exitCode: 0 });
