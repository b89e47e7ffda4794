/**
 * Which pools this host has imported: one record file each under the run directory (gone at reboot;
 * `zonix boot` imports them again). Light on purpose: a CLI that only reads (`vmadm list`) finds its
 * pool here without loading the storage drivers.
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';
import { ZonixError } from '../common/index.ts';
import { runPath, systemPoolName } from '../platform/index.ts';
import type { PoolRecord } from './pool.ts';

export function recordPath(name: string): string {
  return runPath('pools', `${name}.json`);
}

/** The record of an imported pool, or undefined. */
export function readRecord(name: string): PoolRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordPath(name), 'utf8')) as PoolRecord;
  } catch {
    return undefined;
  }
}

/** Names of the pools imported on this host. */
export function importedPoolNames(): string[] {
  try {
    return readdirSync(runPath('pools'))
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -5))
      .sort();
  } catch {
    return [];
  }
}

/** The named pool, else the system pool if imported, else the first imported pool. */
export function systemPoolPick(name?: string): string {
  const names = importedPoolNames();
  const sys = systemPoolName();
  const pick = name ?? (names.includes(sys) ? sys : names[0]);
  if (pick === undefined)
    throw new ZonixError('ENOPOOL', 'no pool is imported (run `zonix boot` or `zpool import`)');
  return pick;
}
