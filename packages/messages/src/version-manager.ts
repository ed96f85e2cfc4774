import { messageType } from '@safe/core';
import { GetBranchRequestSchema, GetVersionsRequestSchema } from '@safe/proto/messages';
import { DeleteBranchTillForkSchema, PutVersionSchema } from '@safe/proto/version_manager';

/** A mutation: from the owner's MaidManagers, who checked it; decided once the whole group agreed it. */
const mutation = { from: ['maid-manager'], to: 'version-manager', accumulate: 'group', firewall: true, sync: true } as const;
/** A read, from the member's own state: anyone who knows the SDV's name may ask. */
const read = { from: ['client'], to: 'version-manager', accumulate: 'single', firewall: true, sync: false } as const;

/**
 * The messages a VersionManager receives (SPEC.md 3.6); NAE = the SDV name, hash(data name ‖
 * type ‖ owner). Version indexes are full uint64, decimal strings (Version.index is JS_STRING).
 *
 * | message              | from        | Ac     | Fw  | Sy  |
 * |----------------------|-------------|--------|-----|-----|
 * | PutVersion           | MaidManager | group  | yes | yes |
 * | DeleteBranchTillFork | MaidManager | group  | yes | yes |
 * | GetVersions          | client      | single | yes | no  |
 * | GetBranch            | client      | single | yes | no  |
 */
export const toVersionManager = {
  putVersion: messageType(PutVersionSchema, { ...mutation, type: 'PutVersion' }),
  deleteBranchTillFork: messageType(DeleteBranchTillForkSchema, { ...mutation, type: 'DeleteBranchTillFork' }),
  getVersions: messageType(GetVersionsRequestSchema, { ...read, type: 'GetVersions' }),
  getBranch: messageType(GetBranchRequestSchema, { ...read, type: 'GetBranch' }),
};
