/**
 * One type for work that takes a while (a create, an image import, a send): the caller may cancel it
 * through an AbortSignal and hears of its progress through one callback. The CLIs print progress on a
 * terminal; the service will send it to the API's jobs. Work checks for cancellation at its steps, and
 * a cancelled step undoes what it made, as any failure does.
 * @module
 */
import { ZonixError } from './errors.ts';

export interface Progress {
  /** What the operation is doing now ("cloning", "booting", "sending"). */
  readonly phase: string;
  /** The VM, image or dataset it concerns. */
  readonly subject?: string;
  /** Work done and in all (bytes, steps), when known. */
  readonly done?: number;
  readonly total?: number;
  readonly message?: string;
}

export interface Operation {
  readonly signal?: AbortSignal;
  progress?(p: Progress): void;
}

/** The operation was cancelled by its caller. */
export class CancelledError extends ZonixError {
  constructor(what: string) {
    super('ECANCELED', `${what}: cancelled`, { httpStatus: 409 });
  }
}

/** Throw CancelledError if the operation was cancelled (call at each step that can stop cleanly). */
export function checkCancelled(op: Operation | undefined, what: string): void {
  if (op?.signal?.aborted) throw new CancelledError(what);
}

/** Report progress, if anyone listens; a listener that throws never fails the work. */
export function reportProgress(op: Operation | undefined, p: Progress): void {
  try {
    op?.progress?.(p);
  } catch {
    /* a broken listener is not the operation's failure */
  }
}
