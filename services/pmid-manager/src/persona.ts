import { definePersona, type PersonaDefinition } from '@safe/core';
import { addVaultClient } from './actions/add-vault-client.js';
import { recordDeleted } from './actions/record-deleted.js';
import { recordLost } from './actions/record-lost.js';
import { recordOffer } from './actions/record-offer.js';
import { recordStored } from './actions/record-stored.js';
import { del } from './handlers/delete.js';
import { getPmidHealth } from './handlers/get-pmid-health.js';
import { lose } from './handlers/lose.js';
import { lost } from './handlers/lost.js';
import { offer } from './handlers/offer.js';
import { put } from './handlers/put.js';
import { putResponse } from './handlers/put-response.js';
import { rankReports } from './rank.js';
import { pmidManagerRecords } from './records.js';
import { sendAccountsOnRejoin } from './send-account.js';
import type { PmidManagerState } from './state.js';

/**
 * PmidManager (SPEC.md 3.4); NAE = the PmidNode's name.
 *
 * What it receives (sender, accumulation, firewall, sync, payload) is declared once in
 * @safe/messages (toPmidManager), which its senders send from too. What it does with each: Put
 * (So to the PmidNode; counted on its answer; a must-store copy counts sacrificial copies as
 * room), PutResponse, Delete, Lose (Delete on the node; its lost total grows), GetPmidHealth (the
 * client's share of the vault's offer; a new client: AddVaultClient, the others told their share),
 * Offer, Lost (its lost total grows, unless a sacrificial copy DELETED_FOR_ROOM; HolderLost ->>>>
 * the copy's DataManagers, with the reason).
 *
 * Lose and Lost are two types because they accumulate differently: Lose is a DataManager group's
 * decision (K − 1 copies), Lost is the PmidNode's own report (one signed copy, the seeds' rule for
 * an entity), answering the SendAccount below. A Lost for a copy not in the account changes nothing.
 *
 * Sends: Put, Delete => PmidNode; SendAccount -> PmidNode (on churn, when a PmidNode with an
 * account here comes back on line: the copies it should hold, less what was deleted or lost while
 * it was away, in batches of SAFE_PM_SEND_ACCOUNT_BATCH); PutResponse, HolderLost ->>>> DataManager;
 * PmidHealth (the client's share of the offer, vault-shares.ts, with the node's rank, rank.ts)
 * ->>>> MaidManager, also to every client sharing the vault when a client joins or the offer changes.
 *
 * Account transfer on churn (SPEC.md 4): one record per PmidNode account (records.ts).
 *
 * Ranking (SPEC.md 3.4): each replica announces the ranks of the nodes it manages that lost data
 * (rank.ts); DataManagers choose the nodes their managers agree are low-ranked last.
 */
export const pmidManagerPersona: PersonaDefinition<PmidManagerState> = definePersona({
  persona: 'pmid-manager',
  speaksAs: 'group',
  messages: [put, putResponse, del, lose, lost, getPmidHealth, offer],
  actions: [recordStored, recordDeleted, recordLost, recordOffer, addVaultClient],
  onChurn: sendAccountsOnRejoin,
  records: pmidManagerRecords,
  rankReports,
});
