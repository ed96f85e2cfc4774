export * from './pmid-node.js';
