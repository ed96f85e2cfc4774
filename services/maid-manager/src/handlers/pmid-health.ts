import { message, nameEquals, WrongSourceError } from '@safe/core';
import { type PmidHealth, pmidHealthCodec, recordHealthCodec } from '../messages.js';
import type { MaidManagerState } from '../state.js';

/** The PmidManagers' answer to GetPMIDHealth: how much the client's vault offers. */
export const pmidHealth = message<PmidHealth, MaidManagerState>({
  type: 'PmidHealth',
  from: ['pmid-manager'],
  accumulate: 'group',
  firewall: true,
  sync: true,
  payload: pmidHealthCodec,
  handle(msg) {
    const { pmid, offered, client, origin } = msg.payload;
    if (!nameEquals(msg.source.nae, pmid)) throw new WrongSourceError('a PmidManager group answers only for its own PmidNode');
    return {
      actions: [{ type: 'RecordHealth', nae: msg.destination.nae, payload: recordHealthCodec.encode({ client, pmid, offered, origin }) }],
    };
  },
});
