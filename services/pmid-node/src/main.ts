#!/usr/bin/env node
/**
 * One PmidNode (a vault) as its own process on the real stack: `node services/pmid-node/dist/main.js`.
 * Chunks live under `$SAFE_DATA_DIR/chunks`; no Postgres. Once up, it offers its capacity to its
 * PmidManagers. Configuration: environment variables, see README.md.
 */
import { join } from 'node:path';
import { intField } from '@safe/core';
import { runReplica } from '@safe/host';
import { offer, openPmidNodeState, pmidNodePersona } from './index.js';

const GIB = 1024 * 1024 * 1024;

export const pmidNodeConfigFields = {
  pmidCapacity: intField('SAFE_PMID_CAPACITY', GIB, 'bytes this PmidNode offers the network (announced to its PmidManagers at start)', 1),
};

await runReplica({
  definition: pmidNodePersona,
  extraConfig: pmidNodeConfigFields,
  usesPostgres: false,
  openState: ({ config, dataDir }) => openPmidNodeState(join(dataDir, 'chunks'), config.pmidCapacity),
  afterStart: (replica, { config }) => offer(replica.name, config.pmidCapacity),
});
