export * from './chunk-store.js';
export * from './config.js';
export * from './persona.js';
export * from './state.js';
