/**
 * Zones run under an OCI runtime (runc here; crun where it works), each watched by conmon: a small C
 * monitor that is the zone init's parent and subreaper, keeps its console, and writes init's exit
 * status to a file when it ends. No Node process stays behind per zone.
 * @module
 */
import {
  closeSync,
  constants,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
} from 'node:fs';
import { mkdir, readFile, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErrno, ZonixError } from '../common/errors.ts';
import { findTool, run, HostCommandError } from '../platform/exec.ts';
import { runPath } from '../platform/paths.ts';
import type { OciSpec } from './spec.ts';

export type ZoneStatus = 'created' | 'running' | 'paused' | 'stopped';

export interface ZoneState {
  status: ZoneStatus;
  pid: number;
}

export interface RuntimeInfo {
  name: string;
  /** Path of the runtime binary conmon drives. */
  path: string;
}

/** Where a zone's runtime files live (gone at reboot; made again from the VM at start). */
export function zoneDir(id: string): string {
  return runPath('zones', id);
}

/** runc keeps its own state under the run directory too, so tests and hosts never mix. */
export function runtimeRoot(name: string): string {
  return runPath(name);
}

export class OciRuntime {
  readonly info: RuntimeInfo;

  constructor(name = 'runc') {
    const path = findTool(name);
    if (!path) throw new ZonixError('ENOTOOL', `OCI runtime ${name} is not installed`);
    this.info = { name, path };
  }

  private args(...rest: string[]): string[] {
    return ['--root', runtimeRoot(this.info.name), ...rest];
  }

  /** Write the bundle and have conmon create the container; resolves once it exists (status created). */
  async create(id: string, spec: OciSpec): Promise<void> {
    const dir = zoneDir(id);
    await rm(join(dir, 'exit'), { recursive: true, force: true });
    for (const d of ['exit', 'sockets']) await mkdir(join(dir, d), { recursive: true });
    await writeFile(join(dir, 'config.json'), JSON.stringify(spec, null, 2));
    const argv = [
      '--api-version',
      '1',
      '-c',
      id,
      '-u',
      id,
      '-n',
      id,
      '-r',
      this.info.path,
      '--runtime-arg',
      `--root=${runtimeRoot(this.info.name)}`,
      '-b',
      dir,
      '-p',
      join(dir, 'pid'),
      '-P',
      join(dir, 'conmon.pid'),
      '-l',
      `k8s-file:${join(dir, 'console.log')}`,
      '--log-size-max',
      String(1 << 20),
      '--exit-dir',
      join(dir, 'exit'),
      '--socket-dir-path',
      join(dir, 'sockets'),
      ...(spec.process.terminal ? ['-t'] : []),
    ];
    // conmon writes files (an `oom` mark) into its working folder: the zone's own.
    await run('conmon', argv, { timeoutMs: 30_000, cwd: dir });
    // conmon returns once it has forked; the container appears when the runtime's create is done.
    const deadline = Date.now() + 30_000;
    for (let delay = 2; ; delay = Math.min(delay + 1, 10)) {
      const st = await this.state(id);
      if (st?.status === 'created' || st?.status === 'running') return;
      const exit = await this.exitStatus(id);
      if (exit !== undefined || Date.now() > deadline) {
        const log = await readFile(join(dir, 'console.log'), 'utf8').catch(() => '');
        await this.delete(id, { force: true }).catch(() => undefined);
        throw new ZonixError(
          'EZONE',
          `zone ${id} could not be created${log ? `: ${log.trim().split('\n').slice(-3).join('; ')}` : ''}`,
        );
      }
      await sleep(delay);
    }
  }

  /**
   * Start a created zone: what `runc start` does, done in-process (it saves a ~30 ms runc start-up):
   * read the byte init is waiting to write into the exec fifo, which lets it exec, then remove the
   * fifo. The fifo is opened non-blocking, so an init that died meanwhile cannot hang us.
   */
  async start(id: string): Promise<void> {
    const fifo = join(runtimeRoot(this.info.name), id, 'exec.fifo');
    let fd: number;
    try {
      fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      await run(this.info.path, this.args('start', id), { timeoutMs: 30_000 });
      return;
    }
    try {
      const buf = Buffer.alloc(1);
      for (const deadline = Date.now() + 30_000; ;) {
        let n = 0;
        try {
          n = readSync(fd, buf, 0, 1, null);
        } catch (err) {
          if (!isErrno(err, 'EAGAIN')) throw err;
        }
        if (n > 0) break;
        if (this.stateSync(id)?.status !== 'created' || Date.now() > deadline)
          throw new ZonixError('EZONE', `zone ${id} could not be started: its init is gone`);
        await sleep(1);
      }
    } finally {
      closeSync(fd);
    }
    await unlink(fifo);
  }

  /**
   * Change a running zone's cgroup limits in place (`runc update -r -`, the OCI `linux.resources`
   * subset as JSON on stdin). Bytes for memory; -1 means unlimited; what is left out keeps its value.
   */
  async update(
    id: string,
    resources: {
      memory?: { limit: number; swap: number };
      cpu?: { shares?: number; quota?: number; period?: number };
      pids?: { limit: number };
    },
  ): Promise<void> {
    await run(this.info.path, this.args('update', '-r', '-', id), {
      input: JSON.stringify(resources),
      timeoutMs: 30_000,
    });
  }

  async kill(id: string, signal = 'TERM', all = false): Promise<void> {
    await run(this.info.path, this.args('kill', ...(all ? ['--all'] : []), id, signal), {
      timeoutMs: 30_000,
    });
  }

  /**
   * Remove the container (forced: killed first) and its runtime files. A stopped zone is removed the
   * way `runc delete` does it (its cgroups, then its state folder) without starting runc; anything
   * else, or anything unexpected, goes through runc.
   */
  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    if (!(await this.deleteStopped(id))) {
      try {
        await run(this.info.path, this.args('delete', ...(opts.force ? ['--force'] : []), id), {
          timeoutMs: 30_000,
        });
      } catch (err) {
        if (!(err instanceof HostCommandError && /does not exist/.test(err.stderr))) throw err;
      }
    }
    await this.waitMonitor(id);
    await rm(zoneDir(id), { recursive: true, force: true });
  }

  /** True when the zone was stopped and is now removed; false when runc should do it. */
  private async deleteStopped(id: string): Promise<boolean> {
    if (this.stateSync(id)?.status !== 'stopped') return false;
    const dir = join(runtimeRoot(this.info.name), id);
    let paths: string[];
    try {
      const st = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as {
        cgroup_paths?: Record<string, string>;
      };
      paths = [...new Set(Object.values(st.cgroup_paths ?? {}))];
    } catch {
      return false;
    }
    for (const p of paths) {
      try {
        await rmdir(p);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) return false;
      }
    }
    await rm(dir, { recursive: true, force: true });
    return true;
  }

  /** Wait (briefly) for the zone's conmon to go, so nothing of the zone outlives its delete. */
  private async waitMonitor(id: string): Promise<void> {
    const pid = Number(await readFile(join(zoneDir(id), 'conmon.pid'), 'utf8').catch(() => '0'));
    for (let i = 0; pid > 0 && i < 100 && (await monitorAlive(pid)); i++) await sleep(20);
  }

  /**
   * The zone's status, read the way runc itself decides it, from its state file and /proc, without
   * running runc (a runc call costs ~25 ms; `vmadm list` asks for every VM): no state file, no zone;
   * init gone, a zombie or another process with its PID: stopped; the exec fifo still there: created
   * (not yet started); otherwise running.
   */
  async state(id: string): Promise<ZoneState | undefined> {
    return this.stateSync(id);
  }

  stateSync(id: string): ZoneState | undefined {
    const dir = join(runtimeRoot(this.info.name), id);
    // Most VMs of a big host are not running: ask without the cost of an exception.
    if (!existsSync(dir)) return undefined;
    let text: string;
    try {
      text = readHead(join(dir, 'state.json'), 512);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    // The file holds the whole container config (~20 KiB); only two numbers are needed, and runc
    // writes them first. A file that does not start so is read whole.
    if (!/"init_process_start":\s*"?\d+/.test(text)) text = readFileSync(join(dir, 'state.json'), 'utf8');
    const st = {
      init_process_pid: Number(/"init_process_pid":\s*(\d+)/.exec(text)?.[1] ?? 0),
      init_process_start: /"init_process_start":\s*"?(\d+)/.exec(text)?.[1],
    };
    const pid = st.init_process_pid;
    const proc = pid > 0 ? procStat(pid) : undefined;
    if (!proc || proc.start !== String(st.init_process_start) || proc.state === 'Z' || proc.state === 'X')
      return { status: 'stopped', pid: 0 };
    return { status: existsSync(join(dir, 'exec.fifo')) ? 'created' : 'running', pid };
  }

  /**
   * Signal the zone's init directly (checked against its start time, so a reused PID is never hit).
   * Killing PID 1 of a PID namespace takes every process in it along.
   */
  signalInit(id: string, signal: NodeJS.Signals): boolean {
    const st = this.stateSync(id);
    if (st?.status !== 'running' && st?.status !== 'created') return false;
    try {
      process.kill(st.pid, signal);
      return true;
    } catch (err) {
      if (isErrno(err, 'ESRCH')) return false;
      throw err;
    }
  }

  /** Zones that have runtime files (made, running, or ended with an exit record): one readdir. */
  zoneIds(): Set<string> {
    try {
      return new Set(readdirSync(runPath('zones')));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return new Set();
      throw err;
    }
  }

  /** The exit status conmon recorded when init ended, if it has. */
  async exitStatus(id: string): Promise<number | undefined> {
    return (await this.exitRecord(id))?.status;
  }

  /** init's exit status and when conmon recorded it (the file's time), if init has ended. */
  async exitRecord(id: string): Promise<{ status: number; time: Date } | undefined> {
    return Promise.resolve(this.exitRecordSync(id));
  }

  exitRecordSync(id: string): { status: number; time: Date } | undefined {
    const file = join(zoneDir(id), 'exit', id);
    if (!existsSync(file)) return undefined;
    try {
      const text = readFileSync(file, 'utf8').trim();
      return text === '' ? undefined : { status: cleanHalt(Number(text)), time: statSync(file).mtime };
    } catch {
      return undefined;
    }
  }

  /** argv to run a command in the zone (zlogin): the runtime's exec, with a terminal when asked. */
  execArgv(
    id: string,
    args: string[],
    opts: { tty?: boolean; env?: string[]; cwd?: string; detach?: boolean } = {},
  ): string[] {
    return this.args(
      'exec',
      ...(opts.tty ? ['-t'] : []),
      ...(opts.detach ? ['-d'] : []),
      ...(opts.env ?? []).flatMap((e) => ['-e', e]),
      ...(opts.cwd ? ['--cwd', opts.cwd] : []),
      id,
      ...args,
    );
  }
}

/**
 * Is the monitor still running? conmon is re-parented to PID 1 once the caller is gone, and a slow
 * PID 1 leaves it a zombie for seconds: a zombie has finished, so it counts as gone.
 */
async function monitorAlive(pid: number): Promise<boolean> {
  const st = procStat(pid);
  return st !== undefined && st.state !== 'Z' && st.state !== 'X';
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

/** The first `bytes` bytes of a file, as text. */
function readHead(path: string, bytes: number): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    return buf.toString('utf8', 0, readSync(fd, buf, 0, bytes, 0));
  } finally {
    closeSync(fd);
  }
}

/** A process's state letter and start time (field 22), from /proc; undefined when it is gone. */
function procStat(pid: number): { state: string; start: string } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0] ?? '', start: rest[19] ?? '' };
}
