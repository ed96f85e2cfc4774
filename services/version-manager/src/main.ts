#!/usr/bin/env node
/**
 * One VersionManager replica as its own process on the real stack: `node services/version-manager/dist/main.js`.
 * Configuration: environment variables, see README.md.
 */
import { runReplica } from '@safe/host';
import { openVersionManagerState, versionManagerPersona } from './index.js';

await runReplica({
  definition: versionManagerPersona,
  openState: (deps) => openVersionManagerState(deps.database()),
});
