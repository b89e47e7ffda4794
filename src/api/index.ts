/**
 * The host's HTTP API (`/v1`), its websockets (events, terminals), `/metrics` and the web console:
 * what zonixd serves. Thin over the Host: the CLIs and the API give the same answers.
 * @module
 */
export { buildApi, COOKIE, type Api, type ApiOptions } from './app.ts';
export { errorResponse, ApiError, type ErrorBody } from './errors.ts';
export type { Job, JobState } from './jobs.ts';
export type { Sample, VmSample } from './metrics.ts';
export { buildCloudApi, CLOUDAPI_VERSION, type CloudApiOptions } from './cloudapi.ts';
