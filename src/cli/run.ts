/**
 * The one place a CLI's errors become messages and exit codes: a ZonixError prints its message (and a
 * usage text for usage errors) on stderr and exits with its code; anything else is a bug and says so.
 * @module
 */
import { ZonixError, UsageError } from '../common/errors.ts';

export type Main = (argv: string[]) => Promise<number>;

export function runMain(main: Main, argv = process.argv.slice(2)): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
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
