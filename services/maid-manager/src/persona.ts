import type { PersonaDefinition } from '@safe/core';
import { createAccountAction } from './actions/create-account.js';
import { recordDelete } from './actions/record-delete.js';
import { recordHealth } from './actions/record-health.js';
import { recordPut } from './actions/record-put.js';
import { registerVaultAction } from './actions/register-vault.js';
import { createAccount } from './handlers/create-account.js';
import { del } from './handlers/delete.js';
import { getAccount } from './handlers/get-account.js';
import { pmidHealth } from './handlers/pmid-health.js';
import { put, putUnique } from './handlers/put.js';
import { putResponse } from './handlers/put-response.js';
import { registerVault } from './handlers/register-vault.js';
import { deleteBranchTillFork, putVersion, versionResult } from './handlers/versions.js';
import { maidManagerRecords } from './records.js';
import type { MaidManagerState } from './state.js';

/**
 * MaidManager (SPEC.md 3.2); NAE = the client's MAID name.
 *
 * Every client message goes to the close group of the client's own name (`toOwnName`).
 *
 * | message       | from        | Ac     | Fw  | Sy  |
 * |---------------|-------------|--------|-----|-----|
 * | CreateAccount | client      | single | yes | yes |
 * | RegisterVault | client      | single | yes | yes (then GetPMIDHealth =>>>> PmidManager) |
 * | Put           | client      | single | yes | no  (So: Put ->>>> DataManager ×3) |
 * | PutUnique     | client      | single | yes | no  (as Put; fails if the chunk exists) |
 * | Delete        | client      | single | yes | yes (then Delete ->>>> DataManager ×3) |
 * | GetAccount    | client      | single | yes | no  |
 * | PutResponse   | DataManager | group  | yes | yes (the charge) |
 * | PmidHealth    | PmidManager | group  | yes | yes |
 * | PutVersion    | client      | single | yes | no  (owner and account checks; So: PutVersion =>>>> VersionManager) |
 * | DeleteBranchTillFork | client | single | yes | no (as PutVersion) |
 * | VersionResult | VersionManager | group | yes | no (the VersionManagers' final answer, passed on to the client) |
 *
 * Account transfer on churn (SPEC.md 4): one record per client account (records.ts).
 */
export const maidManagerPersona: PersonaDefinition<MaidManagerState> = {
  persona: 'maid-manager',
  speaksAs: 'group',
  messages: [
    createAccount,
    registerVault,
    put,
    putUnique,
    del,
    getAccount,
    putResponse,
    pmidHealth,
    putVersion,
    deleteBranchTillFork,
    versionResult,
  ],
  actions: [createAccountAction, registerVaultAction, recordHealth, recordPut, recordDelete],
  records: maidManagerRecords,
};
