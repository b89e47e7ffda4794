/**
 * `sysinfo [-f] [-p] [-u]`: the host as SmartOS describes it, JSON by default, `key='value'` lines with
 * `-p`. `-f` probes the host again instead of using this boot's cached probe; `-u` only refreshes it.
 * @module
 */
import { UsageError } from '../common/index.ts';
import { collectSysinfo, formatParsable, probeHost, type PoolSummary } from '../platform/index.ts';
import { getopt, has } from './getopt.ts';
import { report } from './run.ts';

export const USAGE = `Usage: sysinfo [-f] [-p] [-u]
  -f  probe the host again, then print
  -p  print key='value' lines instead of JSON
  -u  probe the host again, print nothing
  -h  print this help
`;

export interface SysinfoDeps {
  /** The storage layer's pools; sysinfo shows the one named `zones`, else the first. */
  listPools: () => Promise<PoolSummary[]>;
  /** Where output goes (default: process.stdout / process.stderr). */
  out?: (s: string) => void;
  err?: (s: string) => void;
}

export async function main(argv: string[], deps: SysinfoDeps): Promise<number> {
  const out = deps.out ?? ((s: string) => void process.stdout.write(s));
  const err = deps.err ?? ((s: string) => void process.stderr.write(s));
  try {
    const args = getopt(argv, 'fpuh?', USAGE);
    if (has(args, 'h') || has(args, '?')) {
      out(USAGE);
      return 0;
    }
    if (args.rest.length) throw new UsageError(`unexpected argument '${args.rest[0]!}'`, USAGE);
    const probe = await probeHost({ refresh: has(args, 'f') || has(args, 'u') });
    if (has(args, 'u')) return 0;
    const pools = await deps.listPools().catch((e: unknown) => {
      err(`sysinfo: warning: cannot list pools: ${e instanceof Error ? e.message : String(e)}\n`);
      return [];
    });
    const info = await collectSysinfo({ probe, pools });
    out(has(args, 'p') ? formatParsable(info) : `${JSON.stringify(info, null, 2)}\n`);
    return 0;
  } catch (e) {
    return report(e, (s) => {
      err(s);
      return true;
    });
  }
}
