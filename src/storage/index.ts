/**
 * The pool and its datasets (ZFS semantics on btrfs subvolumes, or plain directories).
 * @module
 */
export { ZfsError, cannot } from './errors.ts';
export { Pool, type PoolRecord, type Entity, type PropValue } from './pool.ts';
export {
  createPool,
  importPool,
  importCachedPools,
  exportPool,
  destroyPool,
  findImportable,
  listPools,
  poolStatus,
  openPool,
  poolOf,
  importedPoolNames,
  isImported,
  type PoolStatus,
  type ImportCandidate,
} from './pools.ts';
export { chooseDriver, createDriver, storageDrivers } from './drivers/index.ts';
export type { StorageDriver, StorageDriverInfo } from './driver.ts';
export { datasetNameProblem, poolNameProblem, parseName } from './names.ts';
export { niceNum, parseSize } from './units.ts';
export { PROPS, resolveProp, columnOf, formatValue, isRightAligned, allPropsFor } from './props.ts';
export { DocStore } from './docs.ts';
export { systemPool } from './system.ts';
export { clonesOf, childrenOf, descendantsOf, entityOf } from './tree.ts';
export { readRecord, recordPath, systemPoolPick } from './registry.ts';
export {
  metaKey,
  readMeta,
  poolLockPath,
  sortedSnapshots,
  type PoolMeta,
  type DatasetMeta,
  type SnapshotMeta,
} from './meta.ts';
export { STREAM_MAGIC } from './stream.ts';
export { noDataset } from './errors.ts';
export { mountpointOf } from './tree.ts';
