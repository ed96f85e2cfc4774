export type { ChunkStore } from './chunk-store.js';
export * from './client.js';
export * from './files.js';
export * from './identity-file.js';
export * from './jaeger.js';
export * from './version-codecs.js';
export * from './versions.js';
