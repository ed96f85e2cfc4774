import { definePersona, type PersonaDefinition } from '@safe/core';
import { addSubscriber } from './actions/add-subscriber.js';
import { createRecord } from './actions/create-record.js';
import { holderResult } from './actions/holder-result.js';
import { loseHolder } from './actions/lose-holder.js';
import { markHolderLost } from './actions/mark-holder-lost.js';
import { onPmidChurn, pmidChurn } from './actions/pmid-churn.js';
import { removeSubscriber } from './actions/remove-subscriber.js';
import { sweepOnTick } from './churn/leftovers.js';
import { repairOnTick } from './churn/repair.js';
import { adoptFarmingRate, onDataManagerChurn, periodicFarmingRefresh } from './farming/refresh.js';
import { del } from './handlers/delete.js';
import { farmingRateRefresh } from './handlers/farming-rate-refresh.js';
import { get } from './handlers/get.js';
import { getResponse } from './handlers/get-response.js';
import { holderCorrupt } from './handlers/holder-corrupt.js';
import { holderLost } from './handlers/holder-lost.js';
import { integrityAnswer } from './handlers/integrity-answer.js';
import { put } from './handlers/put.js';
import { putResponse } from './handlers/put-response.js';
import { periodicIntegrityChecks } from './integrity/check.js';
import { expireGets } from './pending-gets.js';
import { dataManagerRecords } from './records.js';
import type { DataManagerState } from './state.js';

/**
 * DataManager (SPEC.md 3.3); NAE = a copy group's name (the chunk name, hashed once per level).
 *
 * What it receives (sender, accumulation, firewall, sync, payload) is declared once in
 * @safe/messages (toDataManager), which its senders send from too. What it does with each: Put
 * (So: Put to the holders' PmidManagers; `unique`: refuse an existing chunk), Delete, PutResponse;
 * Get (So: Get to a live holder, the next one when it fails or is silent for `getRetryMs`; a
 * repeat is answered again, the chunk never recorded), GetResponse; HolderLost (MarkHolderLost:
 * failed, re-replicated if short); IntegrityAnswer, HolderCorrupt (an integrity verdict to the
 * copy group itself: LoseHolder); FarmingRateRefresh.
 *
 * Account transfer on churn (SPEC.md 4): one record per chunk copy (records.ts), and a tombstone
 * per copy deleted lately (tombstones.ts), so a member that missed the Delete drops its record.
 *
 * PmidNode churn (SPEC.md 3.3, onChurn → PmidChurn, applied by each member from its own view): a
 * departed holder drops to the bottom of its lists and its copies below `copiesPerGroup` live
 * holders are stored again (churn/repair.ts: Get from a live holder, Put to the next
 * deterministic holder's PmidManagers, recorded by the synced HolderResult; at most `maxRepairs`
 * at once, the rest and those unanswered after `repairRetryMs` on a later event or tick); a
 * returning holder goes to the top. More than `maxHolders`: the bottom one is deleted.
 *
 * Data integrity checks (SPEC.md 3.3, integrity/check.ts): for the copies a departed PmidNode held
 * (their remaining holders are what re-replication reads from; a returning PmidNode's disk is its
 * PmidManagers' SendAccount's to check), and each `integrityPeriodMs` for a page of
 * `integrityBatch` copies, the members send IntegrityCheck => each live stored holder with one
 * nonce they derive alike (so their copies accumulate at the PmidNode as Get's do, and all members
 * get the same answers) but a holder cannot know beforehand (it covers the record's createdBy tag,
 * never sent to a PmidNode). Not each member its own random nonce: that would need one more round
 * for the members to agree on a verdict drawn from different answers. Two or more agreeing answers outvote
 * the rest; without such a majority the content is read from a holder and checked against its name
 * to judge each answer. A verdict is sent to the group itself (HolderCorrupt, K − 1 members alike)
 * and applied once synced (LoseHolder: the holder is marked failed, Lose ->>>> its PmidManagers,
 * the copy re-replicated by churn/repair.ts).
 *
 * Farming rate (SPEC.md 3.3, farming/refresh.ts): on a matrix change of the DataManagers each
 * member sends its rate to its new close peers (the K DataManagers closest to it), and each
 * `farmingRefreshMs` to all of them; a newcomer (no sacrificial copy moved its rate) takes the
 * median of its peers' rates once (K+1)/2 sent theirs and follows it (AdoptFarmingRate), and each
 * replica's group value is the median of its own and its peers' latest.
 */
export const dataManagerPersona: PersonaDefinition<DataManagerState> = definePersona({
  persona: 'data-manager',
  speaksAs: 'group',
  messages: [put, del, putResponse, get, getResponse, holderLost, integrityAnswer, holderCorrupt, farmingRateRefresh],
  actions: [createRecord, addSubscriber, removeSubscriber, holderResult, pmidChurn, markHolderLost, loseHolder, adoptFarmingRate],
  // Each looks at one persona's churn (PmidNodes, DataManagers) and returns nothing for the other.
  onChurn: (event, ctx) => ({ ...onPmidChurn(event, ctx), ...onDataManagerChurn(event, ctx) }),
  onTick: async (ctx) => ({
    send: [
      ...(await repairOnTick(ctx)),
      ...(await periodicIntegrityChecks(ctx)),
      ...periodicFarmingRefresh(ctx),
      ...(await sweepOnTick(ctx)),
      ...expireGets(ctx),
    ],
  }),
  records: dataManagerRecords,
});
