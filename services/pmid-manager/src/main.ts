#!/usr/bin/env node
/**
 * One PmidManager replica as its own process on the real stack: `node services/pmid-manager/dist/main.js`.
 * Configuration: environment variables (the host's and the PmidManager's own), see README.md.
 */
import { runReplica } from '@safe/host';
import { openPmidManagerState, type PmidManagerConfig, pmidManagerConfigFields, pmidManagerPersona, RankGauge } from './index.js';

await runReplica({
  definition: pmidManagerPersona,
  extraConfig: pmidManagerConfigFields,
  openState: ({ config, database }) => {
    const own: PmidManagerConfig = { sendAccountBatch: config.sendAccountBatch, rankReports: config.rankReports };
    return openPmidManagerState(database(), own);
  },
  metrics: (registry, replica) => {
    const gauge = new RankGauge(replica.state.store);
    registry.gauge({
      name: 'safe_pmid_rank',
      help: 'Rank of each PmidNode this replica keeps an account for: stored / (stored + lost)',
      labelNames: ['pmid'],
      collect: () => gauge.collect(),
    });
  },
});
