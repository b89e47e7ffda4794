/**
 * The cloud: accounts with their SSH keys, packages, networks with IP allocation, and machines as
 * CloudAPI shows them, over a Compute (this host now; a head node's many later). zonixd serves it as
 * CloudAPI (src/api/cloudapi.ts); `zonix account|package|network` manage it.
 * @module
 */
export { Accounts, validLogin, type Account, type AccountKey } from './accounts.ts';
export { Cloud, GoneError, snapshotName, type AuditEntry, type CallerInfo } from './cloud.ts';
export { LocalCompute, type Compute } from './compute.ts';
export { CloudError } from './errors.ts';
export { imageFilter, toImage, usableImage, type CloudImage } from './images.ts';
export { normalizeFingerprint, parseKey, type ParsedKey } from './keys.ts';
export { createPayload, machineState, toMachine, type Machine } from './machines.ts';
export { Networks, networkOf, type CloudNetwork, type NetworkRequest } from './networks.ts';
export { BUILTIN_PACKAGES, packagePayload, Packages, type Package, type PackageRequest } from './packages.ts';
export { verifyRequest, type Caller } from './signature.ts';
