export * from './connect.js';
export * from './membership.js';
export * from './scripts.js';
export * from './stores.js';
