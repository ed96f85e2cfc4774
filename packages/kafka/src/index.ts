export * from './connect.js';
export * from './consumer.js';
export * from './consumer-options.js';
export * from './partitioner.js';
export * from './producer.js';
export * from './record.js';
export * from './topics.js';
