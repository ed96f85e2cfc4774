export * from './config.js';
export * from './embedded.js';
export * from './main.js';
export * from './multi-process.js';
export * from './replicas.js';
export * from './tracing.js';
