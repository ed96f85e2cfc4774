import { messageType } from '@safe/core';
import { DeleteSchema, GetSchema, IntegrityCheckSchema, PutSchema, SendAccountSchema } from '@safe/proto/pmid_node';

/**
 * The messages a PmidNode receives (SPEC.md 3.5). It is an entity persona: a group of managers
 * speaks to the one node their NAE names.
 *
 * | message        | from        | Ac    | Fw  | Sy |
 * |----------------|-------------|-------|-----|----|
 * | Put            | PmidManager | group | yes | no |
 * | Delete         | PmidManager | group | yes | no |
 * | Get            | DataManager | first | no  | no |
 * | SendAccount    | PmidManager | group | yes | no |
 * | IntegrityCheck | DataManager | group | no  | no |
 */
export const toPmidNode = {
  /** Store the copy (the chunk travels as the message's content). */
  put: messageType(PutSchema, {
    type: 'Put',
    from: ['pmid-manager'],
    to: 'pmid-node',
    accumulate: 'group',
    firewall: true,
    sync: false,
    content: true,
  }),
  delete: messageType(DeleteSchema, {
    type: 'Delete',
    from: ['pmid-manager'],
    to: 'pmid-node',
    accumulate: 'group',
    firewall: true,
    sync: false,
  }),
  /**
   * The first copy from a member of the close group is answered, to the whole group; not
   * firewalled: a read changes nothing, and 1 MiB answers would cost the firewall more than a read.
   */
  get: messageType(GetSchema, {
    type: 'Get',
    from: ['data-manager'],
    to: 'pmid-node',
    accumulate: 'first',
    firewall: false,
    sync: false,
  }),
  /** On rejoin, what the node's account lists: it deletes the rest and reports what it lacks. */
  sendAccount: messageType(SendAccountSchema, {
    type: 'SendAccount',
    from: ['pmid-manager'],
    to: 'pmid-node',
    accumulate: 'group',
    firewall: true,
    sync: false,
  }),
  /** Answered with SHA-512(the copy's bytes ‖ nonce), or that the node lacks the copy. */
  integrityCheck: messageType(IntegrityCheckSchema, {
    type: 'IntegrityCheck',
    from: ['data-manager'],
    to: 'pmid-node',
    accumulate: 'group',
    firewall: false,
    sync: false,
  }),
};
