#!/usr/bin/env node
/**
 * One DataManager replica as its own process on the real stack: `node services/data-manager/dist/main.js`.
 * Configuration: environment variables (the host's and the DataManager's own), see README.md.
 */
import { runReplica } from '@safe/host';
import { dataManagerConfigFields, dataManagerPersona, groupFarmingValue, openDataManagerState, pickDataManagerConfig } from './index.js';

await runReplica({
  definition: dataManagerPersona,
  extraConfig: dataManagerConfigFields,
  openState: ({ config, database }) => openDataManagerState(database(), pickDataManagerConfig(config)),
  metrics: (registry, replica) => {
    registry.gauge({
      name: 'safe_farming_rate',
      help: "This replica's farming rate (SPEC.md 3.3; the group's value is the median of its members')",
      collect: () => replica.state.store.lastFarmingRate?.rate ?? 0,
    });
    registry.gauge({
      name: 'safe_farming_rate_group',
      help: "This replica's group farming rate: the median of its own rate and its close peers' latest refreshes (SPEC.md 3.3)",
      collect: () => groupFarmingValue(replica.state) ?? 0,
    });
  },
});
