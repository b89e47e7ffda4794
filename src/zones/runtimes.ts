/**
 * Which OCI runtime new zones run under, chosen from what the host probe found, and one runtime object
 * per name. A VM keeps the runtime it was made with (the VM core records it with the VM), so a host
 * that changes its choice never loses track of the zones already running.
 * @module
 */
import { readFileSync } from 'node:fs';
import { ZonixError } from '../common/index.ts';
import {
  cachedProbeSync,
  cgroupLayout,
  findTool,
  parseMountInfo,
  type HostProbe,
} from '../platform/index.ts';
import { OciRuntime } from './runtime.ts';
import { isRuntimeName, RUNTIMES, type RuntimeName } from './state.ts';

/**
 * The runtime for new zones given what the probe found: where cgroups are v2 only, crun (made for
 * it, and faster to start); otherwise runc, which handles v1 and hybrid hierarchies; either one when
 * it is the only one that really ran a container.
 */
export function chooseRuntime(probe: Pick<HostProbe, 'cgroup' | 'runtimes'>): RuntimeName | undefined {
  const order: RuntimeName[] = probe.cgroup.mode === 'v2' ? ['crun', 'runc'] : ['runc', 'crun'];
  return order.find((n) => probe.runtimes[n].usable);
}

/**
 * The runtime this host gives new zones: `ZONIX_RUNTIME` when set; else the choice from this boot's
 * probe; before any probe ran, the same rule over the installed runtimes and the cgroup mode read
 * from the mount table (the probe itself, which runs containers, is not waited for).
 */
export function hostRuntimeName(): RuntimeName {
  const forced = process.env.ZONIX_RUNTIME;
  if (forced !== undefined && forced !== '') {
    if (!isRuntimeName(forced))
      throw new ZonixError('EINVAL', `ZONIX_RUNTIME=${forced}: must be one of ${RUNTIMES.join(', ')}`);
    return forced;
  }
  const probe = cachedProbeSync();
  const chosen = probe ? chooseRuntime(probe) : guessRuntime();
  if (!chosen)
    throw new ZonixError('ENOTOOL', `no OCI runtime works on this host (tried ${RUNTIMES.join(', ')})`);
  return chosen;
}

function guessRuntime(): RuntimeName | undefined {
  let mode: HostProbe['cgroup']['mode'] = 'none';
  try {
    mode = cgroupLayout(parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'))).mode;
  } catch {
    /* no mount table: take what is installed */
  }
  const installed = (n: RuntimeName) => ({ usable: findTool(n) !== undefined });
  return chooseRuntime({
    cgroup: { mode, controllers: [] },
    runtimes: { runc: installed('runc'), crun: installed('crun') } as HostProbe['runtimes'],
  });
}

const opened = new Map<RuntimeName, OciRuntime>();

/** The runtime object for `name` (one per process). */
export function openRuntime(name: RuntimeName): OciRuntime {
  let rt = opened.get(name);
  if (!rt) opened.set(name, (rt = new OciRuntime(name)));
  return rt;
}
