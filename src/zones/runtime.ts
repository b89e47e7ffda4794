/**
 * Zones run under an OCI runtime (runc here; crun where it works), each watched by conmon: a small C
 * monitor that is the zone init's parent and subreaper, keeps its console, and writes init's exit
 * status to a file when it ends. No Node process stays behind per zone.
 * @module
 */
import { closeSync, constants, openSync, readFileSync, readSync } from 'node:fs';
import { mkdir, readFile, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErrno, ZonixError } from '../common/index.ts';
import { findTool, run, HostCommandError } from '../platform/index.ts';
import type { OciSpec } from './spec.ts';
import { procStat } from '../common/index.ts';
import type { CgroupLimits } from './resources.ts';
import {
  DEFAULT_RUNTIME,
  runtimeRoot,
  zoneDir,
  ZoneStates,
  type RuntimeName,
  type ZoneState,
  type ZoneStateReader,
} from './state.ts';

export {
  cleanHalt,
  DEFAULT_RUNTIME,
  isRuntimeName,
  RUNTIMES,
  runtimeRoot,
  zoneDir,
  ZoneStates,
} from './state.ts';
export type { RuntimeName, ZoneState, ZoneStateReader, ZoneStatus } from './state.ts';

export interface RuntimeInfo {
  name: RuntimeName;
  /** Path of the runtime binary conmon drives. */
  path: string;
}

/**
 * What the VM core needs of an OCI runtime: make, start, update, signal and remove a zone's
 * container, read its state, and run commands in it. runc and crun take the same command line and
 * differ in their state files, which OciRuntime reads for each; a runtime with another way of
 * working (a VM monitor, a remote node's agent) implements this instead.
 */
export interface ZoneRuntime extends ZoneStateReader {
  readonly info: RuntimeInfo;
  /** Make the zone's container from its spec; resolves once it exists (status created). */
  create(id: string, spec: OciSpec): Promise<void>;
  /** Let the created zone's init run. */
  start(id: string): Promise<void>;
  /** Change a running zone's cgroup limits in place. */
  update(id: string, resources: CgroupLimits): Promise<void>;
  kill(id: string, signal?: string, all?: boolean): Promise<void>;
  /** Remove the container (forced: killed first) and its runtime files. */
  delete(id: string, opts?: { force?: boolean }): Promise<void>;
  state(id: string): Promise<ZoneState | undefined>;
  /** Signal the zone's init directly; false when it does not run. */
  signalInit(id: string, signal: NodeJS.Signals): boolean;
  exitStatus(id: string): Promise<number | undefined>;
  exitRecord(id: string): Promise<{ status: number; time: Date } | undefined>;
  /** argv that runs a command in the zone (zlogin). */
  execArgv(
    id: string,
    args: string[],
    opts?: { tty?: boolean; env?: string[]; cwd?: string; detach?: boolean },
  ): string[];
}

/** An OCI runtime with runc's command line (runc or crun), each zone watched by conmon. */
export class OciRuntime implements ZoneRuntime {
  readonly info: RuntimeInfo;
  private readonly states: ZoneStates;

  constructor(name: RuntimeName = DEFAULT_RUNTIME) {
    const path = findTool(name);
    if (!path) throw new ZonixError('ENOTOOL', `OCI runtime ${name} is not installed`);
    this.info = { name, path };
    this.states = new ZoneStates(name);
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
    // Polled every millisecond at first (a create takes some 40 ms), less often later.
    for (let delay = 1, n = 0; ; delay = ++n < 200 ? 1 : 10) {
      const st = await this.state(id);
      if (st?.status === 'created' || st?.status === 'running') return;
      const exit = await this.exitStatus(id);
      const gone = exit === undefined && (await monitorGone(dir));
      if (gone && ['created', 'running'].includes((await this.state(id))?.status ?? '')) return;
      if (exit !== undefined || gone || Date.now() > deadline) {
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
  async update(id: string, resources: CgroupLimits): Promise<void> {
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
    // runc's state file lists the zone's cgroups; crun's other layout goes through crun itself.
    if (this.info.name !== 'runc' || this.stateSync(id)?.status !== 'stopped') return false;
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
    for (let i = 0; pid > 0 && i < 200 && (await monitorAlive(pid)); i++) await sleep(i < 100 ? 2 : 20);
  }

  /** The zone's status, read from files (see ZoneStates.stateSync). */
  async state(id: string): Promise<ZoneState | undefined> {
    return this.stateSync(id);
  }

  stateSync(id: string): ZoneState | undefined {
    return this.states.stateSync(id);
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
    return this.states.zoneIds();
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
    return this.states.exitRecordSync(id);
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
 * Did the zone's monitor (conmon) exit without a container (the runtime's create failed)? Read the
 * state once more after seeing it gone: the container may have appeared just before.
 */
async function monitorGone(dir: string): Promise<boolean> {
  const pid = Number((await readFile(join(dir, 'conmon.pid'), 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return isErrno(err, 'ESRCH');
  }
}
