/**
 * Images: installed on the pool as `<pool>/<uuid>@final`, fetched from sources (built-in, IMGAPI,
 * docker registries) with their checks.
 * @module
 */
export * from './errors.ts';
export * from './manifest.ts';
export { ImageStore, FINAL, type InstalledImage, type ImageContent } from './store.ts';
export * from './sources.ts';
export * from './service.ts';
export { ImgapiSource, serveImages } from './imgapi-source.ts';
export * from './create.ts';
export { importDocker, installDockerArchive, isDockerReference, dockerManifest } from './docker.ts';
