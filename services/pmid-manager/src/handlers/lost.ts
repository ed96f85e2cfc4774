import { ChunkCopy, LossReason } from '@safe/chunks';
import { type HandlerContext, handles, MalformedPayloadError, NOTHING, nameEquals, WrongSourceError } from '@safe/core';
import { toPmidManager } from '@safe/messages';
import { recordLostCodec } from '../messages.js';
import type { PmidManagerState } from '../state.js';

/**
 * Lost | PmidNode -> | [Ac, Fw] PmidManager [Sy] ->>>> DataManager: after a SendAccount the node
 * reports a listed copy it lacks or holds corrupt, or (DELETED_FOR_ROOM) a sacrificial copy it
 * deleted to store a must-store one (SPEC.md 3.3). Its own word is enough to count against it; a
 * copy not in its account changes nothing (a node cannot make DataManagers re-replicate at will),
 * and only a sacrificial copy may be given up for room.
 *
 * A copy deleted for room is the exception to the account check here: the node may give up a
 * sacrificial copy right after storing it, before its PutResponse is agreed, so the report is
 * agreed either way and the action decides (actions/record-lost.ts).
 */
export const lost = handles(toPmidManager.lost, async (msg, ctx: HandlerContext<PmidManagerState>) => {
  const pmid = msg.sender;
  if (!nameEquals(msg.destination.nae, pmid)) throw new WrongSourceError('a PmidNode reports losses to its own PmidManagers only');
  const { name, copy, reason } = msg.payload;
  if (reason === LossReason.DELETED_FOR_ROOM && copy !== ChunkCopy.SACRIFICIAL) {
    throw new MalformedPayloadError('only a sacrificial copy is deleted to make room');
  }
  if (reason !== LossReason.DELETED_FOR_ROOM && !(await ctx.state.store.holds(pmid, name, copy))) return NOTHING;
  return { actions: [{ type: 'RecordLost', nae: pmid, payload: recordLostCodec.encode({ pmid, name, copy, reason, report: msg.id }) }] };
});
