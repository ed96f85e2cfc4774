#!/usr/bin/env node
/**
 * One MpidManager replica as its own process on the real stack: `node services/mpid-manager/dist/main.js`.
 * Configuration: environment variables, see README.md.
 */
import { runReplica } from '@safe/host';
import { mpidManagerPersona, openMpidManagerState } from './index.js';

await runReplica({
  definition: mpidManagerPersona,
  openState: (deps) => openMpidManagerState(deps.database()),
});
