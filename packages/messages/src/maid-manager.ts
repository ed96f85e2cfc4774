import { messageType } from '@safe/core';
import { PmidHealthSchema, PutResponseSchema, VersionResultSchema } from '@safe/proto/maid_manager';
import {
  CreateAccountSchema,
  DeleteBranchTillForkRequestSchema,
  DeleteRequestSchema,
  GetAccountSchema,
  PutRequestSchema,
  PutVersionRequestSchema,
  VaultRegistrationSchema,
} from '@safe/proto/messages';

/** Every client message goes to the close group of the client's own name, its account. */
const fromClient = { from: ['client'], to: 'maid-manager', toOwnName: true, accumulate: 'single', firewall: true } as const;

/**
 * The messages a MaidManager receives (SPEC.md 3.2); NAE = the client's MAID name.
 *
 * | message              | from           | Ac     | Fw  | Sy  |
 * |----------------------|----------------|--------|-----|-----|
 * | CreateAccount        | client         | single | yes | yes |
 * | RegisterVault        | client         | single | yes | yes |
 * | Put                  | client         | single | yes | no  |
 * | PutUnique            | client         | single | yes | no  |
 * | Delete               | client         | single | yes | yes |
 * | GetAccount           | client         | single | yes | no  |
 * | PutResponse          | DataManager    | group  | yes | yes |
 * | PmidHealth           | PmidManager    | group  | yes | yes |
 * | PutVersion           | client         | single | yes | no  |
 * | DeleteBranchTillFork | client         | single | yes | no  |
 * | VersionResult        | VersionManager | group  | yes | no  |
 */
export const toMaidManager = {
  /** An anonymous account packet: creates the client's account. */
  createAccount: messageType(CreateAccountSchema, { ...fromClient, type: 'CreateAccount', sync: true }),
  /** A PmidNode joins the client's account, signed by both the MAID and the PMID keys. */
  registerVault: messageType(VaultRegistrationSchema, { ...fromClient, type: 'RegisterVault', sync: true }),
  /** The chunk travels as the message's content, its digest being the chunk's name. */
  put: messageType(PutRequestSchema, { ...fromClient, type: 'Put', sync: false, content: true }),
  /** As Put, but the DataManagers refuse a chunk that exists. */
  putUnique: messageType(PutRequestSchema, { ...fromClient, type: 'PutUnique', sync: false, content: true }),
  delete: messageType(DeleteRequestSchema, { ...fromClient, type: 'Delete', sync: true }),
  getAccount: messageType(GetAccountSchema, { ...fromClient, type: 'GetAccount', sync: false }),
  /** A copy group stored the chunk (with its cost), or failed: the charge is synced. */
  putResponse: messageType(PutResponseSchema, {
    type: 'PutResponse',
    from: ['data-manager'],
    to: 'maid-manager',
    accumulate: 'group',
    firewall: true,
    sync: true,
  }),
  /** The PmidManagers' answer to GetPMIDHealth, or a share of the vault changed. */
  pmidHealth: messageType(PmidHealthSchema, {
    type: 'PmidHealth',
    from: ['pmid-manager'],
    to: 'maid-manager',
    accumulate: 'group',
    firewall: true,
    sync: true,
  }),
  /** Owner and account checks, then on to the SDV's VersionManagers. */
  putVersion: messageType(PutVersionRequestSchema, { ...fromClient, type: 'PutVersion', sync: false }),
  deleteBranchTillFork: messageType(DeleteBranchTillForkRequestSchema, { ...fromClient, type: 'DeleteBranchTillFork', sync: false }),
  /** The VersionManagers' final answer, passed on to the client. */
  versionResult: messageType(VersionResultSchema, {
    type: 'VersionResult',
    from: ['version-manager'],
    to: 'maid-manager',
    accumulate: 'group',
    firewall: true,
    sync: false,
  }),
};
