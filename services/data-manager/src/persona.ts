import type { PersonaDefinition } from '@safe/core';
import { addSubscriber } from './actions/add-subscriber.js';
import { createRecord } from './actions/create-record.js';
import { holderResult } from './actions/holder-result.js';
import { onPmidChurn, pmidChurn } from './actions/pmid-churn.js';
import { removeSubscriber } from './actions/remove-subscriber.js';
import { repairDeparted } from './churn/repair.js';
import { del } from './handlers/delete.js';
import { get } from './handlers/get.js';
import { getResponse } from './handlers/get-response.js';
import { put } from './handlers/put.js';
import { putResponse } from './handlers/put-response.js';
import { dataManagerRecords } from './records.js';
import type { DataManagerState } from './state.js';

/**
 * DataManager (SPEC.md 3.3); NAE = a copy group's name (the chunk name, hashed once per level).
 *
 * | message     | from        | Ac     | Fw  | Sy  |
 * |-------------|-------------|--------|-----|-----|
 * | Put         | MaidManager | group  | yes | yes (So: Put to the holders' PmidManagers; `unique`: refuse an existing chunk) |
 * | Delete      | MaidManager | group  | yes | yes |
 * | PutResponse | PmidManager | group  | yes | yes |
 * | Get         | client      | single | yes | no  (So: Get to a live holder) |
 * | GetResponse | PmidNode    | single | no  | no  |
 *
 * Account transfer on churn (SPEC.md 4): one record per chunk copy (records.ts).
 *
 * PmidNode churn (SPEC.md 3.3, onChurn → PmidChurn, applied by each member from its own view): a
 * departed holder drops to the bottom of its lists and its copies below `copiesPerGroup` live
 * holders are stored again (churn/repair.ts: Get from a live holder, Put to the next
 * deterministic holder's PmidManagers, recorded by the synced HolderResult; at most `maxRepairs`
 * at once, the rest and those unanswered after `repairRetryMs` on a later event or tick); a
 * returning holder goes to the top. More than `maxHolders`: the bottom one is deleted.
 */
export const dataManagerPersona: PersonaDefinition<DataManagerState> = {
  persona: 'data-manager',
  speaksAs: 'group',
  messages: [put, del, putResponse, get, getResponse],
  actions: [createRecord, addSubscriber, removeSubscriber, holderResult, pmidChurn],
  onChurn: onPmidChurn,
  onTick: async (ctx) => ({ send: await repairDeparted(ctx) }),
  records: dataManagerRecords,
};
