/**
 * Zones run under an OCI runtime (runc here; crun where it works), each watched by conmon: a small C
 * monitor that is the zone init's parent and subreaper, keeps its console, and writes init's exit
 * status to a file when it ends. No Node process stays behind per zone.
 * @module
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ZonixError } from '../common/errors.ts';
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
    await run('conmon', argv, { timeoutMs: 30_000 });
    // conmon returns once it has forked; the container appears when the runtime's create is done.
    const deadline = Date.now() + 30_000;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
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

  async start(id: string): Promise<void> {
    await run(this.info.path, this.args('start', id), { timeoutMs: 30_000 });
  }

  async kill(id: string, signal = 'TERM', all = false): Promise<void> {
    await run(this.info.path, this.args('kill', ...(all ? ['--all'] : []), id, signal), {
      timeoutMs: 30_000,
    });
  }

  /** Remove the container (forced: killed first) and its runtime files. */
  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    try {
      await run(this.info.path, this.args('delete', ...(opts.force ? ['--force'] : []), id), {
        timeoutMs: 30_000,
      });
    } catch (err) {
      if (!(err instanceof HostCommandError && /does not exist/.test(err.stderr))) throw err;
    }
    await this.waitMonitor(id);
    await rm(zoneDir(id), { recursive: true, force: true });
  }

  /** Wait (briefly) for the zone's conmon to go, so nothing of the zone outlives its delete. */
  private async waitMonitor(id: string): Promise<void> {
    const pid = Number(await readFile(join(zoneDir(id), 'conmon.pid'), 'utf8').catch(() => '0'));
    for (let i = 0; pid > 0 && i < 100 && (await monitorAlive(pid)); i++) await sleep(20);
  }

  async state(id: string): Promise<ZoneState | undefined> {
    try {
      const { stdout } = await run(this.info.path, this.args('state', id), { timeoutMs: 10_000 });
      const s = JSON.parse(stdout) as { status: ZoneStatus; pid: number };
      return { status: s.status, pid: s.pid };
    } catch (err) {
      if (err instanceof HostCommandError && /does not exist/.test(err.stderr)) return undefined;
      throw err;
    }
  }

  /** The exit status conmon recorded when init ended, if it has. */
  async exitStatus(id: string): Promise<number | undefined> {
    const text = await readFile(join(zoneDir(id), 'exit', id), 'utf8').catch(() => undefined);
    return text === undefined || text.trim() === '' ? undefined : Number(text.trim());
  }

  /** argv to run a command in the zone (zlogin): the runtime's exec, with a terminal when asked. */
  execArgv(id: string, args: string[], opts: { tty?: boolean; env?: string[]; cwd?: string } = {}): string[] {
    return this.args(
      'exec',
      ...(opts.tty ? ['-t'] : []),
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
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return false;
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}
