import { type ConfigShape, enumField, intField, loadConfig } from '@safe/core';
import { FARMING_POLICIES, type FarmingPolicy } from './farming-rate.js';

/** DataManager parameters (SPEC.md section 5); defaults from the drafts and the C++ vault. */
export const dataManagerConfigFields = {
  copiesPerGroup: intField('SAFE_DM_COPIES_PER_GROUP', 2, 'copies each DataManager group keeps (primary, backup, sacrificial)', 1, 8),
  maxHolders: intField('SAFE_DM_MAX_HOLDERS', 8, 'most holders a record keeps; the 9th is downranked and deleted', 2, 64),
  lowRankPercent: intField(
    'SAFE_DM_LOW_RANK_PERCENT',
    80,
    "a PmidNode whose agreed rank (stored / (stored + lost), the lower median of its PmidManagers' reports) is below this percentage is the last choice for new copies; 0 = rank is not used",
    0,
    100,
  ),
  getRetryMs: intField('SAFE_DM_GET_RETRY_MS', 5000, 'a holder that has not answered a Get by then is skipped for the next one', 100),
  pendingContentLimit: intField('SAFE_DM_PENDING_CONTENT', 256, 'chunks kept in memory to retry a store on another holder', 0),
  maxRepairs: intField(
    'SAFE_DM_MAX_REPAIRS',
    32,
    'copies re-replicated at once after PmidNodes leave; the rest wait for the next churn or answer',
    1,
  ),
  farmingPolicy: enumField<FarmingPolicy>(
    'SAFE_DM_FARMING_POLICY',
    'linear',
    FARMING_POLICIES,
    'how sacrificial copies move the farming rate: `linear` (seed 004: start 1, +1 per sacrificial copy stored, -1 per one not stored or deleted) or `exponential` (seed 001: start 2^10, halve on a failed one, double once all failed ones are stored again)',
  ),
  farmingRefreshMs: intField(
    'SAFE_DM_FARMING_REFRESH_MS',
    60_000,
    'how often each DataManager sends its farming rate to its close peers besides on churn, so the group median converges (ms); 0 = only on churn',
  ),
  repairRetryMs: intField('SAFE_DM_REPAIR_RETRY_MS', 30000, 'a re-replication not confirmed by then is given up and tried again', 100),
  stalledStoreMs: intField(
    'SAFE_DM_STALLED_STORE_MS',
    30000,
    'a chosen holder still unconfirmed this long after a member first saw it pending is sent the copy again by the whole group (ms)',
    100,
  ),
  integrityPeriodMs: intField(
    'SAFE_DM_INTEGRITY_PERIOD_MS',
    3_600_000,
    'how often a page of copies gets a data integrity check besides the one on PmidNode churn (ms); 0 = only on churn',
  ),
  integrityBatch: intField(
    'SAFE_DM_INTEGRITY_BATCH',
    16,
    'copies given an integrity check per period or churn event, and at most in flight',
    1,
  ),
} satisfies ConfigShape;

export type DataManagerConfig = ReturnType<typeof loadDataManagerConfig>;

export function loadDataManagerConfig(env: Record<string, string | undefined> = process.env) {
  return loadConfig(dataManagerConfigFields, env);
}

/** The DataManager's own settings out of a process's whole configuration (a host's, a testnet's). */
export function pickDataManagerConfig(all: DataManagerConfig): DataManagerConfig {
  const own: Record<string, unknown> = {};
  for (const key of Object.keys(dataManagerConfigFields)) own[key] = all[key as keyof DataManagerConfig];
  return own as DataManagerConfig;
}
