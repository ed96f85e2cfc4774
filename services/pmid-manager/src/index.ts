export * from './config.js';
export * from './migrations.js';
export * from './persona.js';
export * from './rank.js';
export * from './records.js';
export * from './state.js';
export * from './store.js';
