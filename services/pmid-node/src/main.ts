#!/usr/bin/env node
/**
 * One PmidNode (a vault) as its own process on the real stack: `node services/pmid-node/dist/main.js`.
 * Chunks live under `$SAFE_DATA_DIR/chunks`; no Postgres. Once up, it offers its capacity to its
 * PmidManagers. Configuration: environment variables, see README.md.
 */
import { join } from 'node:path';
import { runReplica } from '@safe/host';
import { pmidNodeConfigFields } from './config.js';
import { offer, openPmidNodeState, pmidNodePersona } from './index.js';

await runReplica({
  definition: pmidNodePersona,
  extraConfig: pmidNodeConfigFields,
  usesPostgres: false,
  openState: ({ config, dataDir }) => openPmidNodeState(join(dataDir, 'chunks'), config.pmidCapacity),
  afterStart: (replica, { config }) => offer(replica.name, config.pmidCapacity),
});
