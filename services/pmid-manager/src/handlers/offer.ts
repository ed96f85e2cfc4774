import { handles } from '@safe/core';
import { toPmidManager } from '@safe/messages';
import { recordOfferCodec } from '../messages.js';

/** Offer | PmidNode -> | [Ac, Fw] PmidManager [Sy]: the space the node offers the network. */
export const offer = handles(toPmidManager.offer, (msg) => {
  return {
    actions: [
      { type: 'RecordOffer', nae: msg.sender, payload: recordOfferCodec.encode({ pmid: msg.sender, capacity: msg.payload.capacity }) },
    ],
  };
});
