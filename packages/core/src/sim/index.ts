export * from './clock.js';
export * from './network.js';
export * from './random.js';
