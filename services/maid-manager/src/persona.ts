import { definePersona, type PersonaDefinition } from '@safe/core';
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
 * Its rows (senders, Ac, Fw, Sy, payloads) are declared once in @safe/messages (toMaidManager),
 * which its senders send from too. What follows each: Put, PutUnique => Put ->>>> DataManager ×3;
 * RegisterVault => GetPMIDHealth =>>>> PmidManager; Delete => Delete ->>>> DataManager ×3;
 * PutResponse syncs the charge; PutVersion, DeleteBranchTillFork => the SDV's VersionManagers after
 * the owner and account checks; VersionResult goes on to the client.
 *
 * Account transfer on churn (SPEC.md 4): one record per client account (records.ts).
 */
export const maidManagerPersona: PersonaDefinition<MaidManagerState> = definePersona({
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
});
