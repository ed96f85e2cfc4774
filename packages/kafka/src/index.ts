export * from './connect.js';
export * from './kafka-bus.js';
export * from './partitioner.js';
export * from './topics.js';
