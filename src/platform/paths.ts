/**
 * Where Zonix keeps host-side files. Everything durable lives in the pool; these are caches and runtime
 * state. Tests point them elsewhere with ZONIX_CONFIG_DIR and ZONIX_RUN_DIR.
 * @module
 */
import { join } from 'node:path';

/** Host configuration and the pool cache (/etc/zonix). */
export function configDir(): string {
  return process.env.ZONIX_CONFIG_DIR ?? '/etc/zonix';
}

/** Runtime state gone at reboot: probe cache, private pool mounts (/run/zonix). */
export function runDir(): string {
  return process.env.ZONIX_RUN_DIR ?? '/run/zonix';
}

/** Default home of pool backing files when no device is given (/var/zonix/pools). */
export function poolFileDir(): string {
  return process.env.ZONIX_POOL_FILE_DIR ?? '/var/zonix/pools';
}

export function runPath(...parts: string[]): string {
  return join(runDir(), ...parts);
}

export function configPath(...parts: string[]): string {
  return join(configDir(), ...parts);
}

/** The cgroup every zone's cgroup sits under (absolute, so zones never nest under the caller's). */
export function cgroupParent(): string {
  return process.env.ZONIX_CGROUP_PARENT ?? 'zonix';
}

/** The system pool: where VMs and images go by default (`zones`, as on SmartOS). */
export function systemPoolName(): string {
  return process.env.ZONIX_SYSTEM_POOL ?? 'zones';
}
