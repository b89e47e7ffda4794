/**
 * Shared building blocks with no Zonix dependencies: errors, undo, locks, durable writes.
 * @module
 */
export * from './errors.ts';
export * from './reverter.ts';
export * from './lock.ts';
export * from './fs-atomic.ts';
export * from './proc.ts';
export * from './operation.ts';
export * from './zone-files.ts';
export * from './socket.ts';
export * from './ipv4.ts';
