import { message } from '@safe/core';
import { offerCodec, recordOfferCodec } from '../messages.js';
import type { PmidManagerState } from '../state.js';

/** Offer | PmidNode -> | [Ac, Fw] PmidManager [Sy]: the space the node offers the network. */
export const offer = message<{ capacity: number }, PmidManagerState>({
  type: 'Offer',
  from: ['pmid-node'],
  accumulate: 'single',
  firewall: true,
  sync: true,
  payload: offerCodec,
  handle(msg) {
    return {
      actions: [
        { type: 'RecordOffer', nae: msg.sender, payload: recordOfferCodec.encode({ pmid: msg.sender, capacity: msg.payload.capacity }) },
      ],
    };
  },
});
