import { message, reply, SafeError } from '@safe/core';
import { type PutPayload, putCodec, putResponseCodec } from '../messages.js';
import type { PmidNodeState } from '../state.js';

/** Put<Data> | PmidManager => | [Ac, Fw] PmidNode: store the copy, answer stored or why not. */
export const put = message<PutPayload, PmidNodeState>({
  type: 'Put',
  from: ['pmid-manager'],
  accumulate: 'group',
  firewall: true,
  sync: false,
  payload: putCodec,
  async handle(msg, ctx) {
    const { name, copy, content, context } = msg.payload;
    let error = '';
    try {
      await ctx.state.chunks.put(name, copy, content);
      ctx.state.account.stored(name, copy);
    } catch (e) {
      if (!(e instanceof SafeError) || e.kind === 'internal') throw e;
      error = e.message;
    }
    const answer = putResponseCodec.encode({ name, copy, stored: error === '', error, size: content.length, context });
    return { send: [reply(msg, 'PutResponse', answer)] };
  },
});
