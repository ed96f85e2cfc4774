import { message, NOTHING, nameEquals, WrongSourceError } from '@safe/core';
import { type ChunkRef, lostCodec, recordLostCodec } from '../messages.js';
import type { PmidManagerState } from '../state.js';

/**
 * Lost | PmidNode -> | [Ac, Fw] PmidManager [Sy] ->>>> DataManager: after a SendAccount the node
 * reports a listed copy it lacks or holds corrupt. Its own word is enough to count against it; a
 * copy not in its account changes nothing (a node cannot make DataManagers re-replicate at will).
 */
export const lost = message<ChunkRef, PmidManagerState>({
  type: 'Lost',
  from: ['pmid-node'],
  accumulate: 'single',
  firewall: true,
  sync: true,
  payload: lostCodec,
  async handle(msg, ctx) {
    const pmid = msg.sender;
    if (!nameEquals(msg.destination.nae, pmid)) throw new WrongSourceError('a PmidNode reports losses to its own PmidManagers only');
    const { name, copy } = msg.payload;
    if (!(await ctx.state.store.holds(pmid, name, copy))) return NOTHING;
    return { actions: [{ type: 'RecordLost', nae: pmid, payload: recordLostCodec.encode({ pmid, name, copy }) }] };
  },
});
