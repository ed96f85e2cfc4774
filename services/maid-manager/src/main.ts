#!/usr/bin/env node
/**
 * One MaidManager replica as its own process on the real stack: `node services/maid-manager/dist/main.js`.
 * Every MaidManager replica is also a client entry: it serves the gRPC Gateway next to the Node
 * service. Configuration: environment variables, see README.md.
 */
import { MAX_CHUNK_BYTES } from '@safe/chunks';
import type { PersonaName } from '@safe/core';
import { runReplica } from '@safe/host';
import { maidManagerPersona, openMaidManagerState } from './index.js';

/**
 * The client message types the network takes and the persona each goes to: this persona's own
 * (read off its table), the DataManager's Get (a client reads a chunk from the group closest to
 * it) and the VersionManager's reads of an SDV; this package depends on neither, so they are named here.
 */
function clientMessageTypes(): Map<string, PersonaName> {
  const types = new Map<string, PersonaName>([
    ['Get', 'data-manager'],
    ['GetVersions', 'version-manager'],
    ['GetBranch', 'version-manager'],
  ]);
  for (const declaration of maidManagerPersona.messages)
    if (declaration.from.includes('client')) types.set(declaration.type, 'maid-manager');
  return types;
}

await runReplica({
  definition: maidManagerPersona,
  openState: (deps) => openMaidManagerState(deps.database()),
  entry: {
    clientMessageTypes: clientMessageTypes(),
    maxChunkSize: MAX_CHUNK_BYTES,
    // A Put or Get carries up to one chunk; leave room for the envelope around it.
    maxMessageBytes: 4 * MAX_CHUNK_BYTES + 64 * 1024,
  },
});
