/**
 * POSIX getopt, as the illumos tools parse their flags: `-Hp` bundles, `-o a,b` or `-oa,b`, options end
 * at the first operand or `--`.
 * @module
 */
import { UsageError } from '../common/index.ts';

export interface Parsed {
  opts: [string, string][];
  rest: string[];
}

/** `spec` lists flag letters; a letter followed by `:` takes an argument. */
export function getopt(argv: string[], spec: string, usage?: string): Parsed {
  const takes = new Map<string, boolean>();
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i]!;
    if (c === ':') continue;
    takes.set(c, spec[i + 1] === ':');
  }
  const opts: [string, string][] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      const t = takes.get(c);
      if (t === undefined) throw new UsageError(`invalid option '${c}'`, usage);
      if (!t) {
        opts.push([c, '']);
        continue;
      }
      const val = j + 1 < a.length ? a.slice(j + 1) : argv[++i];
      if (val === undefined) throw new UsageError(`missing argument for '${c}' option`, usage);
      opts.push([c, val]);
      break;
    }
  }
  return { opts, rest: argv.slice(i) };
}

export function has(p: Parsed, flag: string): boolean {
  return p.opts.some(([f]) => f === flag);
}

export function values(p: Parsed, flag: string): string[] {
  return p.opts.filter(([f]) => f === flag).map(([, v]) => v);
}

export function last(p: Parsed, flag: string): string | undefined {
  return values(p, flag).at(-1);
}
