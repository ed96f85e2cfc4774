import { definePersona, type Name, type Outcome, type PersonaDefinition } from '@safe/core';
import { toPmidManager } from '@safe/messages';
import { del } from './handlers/delete.js';
import { get } from './handlers/get.js';
import { integrityCheck } from './handlers/integrity-check.js';
import { put } from './handlers/put.js';
import { sendAccount } from './handlers/send-account.js';
import { send } from './messages.js';
import type { PmidNodeState } from './state.js';

/**
 * PmidNode (SPEC.md 3.5): an entity persona; it speaks for itself, with its own signature. The
 * rows are declared once in @safe/messages (toPmidNode), which its senders send from too.
 *
 * | message     | from        | Ac    | Fw  | Sy |
 * |-------------|-------------|-------|-----|----|
 * | Put         | PmidManager | group | yes | no (a must-store copy may delete sacrificial ones for room) |
 * | Delete      | PmidManager | group | yes | no |
 * | Get         | DataManager | group | no  | no |
 * | SendAccount | PmidManager | group | yes | no (on rejoin: delete what is not listed; report what is missing or corrupt) |
 * | IntegrityCheck | DataManager | group | no | no (answers SHA-512(copy's bytes ‖ nonce), or that it lacks the copy) |
 *
 * Sends: PutResponse, Offer, Lost -> PmidManager (Lost: a copy SendAccount lists that the node lacks
 * or holds corrupt, or a sacrificial copy a Put of a must-store copy deleted to make room);
 * GetResponse, IntegrityAnswer => DataManager.
 */
export const pmidNodePersona: PersonaDefinition<PmidNodeState> = definePersona({
  persona: 'pmid-node',
  speaksAs: 'single',
  messages: [put, del, get, sendAccount, integrityCheck],
  actions: [],
});

/** On start-up a PmidNode tells its PmidManagers how much space it offers. */
export function offer(self: Uint8Array, capacity: number): Outcome {
  return {
    send: [send(toPmidManager.offer, { nae: self as Name, scope: 'close-group' }, { capacity })],
  };
}
