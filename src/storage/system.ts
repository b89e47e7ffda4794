/**
 * The host's system pool (`zones` unless ZONIX_SYSTEM_POOL says otherwise): the pool that commands
 * use when none is named. Light on purpose: every CLI loads it at start.
 * @module
 */
import type { Pool } from './pool.ts';
import { openPool } from './pools.ts';
import { systemPoolPick } from './registry.ts';

/** The named pool, else the system pool if imported, else the first imported pool. */
export function systemPool(name?: string): Pool {
  return openPool(systemPoolPick(name));
}
