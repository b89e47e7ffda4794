/**
 * What a zone is doing now, read from files alone: the runtime's state file, /proc, and the exit record
 * conmon writes. No runtime call (one costs ~25 ms) and nothing heavy to load, so that `vmadm list`
 * can ask for a hundred running zones in a few milliseconds.
 * @module
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isErrno } from '../common/index.ts';
import { procStat, readHeadSync } from '../common/index.ts';
import { runPath } from '../platform/index.ts';

/** The OCI runtimes Zonix drives (through conmon); each keeps its state files its own way. */
export const RUNTIMES = ['runc', 'crun'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

/** The runtime of a VM that has none recorded (VMs made before runtimes were recorded ran runc). */
export const DEFAULT_RUNTIME: RuntimeName = 'runc';

export function isRuntimeName(v: unknown): v is RuntimeName {
  return (RUNTIMES as readonly unknown[]).includes(v);
}

/** Where a runtime's state file is, and how its init's PID and start time are found in it. */
interface StateLayout {
  file: string;
  /** The file's start, when the runtime writes the two numbers first (runc does). */
  head?: RegExp;
  pid: RegExp;
  start: RegExp;
}

const LAYOUTS: Record<RuntimeName, StateLayout> = {
  // `{"id":"…","init_process_pid":N,"init_process_start":N,…` then the whole config (~20 KiB).
  runc: {
    file: 'state.json',
    head: /"init_process_pid":\s*(\d+),\s*"init_process_start":\s*"?(\d+)/,
    pid: /"init_process_pid":\s*(\d+)/,
    start: /"init_process_start":\s*"?(\d+)/,
  },
  // crun's `status`: `{"pid": N, "process-start-time": N, "cgroup-path": …}`, a few hundred bytes.
  crun: { file: 'status', pid: /"pid":\s*(\d+)/, start: /"process-start-time":\s*"?(\d+)/ },
};

export type ZoneStatus = 'created' | 'running' | 'paused' | 'stopped';

export interface ZoneState {
  status: ZoneStatus;
  pid: number;
}

/** What a zone's state is read from; the runtime itself is one. */
export interface ZoneStateReader {
  stateSync(id: string): ZoneState | undefined;
  exitRecordSync(id: string): { status: number; time: Date } | undefined;
  zoneIds(): Set<string>;
}

/** Where a zone's runtime files live (gone at reboot; made again from the VM at start). */
export function zoneDir(id: string): string {
  return runPath('zones', id);
}

/** runc keeps its own state under the run directory too, so tests and hosts never mix. */
export function runtimeRoot(name: string): string {
  return runPath(name);
}

/**
 * Zone state, read from files, for the zones of runtime `names` (one, or several: a zone is looked
 * for in each runtime's state folder in turn, so a host whose VMs run under both reads them all).
 */
export class ZoneStates implements ZoneStateReader {
  private readonly roots: { root: string; layout: StateLayout }[];
  private readonly zones = runPath('zones');

  constructor(names: RuntimeName | readonly RuntimeName[] = RUNTIMES) {
    this.roots = (typeof names === 'string' ? [names] : names).map((n) => ({
      root: runtimeRoot(n),
      layout: LAYOUTS[n],
    }));
  }

  /**
   * The zone's status, read the way runc itself decides it, from its state file and /proc: no state
   * file, no zone; init gone, a zombie or another process with its PID: stopped; the exec fifo still
   * there: created (not yet started); otherwise running.
   */
  stateSync(id: string): ZoneState | undefined {
    for (const { root, layout } of this.roots) {
      const st = this.read(`${root}/${id}`, layout);
      if (st) return st;
    }
    return undefined;
  }

  private read(dir: string, layout: StateLayout): ZoneState | undefined {
    let text: string;
    try {
      text = readHeadSync(`${dir}/${layout.file}`, 512);
    } catch (err) {
      // No state file (or no directory): no zone.
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
      throw err;
    }
    // Only two numbers are needed; runc writes them first, ahead of the whole container config. A
    // file that does not start so is read whole.
    let pid: string | undefined;
    let start: string | undefined;
    const m = layout.head?.exec(text);
    if (m) [, pid, start] = m;
    else {
      if (text.length >= 512) text = readFileSync(`${dir}/${layout.file}`, 'utf8');
      pid = layout.pid.exec(text)?.[1];
      start = layout.start.exec(text)?.[1];
    }
    const proc = Number(pid) > 0 ? procStat(Number(pid)) : undefined;
    if (!proc || proc.start !== start || proc.state === 'Z' || proc.state === 'X')
      return { status: 'stopped', pid: 0 };
    return { status: existsSync(`${dir}/exec.fifo`) ? 'created' : 'running', pid: Number(pid) };
  }

  /** Zones that have runtime files (made, running, or ended with an exit record): one readdir. */
  zoneIds(): Set<string> {
    try {
      return new Set(readdirSync(this.zones));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return new Set();
      throw err;
    }
  }

  /** init's exit status and when conmon recorded it (the file's time), if init has ended. */
  exitRecordSync(id: string): { status: number; time: Date } | undefined {
    const file = `${this.zones}/${id}/exit/${id}`;
    if (!existsSync(file)) return undefined;
    try {
      const text = readHeadSync(file).trim();
      return text === '' ? undefined : { status: cleanHalt(Number(text)), time: statSync(file).mtime };
    } catch {
      return undefined;
    }
  }
}

/**
 * A zone that halts or reboots itself calls reboot(2) in its PID namespace; the kernel then ends its
 * init as if by SIGINT (halt) or SIGHUP (restart), which conmon records as 130 or 129. Nothing else
 * can end a namespace's init with those signals (it only receives signals it handles, besides
 * SIGKILL), so they mean a clean halt: status 0, as SmartOS records it.
 */
export function cleanHalt(status: number): number {
  return status === 128 + 2 || status === 128 + 1 ? 0 : status;
}
