export * from './chunk-store.js';
export * from './persona.js';
export * from './state.js';
