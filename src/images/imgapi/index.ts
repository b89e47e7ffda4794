/**
 * Both sides of IMGAPI, the image-server protocol imgadm speaks (smartos.md 4.3): a client for
 * image sources and a server over any `ImgapiProvider`. Storage is the caller's business.
 * @module
 */
export { ImgapiClient, type ImgapiClientOptions } from './client.ts';
export { createImgapiServer, type ImgapiServerOptions } from './server.ts';
export { ImgapiError, RestError, type ImgapiErrorCode, type RestErrorBody } from './errors.ts';
export {
  MAX_LIMIT,
  compareManifests,
  parseListQuery,
  selectManifests,
  type ListQuery,
} from './list-query.ts';
export type * from './types.ts';
