/**
 * Errors a user can trigger carry a stable `code`, the exit code the SmartOS tool would give, and an HTTP
 * status for the API edge. Programmer errors stay plain `Error`.
 * @module
 */

export interface ZonixErrorOptions {
  exitCode?: number;
  httpStatus?: number;
  hint?: string;
  cause?: unknown;
}

export class ZonixError extends Error {
  readonly code: string;
  readonly exitCode: number;
  readonly httpStatus: number;
  readonly hint: string | undefined;

  /**
   * `instanceof` also holds for an error made by another copy of this module: each CLI command group
   * is its own bundle, so a group's errors meet the dispatcher's classes.
   */
  static override [Symbol.hasInstance](x: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, x)) return true;
    const kinds = (x as { zonixKinds?: unknown } | null)?.zonixKinds;
    return Array.isArray(kinds) && kinds.includes(this.name);
  }

  constructor(code: string, message: string, opts: ZonixErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    const kinds: string[] = [];
    for (let c: unknown = new.target; typeof c === 'function' && c !== Error; c = Object.getPrototypeOf(c))
      kinds.push((c as { name: string }).name);
    // The error classes it is an instance of, by name, not enumerable (not in JSON).
    Object.defineProperty(this, 'zonixKinds', { value: kinds });
    this.code = code;
    this.exitCode = opts.exitCode ?? 1;
    this.httpStatus = opts.httpStatus ?? 500;
    this.hint = opts.hint;
  }
}

/** Bad arguments on a command line: exit 2, as every SmartOS tool does. */
export class UsageError extends ZonixError {
  /** Printed after the message (a command's usage text). */
  readonly usage: string | undefined;
  constructor(message: string, usage?: string) {
    super('Usage', message, { exitCode: 2, httpStatus: 400 });
    this.usage = usage;
  }
}

export class NotFoundError extends ZonixError {
  constructor(message: string, opts: ZonixErrorOptions = {}) {
    super('ENOENT', message, { httpStatus: 404, ...opts });
  }
}

export class NotSupportedError extends ZonixError {
  constructor(message: string, opts: ZonixErrorOptions = {}) {
    super('ENOTSUP', message, { httpStatus: 501, ...opts });
  }
}

/** True when `err` is a Node system error with the given errno code (ENOENT, EEXIST, ...). */
export function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}
