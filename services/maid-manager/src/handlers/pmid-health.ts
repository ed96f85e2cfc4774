import { handles, nameEquals, WrongSourceError } from '@safe/core';
import { toMaidManager } from '@safe/messages';
import { recordHealthCodec } from '../messages.js';

/** The PmidManagers' answer to GetPMIDHealth: how much the client's vault offers. */
export const pmidHealth = handles(toMaidManager.pmidHealth, (msg) => {
  const { pmid, offered, client, origin } = msg.payload;
  if (!nameEquals(msg.source.nae, pmid)) throw new WrongSourceError('a PmidManager group answers only for its own PmidNode');
  return {
    actions: [{ type: 'RecordHealth', nae: msg.destination.nae, payload: recordHealthCodec.encode({ client, pmid, offered, origin }) }],
  };
});
