export * from './connect.js';
export * from './kafka-bus.js';
export * from './topics.js';
