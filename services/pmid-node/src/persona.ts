import type { Name, Outcome, PersonaDefinition } from '@safe/core';
import { del } from './handlers/delete.js';
import { get } from './handlers/get.js';
import { put } from './handlers/put.js';
import { offerCodec } from './messages.js';
import type { PmidNodeState } from './state.js';

/**
 * PmidNode (SPEC.md 3.5): an entity persona; it speaks for itself, with its own signature.
 *
 * | message | from         | Ac    | Fw  | Sy |
 * |---------|--------------|-------|-----|----|
 * | Put     | PmidManager  | group | yes | no |
 * | Delete  | PmidManager  | group | yes | no |
 * | Get     | DataManager  | group | no  | no |
 */
export const pmidNodePersona: PersonaDefinition<PmidNodeState> = {
  persona: 'pmid-node',
  speaksAs: 'single',
  messages: [put, del, get],
  actions: [],
};

/** On start-up a PmidNode tells its PmidManagers how much space it offers. */
export function offer(self: Uint8Array, capacity: number): Outcome {
  return {
    send: [
      { type: 'Offer', to: { persona: 'pmid-manager', nae: self as Name }, scope: 'close-group', payload: offerCodec.encode({ capacity }) },
    ],
  };
}
