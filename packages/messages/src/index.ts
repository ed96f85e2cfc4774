export * from './maid-manager.js';
export * from './mpid-manager.js';
export * from './pmid-node.js';
export * from './version-manager.js';
