/**
 * Where Zonix keeps host-side files. Everything durable lives in the pool; these are caches and runtime
 * state. Tests point them elsewhere with ZONIX_CONFIG_DIR and ZONIX_RUN_DIR.
 * @module
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

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

/** Where Zonix itself is installed: the folder with its package.json (from src/ or from dist/). */
export function platformRoot(): string {
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'native'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no Zonix installation above ${import.meta.dirname}`);
  }
}

/** The platform's own tools, mounted read-only at /native in every zone. */
export function nativeDir(): string {
  return process.env.ZONIX_NATIVE_DIR ?? join(platformRoot(), 'native');
}

/** The system pool: where VMs and images go by default (`zones`, as on SmartOS). */
export function systemPoolName(): string {
  return process.env.ZONIX_SYSTEM_POOL ?? 'zones';
}
