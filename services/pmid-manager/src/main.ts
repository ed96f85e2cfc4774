#!/usr/bin/env node
/**
 * One PmidManager replica as its own process on the real stack: `node services/pmid-manager/dist/main.js`.
 * Configuration: environment variables, see README.md.
 */
import { runReplica } from '@safe/host';
import { openPmidManagerState, pmidManagerPersona } from './index.js';

await runReplica({
  definition: pmidManagerPersona,
  openState: (deps) => openPmidManagerState(deps.database()),
});
