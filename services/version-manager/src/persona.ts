import type { PersonaDefinition } from '@safe/core';
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
 * | message              | from        | Ac     | Fw  | Sy  |
 * |----------------------|-------------|--------|-----|-----|
 * | PutVersion           | MaidManager | group  | yes | yes (ApplyPutVersion; Uf: VersionResult ->>>> MaidManager) |
 * | DeleteBranchTillFork | MaidManager | group  | yes | yes (ApplyDeleteBranchTillFork; Uf as above) |
 * | GetVersions          | client      | single | yes | no  (the tips, from this member's own state) |
 * | GetBranch            | client      | single | yes | no  (tip back to its root or orphan, likewise) |
 *
 * Unlike the DataManager, every mutation is decided only once the whole group agreed it: the
 * handler proposes, the agreed action runs the SDV rules (sdv.ts) and its answer is final.
 *
 * Account transfer on churn (SPEC.md 4): one record per SDV (records.ts).
 */
export const versionManagerPersona: PersonaDefinition<VersionManagerState> = {
  persona: 'version-manager',
  speaksAs: 'group',
  messages: [putVersion, deleteBranchTillFork, getVersions, getBranch],
  actions: [applyPutVersion, applyDeleteBranch],
  records: versionManagerRecords,
};
