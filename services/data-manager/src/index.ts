export * from './config.js';
export * from './farming/refresh.js';
export * from './farming-rate.js';
export { NotClosePeerError } from './handlers/farming-rate-refresh.js';
export * from './migrations.js';
export * from './persona.js';
export * from './records.js';
export * from './state.js';
export * from './store.js';
