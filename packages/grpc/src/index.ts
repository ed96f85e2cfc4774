export * from './direct.js';
export * from './gateway-client.js';
export * from './gateway-server.js';
export * from './proto.js';
export * from './server.js';
export * from './status.js';
