/**
 * What the zone benchmarks share: their cgroups (removed at the end, and checked for leftovers),
 * processes left behind, and the memory of a process.
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** The parent's folder in each hierarchy (cgroup v1: one per controller; v2: the one). */
async function cgroupDirs(parent: string): Promise<string[]> {
  const dirs = [join(CGROUP_ROOT, parent)];
  for (const c of await readdir(CGROUP_ROOT).catch(() => [] as string[]))
    dirs.push(join(CGROUP_ROOT, c, parent));
  return dirs.filter((d) => existsSync(d));
}

/** rmdir the parent's cgroups, children first; what is left is returned. */
export async function removeCgroups(parent: string): Promise<string[]> {
  for (const dir of await cgroupDirs(parent)) {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => []))
      if (e.isDirectory()) await rmdir(join(dir, e.name)).catch(() => undefined);
    await rmdir(dir).catch(() => undefined);
  }
  return cgroupDirs(parent);
}

/** Processes whose command line mentions `text` (conmon or runc left behind). */
export async function processesMentioning(text: string): Promise<string[]> {
  const out: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(text)) out.push(`${pid} ${cmd.replaceAll('\0', ' ').trim()}`);
  }
  return out;
}

/** Proportional set size of a process, KiB (shared pages split between their users). */
export async function pss(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  return Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
}

/** Memory charged to a cgroup (v1 memory controller, or v2), bytes. */
export async function cgroupMemory(path: string): Promise<number> {
  for (const f of [
    join(CGROUP_ROOT, 'memory', path, 'memory.usage_in_bytes'),
    join(CGROUP_ROOT, path, 'memory.current'),
  ]) {
    const text = await readFile(f, 'utf8').catch(() => undefined);
    if (text !== undefined) return Number(text.trim());
  }
  throw new Error(`no memory accounting for cgroup ${path}`);
}

/**
 * Timed commands run without NODE_EXTRA_CA_CERTS: where it is set (this sandbox sets it), every Node
 * process loads those certificates at start, about 30 ms that are neither Node's nor Zonix's. The
 * baseline (`node -e 0`) and the CLIs are measured alike either way. Returns what was dropped.
 */
export function dropHostStartupCosts(): string[] {
  const dropped = ['NODE_EXTRA_CA_CERTS'].filter((k) => process.env[k] !== undefined);
  for (const k of dropped) delete process.env[k];
  return dropped;
}

/**
 * Start bin/zonixd with this process's environment, so that the vmadm commands the benchmark runs go
 * through it; resolves once it listens. `stop` ends it (SIGTERM) and waits for it.
 */
export async function startZonixd(
  root: string,
  args: string[] = [],
): Promise<{ pid: number; url: string; cloudapi: string; token: string; stop: () => Promise<void> }> {
  // A port of its own: the host's zonixd may have 9090.
  const child = spawn(join(root, 'bin', 'zonixd'), ['--listen', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let text = '';
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  let ready = false;
  await new Promise<void>((resolve, reject) => {
    // Its log is kept until it listens; after that, what it logs (a line per request) is read and dropped.
    child.stderr.on('data', (d: Buffer) => {
      if (ready) return;
      text += d.toString();
      if (text.includes(' zonixd: listening on ')) {
        ready = true;
        resolve();
      }
    });
    void closed.then(() => reject(new Error(`zonixd exited: ${text}`)));
  });
  const runDir = process.env.ZONIX_RUN_DIR ?? '/run/zonix';
  const state = JSON.parse(readFileSync(join(runDir, 'zonixd.json'), 'utf8')) as {
    url: string;
    cloudapi_url: string | null;
    token_file: string;
  };
  return {
    pid: child.pid!,
    url: state.url,
    cloudapi: state.cloudapi_url ?? '',
    token: readFileSync(state.token_file, 'utf8').trim(),
    stop: async () => {
      child.kill('SIGTERM');
      await closed;
    },
  };
}

/**
 * The environment of a command that must run in its own process although zonixd is running: a
 * ZONIX_* setting zonixd does not have makes the client run the command itself.
 */
export function ownProcessEnv(): NodeJS.ProcessEnv {
  return { ...process.env, ZONIX_BENCH_OWN_PROCESS: '1' };
}
