import { copyGroupName } from '@safe/chunks';
import { handles, InvalidNameError, nameEquals, parseName } from '@safe/core';
import { toDataManager } from '@safe/messages';
import { loseHolder } from '../actions/lose-holder.js';
import { holderLossCodec } from '../messages.js';

/**
 * HolderCorrupt | DataManager ->>>> | [Ac, Fw] DataManager [Sy]: the verdict of an integrity check
 * (integrity/check.ts), sent by each member of the copy group to the group itself. It counts only
 * once K − 1 members reached the same verdict, and acts only once the group agrees (LoseHolder).
 */
export const holderCorrupt = handles(toDataManager.holderCorrupt, (msg) => {
  const name = parseName(msg.payload.name, 'chunk name');
  parseName(msg.payload.pmid, 'PmidNode name');
  const group = copyGroupName(name, msg.payload.copy);
  if (!nameEquals(msg.destination.nae, group) || !nameEquals(msg.source.nae, group))
    throw new InvalidNameError("an integrity verdict goes from a copy group's DataManagers to themselves");
  return { actions: [{ type: loseHolder.type, nae: group, payload: holderLossCodec.encode(msg.payload) }] };
});
