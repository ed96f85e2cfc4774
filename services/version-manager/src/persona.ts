import { definePersona, type PersonaDefinition } from '@safe/core';
import { applyDeleteBranch } from './actions/apply-delete-branch.js';
import { applyPutVersion } from './actions/apply-put-version.js';
import { deleteBranchTillFork } from './handlers/delete-branch.js';
import { getBranch, getVersions } from './handlers/get-versions.js';
import { putVersion } from './handlers/put-version.js';
import { versionManagerRecords } from './records.js';
import type { VersionManagerState } from './state.js';

/**
 * VersionManager (SPEC.md 3.6); NAE = the SDV name, hash(data name ‖ type ‖ owner).
 *
 * Its rows (senders, Ac, Fw, Sy, payloads) are declared once in @safe/messages (toVersionManager),
 * which its senders send from too. What follows each: PutVersion => ApplyPutVersion and
 * DeleteBranchTillFork => ApplyDeleteBranchTillFork once agreed (Uf: VersionResult ->>>> the
 * owner's MaidManagers); GetVersions, GetBranch are answered from this member's own state.
 *
 * Unlike the DataManager, every mutation is decided only once the whole group agreed it: the
 * handler proposes, the agreed action runs the SDV rules (sdv.ts) and its answer is final.
 *
 * Account transfer on churn (SPEC.md 4): one record per SDV (records.ts).
 */
export const versionManagerPersona: PersonaDefinition<VersionManagerState> = definePersona({
  persona: 'version-manager',
  speaksAs: 'group',
  messages: [putVersion, deleteBranchTillFork, getVersions, getBranch],
  actions: [applyPutVersion, applyDeleteBranch],
  records: versionManagerRecords,
});
