import { type ConfigShape, intField, loadConfig } from '@safe/core';

/** PmidManager parameters. */
export const pmidManagerConfigFields = {
  sendAccountBatch: intField(
    'SAFE_PM_SEND_ACCOUNT_BATCH',
    1024,
    'chunk copies per SendAccount message to a rejoining PmidNode (a copy is ~72 bytes on the wire)',
    1,
    100_000,
  ),
  rankReports: intField(
    'SAFE_PM_RANK_REPORTS',
    256,
    'most PmidNodes whose rank a replica announces in the membership (those that lost data, lowest rank first); DataManagers choose low-ranked nodes last',
    0,
    100_000,
  ),
} satisfies ConfigShape;

export type PmidManagerConfig = ReturnType<typeof loadPmidManagerConfig>;

export function loadPmidManagerConfig(env: Record<string, string | undefined> = process.env) {
  return loadConfig(pmidManagerConfigFields, env);
}
