import { messageType } from '@safe/core';
import {
  DeleteSchema,
  GetPmidHealthSchema,
  LoseSchema,
  LostSchema,
  OfferSchema,
  PutResponseSchema,
  PutSchema,
} from '@safe/proto/pmid_manager';

/**
 * The messages a PmidManager receives (SPEC.md 3.4); NAE = the PmidNode's name. Lose and Lost
 * differ in accumulation: Lose is a DataManager group's decision, Lost the node's own report.
 *
 * | message       | from        | Ac     | Fw  | Sy  |
 * |---------------|-------------|--------|-----|-----|
 * | Put           | DataManager | group  | yes | no  |
 * | PutResponse   | PmidNode    | single | yes | yes |
 * | Delete        | DataManager | group  | yes | yes |
 * | Lose          | DataManager | group  | yes | yes |
 * | GetPmidHealth | MaidManager | group  | no  | no  |
 * | Offer         | PmidNode    | single | yes | yes |
 * | Lost          | PmidNode    | single | yes | yes |
 */
export const toPmidManager = {
  /** Store a copy on the node (the chunk travels as the content); counted once the node confirms. */
  put: messageType(PutSchema, {
    type: 'Put',
    from: ['data-manager'],
    to: 'pmid-manager',
    accumulate: 'group',
    firewall: true,
    sync: false,
    content: true,
  }),
  /** The node's answer to Put: stored, or why not. */
  putResponse: messageType(PutResponseSchema, {
    type: 'PutResponse',
    from: ['pmid-node'],
    to: 'pmid-manager',
    accumulate: 'single',
    firewall: true,
    sync: true,
  }),
  delete: messageType(DeleteSchema, {
    type: 'Delete',
    from: ['data-manager'],
    to: 'pmid-manager',
    accumulate: 'group',
    firewall: true,
    sync: true,
  }),
  /** Delete on the node and count the copy in its lost total (it failed an integrity check). */
  lose: messageType(LoseSchema, {
    type: 'Lose',
    from: ['data-manager'],
    to: 'pmid-manager',
    accumulate: 'group',
    firewall: true,
    sync: true,
  }),
  /** The client's MaidManagers ask the client's share of the vault's offer, with the node's rank. */
  getPmidHealth: messageType(GetPmidHealthSchema, {
    type: 'GetPmidHealth',
    from: ['maid-manager'],
    to: 'pmid-manager',
    accumulate: 'group',
    firewall: false,
    sync: false,
  }),
  /** The space the node offers the network. */
  offer: messageType(OfferSchema, {
    type: 'Offer',
    from: ['pmid-node'],
    to: 'pmid-manager',
    accumulate: 'single',
    firewall: true,
    sync: true,
  }),
  /** The node lacks a listed copy, holds it corrupt, or deleted a sacrificial copy for room. */
  lost: messageType(LostSchema, {
    type: 'Lost',
    from: ['pmid-node'],
    to: 'pmid-manager',
    accumulate: 'single',
    firewall: true,
    sync: true,
  }),
};
