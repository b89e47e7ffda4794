/**
 * A fetch body as a Node stream that fails loudly: a connection broken midway, a short body, or
 * no data for `idleTimeoutMs` while the reader waits all destroy it with a `DownloadError`.
 * @module
 */
import { Readable } from 'node:stream';
import type { ImgapiError } from './errors.ts';

export interface DownloadStreamOptions {
  /** Content-Length, when the server sent one. */
  size: number | undefined;
  idleTimeoutMs: number;
  /** Aborted to drop the connection when the stream is destroyed or times out. */
  abort: AbortController;
  /** Builds the `DownloadError` for a failure. */
  fail: (detail: string, opts: { cause?: unknown; timedOut?: boolean }) => ImgapiError;
}

export function downloadStream(body: ReadableStream<Uint8Array>, opts: DownloadStreamOptions): Readable {
  const reader = body.getReader();
  let received = 0;
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const stopTimer = () => {
    clearTimeout(timer);
    timer = undefined;
  };

  return new Readable({
    // The idle timer only runs while the consumer waits for data, so a slow consumer is no timeout.
    read() {
      timer = setTimeout(() => {
        timedOut = true;
        opts.abort.abort();
      }, opts.idleTimeoutMs);
      reader.read().then(
        ({ done, value }) => {
          stopTimer();
          if (!done) {
            received += value.byteLength;
            this.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
          } else if (opts.size !== undefined && received !== opts.size) {
            this.destroy(opts.fail(`short download: got ${received} of ${opts.size} bytes`, {}));
          } else {
            this.push(null);
          }
        },
        (err: unknown) => {
          stopTimer();
          const detail = timedOut
            ? `no data for ${opts.idleTimeoutMs} ms after ${received} bytes`
            : `connection broke after ${received} bytes: ${causeText(err)}`;
          this.destroy(opts.fail(detail, { cause: err, timedOut }));
        },
      );
    },
    destroy(err, cb) {
      stopTimer();
      reader.cancel().catch(() => undefined);
      opts.abort.abort();
      cb(err);
    },
  });
}

/** The most useful text in a fetch failure: undici hides the socket error in `cause`. */
export function causeText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause: unknown = err.cause;
  if (cause instanceof Error && cause.message !== '') return cause.message;
  return err.message;
}
