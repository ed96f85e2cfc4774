import type { PersonaDefinition } from '@safe/core';
import { recordDeleted } from './actions/record-deleted.js';
import { recordOffer } from './actions/record-offer.js';
import { recordStored } from './actions/record-stored.js';
import { del } from './handlers/delete.js';
import { getPmidHealth } from './handlers/get-pmid-health.js';
import { lose } from './handlers/lose.js';
import { offer } from './handlers/offer.js';
import { put } from './handlers/put.js';
import { putResponse } from './handlers/put-response.js';
import { pmidManagerRecords } from './records.js';
import type { PmidManagerState } from './state.js';

/**
 * PmidManager (SPEC.md 3.4); NAE = the PmidNode's name.
 *
 * | message       | from        | Ac     | Fw  | Sy  |
 * |---------------|-------------|--------|-----|-----|
 * | Put           | DataManager | group  | yes | no (So to the PmidNode; counted on its answer) |
 * | PutResponse   | PmidNode    | single | yes | yes |
 * | Delete        | DataManager | group  | yes | yes |
 * | Lose          | DataManager | group  | yes | yes (Delete on the node; its lost total grows) |
 * | GetPmidHealth | MaidManager | none   | no  | no  |
 * | Offer         | PmidNode    | single | yes | yes |
 *
 * Account transfer on churn (SPEC.md 4): one record per PmidNode account (records.ts).
 */
export const pmidManagerPersona: PersonaDefinition<PmidManagerState> = {
  persona: 'pmid-manager',
  speaksAs: 'group',
  messages: [put, putResponse, del, lose, getPmidHealth, offer],
  actions: [recordStored, recordDeleted, recordOffer],
  records: pmidManagerRecords,
};
