import { messageType } from '@safe/core';
import {
  DeleteSchema,
  GetResponseSchema,
  HolderLostSchema,
  IntegrityAnswerSchema,
  PutResponseSchema,
  PutSchema,
} from '@safe/proto/data_manager';
import { FarmingRateRefreshSchema } from '@safe/proto/farming_rate';
import { GetRequestSchema } from '@safe/proto/messages';

/**
 * The messages a DataManager receives (SPEC.md 3.3); NAE = a copy group's name. HolderLost and
 * HolderCorrupt share one payload (proto HolderLost): a holder no longer has its copy.
 *
 * | message            | from        | Ac     | Fw  | Sy  |
 * |--------------------|-------------|--------|-----|-----|
 * | Put                | MaidManager | group  | yes | yes |
 * | Delete             | MaidManager | group  | yes | yes |
 * | PutResponse        | PmidManager | group  | yes | yes |
 * | Get                | client      | single | no  | no  |
 * | GetResponse        | PmidNode    | single | no  | no  |
 * | HolderLost         | PmidManager | group  | yes | yes |
 * | IntegrityAnswer    | PmidNode    | single | no  | no  |
 * | HolderCorrupt      | DataManager | group  | yes | yes |
 * | FarmingRateRefresh | DataManager | single | no  | no  |
 */
export const toDataManager = {
  /** Store a copy (`unique`: Put<Unique>, refused for an existing chunk); the chunk travels as the content. */
  put: messageType(PutSchema, {
    type: 'Put',
    from: ['maid-manager'],
    to: 'data-manager',
    accumulate: 'group',
    firewall: true,
    sync: true,
    content: true,
    // CreateRecord or AddSubscriber, by the record: a concurrent Put's agreed CreateRecord changes it.
    redecides: true,
  }),
  /** One subscriber fewer. */
  delete: messageType(DeleteSchema, {
    type: 'Delete',
    from: ['maid-manager'],
    to: 'data-manager',
    accumulate: 'group',
    firewall: true,
    sync: true,
  }),
  /** A holder stored the copy, or could not: its PmidManagers' word. */
  putResponse: messageType(PutResponseSchema, {
    type: 'PutResponse',
    from: ['pmid-manager'],
    to: 'data-manager',
    accumulate: 'group',
    firewall: true,
    sync: true,
  }),
  /**
   * A client's read: one authenticated client, so not accumulated; not firewalled, a Get changes
   * nothing and its answer (the whole chunk) is never recorded to answer repeats with.
   */
  get: messageType(GetRequestSchema, {
    type: 'Get',
    from: ['client'],
    to: 'data-manager',
    accumulate: 'single',
    firewall: false,
    sync: false,
  }),
  /**
   * A holder's answer to Get: the chunk travels as the content (so no id hashes it, and its one
   * digest serves the check against its name), or an error with no content.
   */
  getResponse: messageType(GetResponseSchema, {
    type: 'GetResponse',
    from: ['pmid-node'],
    to: 'data-manager',
    accumulate: 'single',
    firewall: false,
    sync: false,
    content: true,
  }),
  /** The PmidNode lacks the copy, held it corrupt, or deleted it for room (`reason`). */
  holderLost: messageType(HolderLostSchema, {
    type: 'HolderLost',
    from: ['pmid-manager'],
    to: 'data-manager',
    accumulate: 'group',
    firewall: true,
    sync: true,
  }),
  /** A holder's SHA-512(content ‖ nonce), or that it lacks the copy. */
  integrityAnswer: messageType(IntegrityAnswerSchema, {
    type: 'IntegrityAnswer',
    from: ['pmid-node'],
    to: 'data-manager',
    accumulate: 'single',
    firewall: false,
    sync: false,
  }),
  /** An integrity verdict, from the copy group's members to the group itself. */
  holderCorrupt: messageType(HolderLostSchema, {
    type: 'HolderCorrupt',
    from: ['data-manager'],
    to: 'data-manager',
    accumulate: 'group',
    firewall: true,
    sync: true,
  }),
  /** A close peer's farming rate, node-scoped, each member speaking for itself. */
  farmingRateRefresh: messageType(FarmingRateRefreshSchema, {
    type: 'FarmingRateRefresh',
    from: ['data-manager'],
    to: 'data-manager',
    accumulate: 'single',
    firewall: false,
    sync: false,
  }),
};
