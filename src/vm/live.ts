/**
 * A VM's live state (what its zone is doing now) and the VM as `get` and `list` show it: what the
 * pool says, completed with that state. Light on purpose: `vmadm list` loads it without the VM core.
 * @module
 */
import { bitsToNetmask } from './schema/ip.ts';
import type { ZoneStateReader } from '../zones/index.ts';
import type { StoredVm } from './list-cache.ts';
import type { VmRecord } from './store.ts';

export interface LiveState {
  /** `ready`: the zone exists but its init has not been started (a start under way, or killed). */
  state: 'running' | 'ready' | 'stopped';
  zone_state: 'running' | 'ready' | 'installed';
  pid?: number;
  exit_status?: number;
  exit_timestamp?: string;
}

/** Shared by every VM whose zone is not there: callers only read live states. */
const STOPPED: Readonly<LiveState> = Object.freeze({ state: 'stopped', zone_state: 'installed' });

/** What the zone of VM `uuid` is doing; `zones` (if given) lists the zones that have runtime files. */
export function liveStateSync(reader: ZoneStateReader, uuid: string, zones?: Set<string>): LiveState {
  // A zone without runtime files never started or was removed.
  if (zones && !zones.has(uuid)) return STOPPED;
  const st = reader.stateSync(uuid);
  if (st?.status === 'running' || st?.status === 'paused')
    return { state: 'running', zone_state: 'running', pid: st.pid };
  if (st?.status === 'created') return { state: 'ready', zone_state: 'ready' };
  const exit = reader.exitRecordSync(uuid);
  return exit ? { ...STOPPED, exit_status: exit.status, exit_timestamp: exit.time.toISOString() } : STOPPED;
}

/**
 * The VM as `get` shows it: what the pool says (`s`), with its live state and what a command is doing
 * to it now (`doing`: the intent of its lock, shown as SmartOS's transitional states).
 *
 * The record is the caller's fresh copy: completed in place (a copy per VM costs a thousand-VM list
 * tens of ms), with fields that do not apply set to undefined rather than deleted (which would make
 * each object slow to read); JSON leaves them out.
 */
export function presentVm(s: StoredVm, poolName: string, live: LiveState, doing?: string): VmRecord {
  const out = s.vm;
  out.zonepath = s.zonepath;
  out.zfs_filesystem = `${poolName}/${out.uuid}`;
  out.zpool = poolName;
  out.snapshots = s.snapshots;
  if (Array.isArray(out.nics)) out.nics = (out.nics as Record<string, unknown>[]).map(presentNic);
  applyLive(out, live, doing);
  return out;
}

/**
 * A NIC as SmartOS shows it: its stored `ips` and `gateways`, with a representative `ip` and
 * `netmask` (the first IPv4 address, or `dhcp`) and `gateway` (the first) beside them.
 */
export function presentNic(nic: Record<string, unknown>): Record<string, unknown> {
  const out = { ...nic };
  const ips = Array.isArray(nic.ips) ? (nic.ips as unknown[]) : [];
  if (!Object.hasOwn(out, 'ip')) {
    const v4 = ips.find((a): a is string => typeof a === 'string' && /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(a));
    if (v4) {
      const [addr, bits] = v4.split('/');
      out.ip = addr;
      out.netmask = bitsToNetmask(Number(bits));
    } else if (ips.includes('dhcp')) out.ip = 'dhcp';
  }
  const gws = Array.isArray(nic.gateways) ? (nic.gateways as unknown[]) : [];
  if (!Object.hasOwn(out, 'gateway') && typeof gws[0] === 'string') out.gateway = gws[0];
  return out;
}

/**
 * Write into `out` (a VM record, or a row of `vmadm list`) what the live state decides: `state` and
 * `zone_state`, `pid` while running, no `boot_timestamp` when not, and the monitor's exit record
 * when init ended on its own (it is newer than the manifest's).
 */
export function applyLive(out: Record<string, unknown>, live: LiveState, doing?: string): void {
  out.state =
    live.state === 'running' && (doing === 'stop' || doing === 'reboot')
      ? 'shutting_down'
      : live.state === 'running' && doing === 'stopping'
        ? 'stopping'
        : live.state !== 'running' && doing === 'create'
          ? 'provisioning'
          : live.state;
  out.zone_state = live.zone_state;
  if (live.state === 'running') out.pid = live.pid;
  else {
    out.pid = undefined;
    out.boot_timestamp = undefined;
    if (live.exit_status !== undefined) {
      out.exit_status = live.exit_status;
      out.exit_timestamp = live.exit_timestamp;
    }
  }
}

/** The fields applyLive writes. */
export const LIVE_FIELDS = [
  'state',
  'zone_state',
  'pid',
  'boot_timestamp',
  'exit_status',
  'exit_timestamp',
] as const;
