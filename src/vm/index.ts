/**
 * The VM subsystem's public surface: the VM core (every vmadm operation over one pool), the brands
 * and their drivers, the schema (the one property table), the fast read paths that `vmadm get` and
 * `vmadm list` use without the core, and the pieces the CLIs format with. Other subsystems import
 * from here only (a lint rule keeps it so).
 * @module
 */
export { VmCore, RUNTIME_PROP, type HaltOpts, type ImageCatalogue, type VmCoreOptions } from './core.ts';
export * from './brands/index.ts';
export * from './errors.ts';
export * from './schema/index.ts';
export { lockVm, VmStore, VM_PROP, VM_UUID, type VmPhase, type VmRecord } from './store.ts';
export { getVm, listColumns, refreshListCache, type VmColumns } from './view.ts';
export { presentNic } from './live.ts';
export { matchesAll, parseFilter, type Filter } from './filters.ts';
export { isFilterKey, listFieldFor, listGetter } from './schema/list.ts';
export {
  columnsOf,
  DEFAULT_ORDER,
  DEFAULT_SORT,
  fieldValue,
  formatColumns,
  formatVmList,
  resolveFields,
  sortOrder,
  sortVms,
  type ListColumns,
  type ListField as ListFieldColumn,
} from './list.ts';
export {
  attachConsole,
  CTRL_RIGHT_BRACKET,
  hasTerminal,
  parseEscapeChar,
  type AttachOptions,
  type ConsoleStreams,
  type DetachReason,
  type EscapeSpec,
} from './console.ts';
export {
  formatEvent,
  formatReady,
  type VmChange,
  type VmEvent,
  type VmWatcher,
  type WatchOptions,
} from './events.ts';
export { zoneResources } from './update.ts';
