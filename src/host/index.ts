/**
 * The host: one node's pools, images, runtime, probe and lifecycle hooks, with every vmadm operation
 * as a method. What the CLIs and zonixd are thin over.
 * @module
 */
export { defaultHost, Host, type HostOptions, type PoolOption } from './host.ts';
