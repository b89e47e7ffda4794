/**
 * The one place a CLI's errors become messages and exit codes: a ZonixError prints its message (and a
 * usage text for usage errors) on stderr and exits with its code; anything else is a bug and says so.
 * @module
 */
import { writeSync } from 'node:fs';
import { isErrno, ZonixError, UsageError } from '../common/index.ts';

export type Main = (argv: string[]) => Promise<number>;

/** A reader that went away (`vmadm list | head`) is not an error: exit quietly, as SmartOS does. */
const quietOnEpipe = (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
};

/**
 * Call `fn` with process.stdout when something first uses it. Node makes each stdio stream on first
 * use, and that costs milliseconds (a pipe loads the net module): a CLI that never touches a stream,
 * or writes its output directly (see stdoutWriter), does not pay for it.
 */
function whenStdoutMade(fn: (s: NodeJS.WriteStream) => void): void {
  const d = Object.getOwnPropertyDescriptor(process, 'stdout');
  if (!d?.get || !d.configurable) return fn(process.stdout);
  let made = false;
  Object.defineProperty(process, 'stdout', {
    ...d,
    get() {
      const s = d.get!.call(process) as NodeJS.WriteStream;
      if (!made) {
        made = true;
        fn(s);
      }
      return s;
    },
  });
}

/**
 * Write all of `text` to file descriptor 1 at once, without making process.stdout: for a command's
 * whole output (`vmadm list` of a thousand VMs). Writes through process.stdout instead once that
 * exists (so output stays in order), or when the descriptor would block.
 */
export function stdoutWriter(): (text: string) => void {
  return (text) => {
    if (stdoutMade) return void process.stdout.write(text);
    const buf = Buffer.from(text);
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(1, buf, off);
    } catch (err) {
      if (isErrno(err, 'EPIPE')) process.exit(0);
      if (!isErrno(err, 'EAGAIN')) throw err;
      process.stdout.write(buf.subarray(off));
    }
  };
}

let stdoutMade = false;

export function runMain(main: Main, argv = process.argv.slice(2)): void {
  whenStdoutMade((s) => {
    stdoutMade = true;
    s.on('error', quietOnEpipe);
  });
  let settled = false;
  // A promise that never settles would let Node exit 0 with the work undone: never report success then.
  process.on('beforeExit', () => {
    if (!settled) {
      settled = true;
      process.stderr.write('internal error: the operation stopped before it completed\n');
      process.exitCode = 1;
    }
  });
  main(argv).then(
    (code) => {
      settled = true;
      process.exitCode = code;
    },
    (err: unknown) => {
      settled = true;
      process.exitCode = report(err);
    },
  );
}

/** Print an error the way the tool would; return the exit code. */
export function report(err: unknown, write = (s: string) => process.stderr.write(s)): number {
  if (err instanceof UsageError) {
    if (err.message) write(`${err.message}\n`);
    if (err.usage) write(err.usage.endsWith('\n') ? err.usage : `${err.usage}\n`);
    return err.exitCode;
  }
  if (err instanceof ZonixError) {
    write(`${err.message}\n`);
    if (process.env.ZONIX_DEBUG && err.cause instanceof Error)
      write(`cause: ${err.cause.stack ?? err.cause.message}\n`);
    return err.exitCode;
  }
  write(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
}
