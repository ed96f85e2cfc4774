export * from './data-manager.js';
export * from './pmid-manager.js';
export * from './pmid-node.js';
