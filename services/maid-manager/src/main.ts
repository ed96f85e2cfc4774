#!/usr/bin/env node
/**
 * One MaidManager replica as its own process on the real stack: `node services/maid-manager/dist/main.js`.
 * Every MaidManager replica is also a client entry: it serves the gRPC Gateway next to the Node
 * service. Configuration: environment variables, see README.md.
 */
import { MAX_CHUNK_BYTES } from '@safe/chunks';
import { runReplica } from '@safe/host';
import { entryClientMessageTypes, maidManagerPersona, openMaidManagerState } from './index.js';

await runReplica({
  definition: maidManagerPersona,
  openState: (deps) => openMaidManagerState(deps.database()),
  entry: {
    clientMessageTypes: entryClientMessageTypes(),
    maxChunkSize: MAX_CHUNK_BYTES,
    // A Put or Get carries up to one chunk; leave room for the envelope around it.
    maxMessageBytes: 4 * MAX_CHUNK_BYTES + 64 * 1024,
  },
});
