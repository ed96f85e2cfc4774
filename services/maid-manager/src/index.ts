export * from './client-types.js';
export * from './migrations.js';
export * from './persona.js';
export * from './records.js';
export * from './state.js';
export * from './store.js';
