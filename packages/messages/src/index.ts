export * from './data-manager.js';
export * from './maid-manager.js';
export * from './mpid-manager.js';
export * from './pmid-manager.js';
export * from './pmid-node.js';
export * from './version-manager.js';
