import { message, reply } from '@safe/core';
import { type GetPmidHealth, getPmidHealthCodec, pmidHealthCodec } from '../messages.js';
import { pmidRank } from '../rank.js';
import type { PmidManagerState } from '../state.js';

/** GetPMIDHealth | MaidManager =>>>> | PmidManager: no firewall, no accumulation, answer every call; with the node's rank. */
export const getPmidHealth = message<GetPmidHealth, PmidManagerState>({
  type: 'GetPmidHealth',
  from: ['maid-manager'],
  accumulate: 'none',
  firewall: false,
  sync: false,
  payload: getPmidHealthCodec,
  async handle(msg, ctx) {
    const pmid = msg.destination.nae;
    const account = (await ctx.state.store.account(pmid)) ?? { offered: 0, stored: 0, lost: 0 };
    const health = pmidHealthCodec.encode({
      pmid,
      ...account,
      rank: pmidRank(account),
      client: msg.payload.client,
      origin: msg.payload.origin,
    });
    return { send: [{ ...reply(msg, 'PmidHealth', health), answers: undefined }] };
  },
});
