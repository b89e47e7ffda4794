/**
 * Zones on Linux: the OCI spec Zonix generates, and the runtime (runc or crun, watched by conmon).
 * @module
 */
export * from './resources.ts';
export * from './spec.ts';
export * from './runtime.ts';
export * from './runtimes.ts';
