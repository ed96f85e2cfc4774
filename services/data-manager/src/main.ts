#!/usr/bin/env node
/**
 * One DataManager replica as its own process on the real stack: `node services/data-manager/dist/main.js`.
 * Configuration: environment variables (the host's and the DataManager's own), see README.md.
 */
import { runReplica } from '@safe/host';
import { type DataManagerConfig, dataManagerConfigFields, dataManagerPersona, openDataManagerState } from './index.js';

await runReplica({
  definition: dataManagerPersona,
  extraConfig: dataManagerConfigFields,
  openState: ({ config, database }) => {
    const own: DataManagerConfig = {
      copiesPerGroup: config.copiesPerGroup,
      maxHolders: config.maxHolders,
      getRetryMs: config.getRetryMs,
      pendingContentLimit: config.pendingContentLimit,
      maxRepairs: config.maxRepairs,
      repairRetryMs: config.repairRetryMs,
    };
    return openDataManagerState(database(), own);
  },
});
