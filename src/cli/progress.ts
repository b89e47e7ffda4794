/**
 * A byte meter for long streams: on a terminal it redraws one status line on stderr once a second;
 * otherwise it stays silent, so machine output is untouched.
 * @module
 */
import { PassThrough, Writable, type Readable } from 'node:stream';
import { niceNum } from '../storage/index.ts';

export interface Meter {
  /** A Writable that counts and forwards to `out`. */
  wrap(out: Writable): Writable;
  /** A Readable that counts what flows from `input`. */
  tap(input: Readable): Readable;
  done(): void;
}

export function progressMeter(err: Writable, enabled: boolean, verb: string): Meter {
  let bytes = 0;
  const start = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const line = () => {
    const secs = Math.max(0.001, (Date.now() - start) / 1000);
    err.write(`\r${verb} ${niceNum(bytes)}B in ${secs.toFixed(1)}s (${niceNum(bytes / secs)}B/s)\x1b[K`);
  };
  if (enabled) {
    timer = setInterval(line, 1000);
    timer.unref();
  }
  return {
    wrap(out) {
      if (!enabled) return out;
      return new Writable({
        highWaterMark: 1 << 20,
        write(chunk: Buffer, _e, cb) {
          bytes += chunk.length;
          if (out.write(chunk)) cb();
          else out.once('drain', () => cb());
        },
      });
    },
    tap(input) {
      if (!enabled) return input;
      const pt = new PassThrough({ highWaterMark: 1 << 20 });
      pt.on('data', (c: Buffer) => (bytes += c.length));
      input.pipe(pt);
      return pt;
    },
    done() {
      if (!timer) return;
      clearInterval(timer);
      line();
      err.write('\n');
    },
  };
}
