import { CHUNK_COPIES, ChunkCopy, copyGroupName, LossReason } from '@safe/chunks';
import { handles, InvalidNameError, MalformedPayloadError, nameEquals, parseName, WrongSourceError } from '@safe/core';
import { toDataManager } from '@safe/messages';
import { holderLossCodec } from '../messages.js';

/**
 * HolderLost | PmidManager ->>>> | [Ac, Fw] DataManager [Sy]: the PmidNode reported on its rejoin
 * that it lacks the copy or held it corrupt (SendAccount → Lost), or that it deleted a sacrificial
 * copy to make room for a must-store one (reason DELETED_FOR_ROOM). Agreed, the holder stops
 * counting and the copy is stored again if that leaves it short (actions/mark-holder-lost.ts).
 */
export const holderLost = handles(toDataManager.holderLost, (msg) => {
  const { copy, reason } = msg.payload;
  if (!CHUNK_COPIES.includes(copy)) throw new MalformedPayloadError('a HolderLost names a primary, backup or sacrificial copy');
  if (reason === LossReason.DELETED_FOR_ROOM && copy !== ChunkCopy.SACRIFICIAL) {
    throw new MalformedPayloadError('only a sacrificial copy is deleted to make room');
  }
  const name = parseName(msg.payload.name, 'chunk name');
  const pmid = parseName(msg.payload.pmid, 'PmidNode name');
  if (!nameEquals(msg.source.nae, pmid)) throw new WrongSourceError('a PmidManager group reports losses of its own PmidNode only');
  if (!nameEquals(msg.destination.nae, copyGroupName(name, copy))) {
    throw new InvalidNameError('a HolderLost goes to the copy group of the chunk');
  }
  return {
    actions: [{ type: 'MarkHolderLost', nae: msg.destination.nae, payload: holderLossCodec.encode({ name, copy, pmid, reason }) }],
  };
});
