/**
 * VM property schema: the one table of VM properties (and of `nics`/`disks`/`filesystems`/`pci_devices`
 * entries), the brand records, and everything derived from them: `vmadm validate`, create defaults,
 * the memory rules, payload normalisation and checks for create/update, `vmadm list` columns and
 * filter keys, and the JSON Schema of create payloads.
 * @module
 */
export type {
  Action,
  BrandName,
  DefaultSpec,
  Flatten,
  JsonValue,
  ListColumn,
  Payload,
  PropertySpec,
  SubAction,
  SubPropertySpec,
  SubTable,
  UpdateMode,
  ValueType,
} from './types.ts';
export {
  ALL,
  BRANDS,
  BRAND_NAMES,
  HVM,
  OS,
  brandsWhere,
  getBrand,
  isBrandName,
  type BrandInfo,
} from '../brands/info.ts';
export { PROPERTIES, getProperty, isReadOnly } from './properties.ts';
export { isIPv4 } from './ip.ts';
export {
  DISK_PROPERTIES,
  FILESYSTEM_PROPERTIES,
  NIC_PROPERTIES,
  PCI_DEVICE_PROPERTIES,
} from './sub-properties.ts';
export { PAYLOAD_KEYS, getPayloadKey, isAllowed, isSubAllowed, type PayloadKey } from './payload-keys.ts';
export {
  checkValue,
  formatValidateResult,
  isBadBrand,
  isValid,
  validatePayload,
  type ImageInfo,
  type ValidateContext,
  type ValidateResult,
  type ValidationErrors,
} from './validate.ts';
export {
  applyComputedDefaults,
  applyCreateDefaults,
  applySettableDefaults,
  assignInterfaces,
  checkDisks,
  checkMemory,
  checkNics,
  checkProperties,
  checkRoutes,
  checkStructure,
  coerceBooleansAndEntries,
  coerceIntegersAndLists,
  fixPayloadMemory,
  generateMac,
  prepareCreate,
  prepareUpdate,
  toStoredForm,
  upgradeNic,
  vrrpMac,
  type PrepareOptions,
  type Prepared,
} from './normalize.ts';
export { MESSAGES, PayloadError, payloadError, type PayloadErrorCode } from './errors.ts';
export {
  DEFAULT_LIST_ORDER,
  DEFAULT_LIST_SORT,
  isFilterKey,
  listFieldFor,
  listFields,
  listValue,
  type ListField,
} from './list.ts';
export {
  JSON_SCHEMA_DIALECT,
  createPayloadJsonSchema,
  updatePayloadJsonSchema,
  vmJsonSchema,
  type JsonSchema,
} from './json-schema.ts';
export { BOOTROMS, COMPRESSION_TYPES, VGA_TYPES, isUUID } from './values.ts';
