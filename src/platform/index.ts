/**
 * Host facts and the host-command layer: `run`/`spawnStream` for every external program, the paths
 * Zonix keeps state in, the cached host probe (what this kernel and its tools can really do), and the
 * SmartOS `sysinfo` object.
 * @module
 */
export * from './exec.ts';
export * from './paths.ts';
export * from './probe.ts';
export * from './sysinfo.ts';
