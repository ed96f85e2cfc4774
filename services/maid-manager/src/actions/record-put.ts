import { copyIndex, fromWireOrigin, isMustStore, MUST_STORE_COPIES } from '@safe/chunks';
import { AlreadyExistsError, action, answerClient, type GroupParameters, OutOfSpaceError, replyError, replyOk } from '@safe/core';
import { putReplyCodec, type RecordPut, recordPutCodec } from '../messages.js';
import type { MaidManagerState } from '../state.js';

/** A finished Put is remembered twice as long as the firewall remembers its messages: no late copy outlives that. */
const keepFinishedMs = (params: GroupParameters) => 2 * params.firewallMemoryMs;

const ALL_MUST_STORE = MUST_STORE_COPIES.reduce((bits, copy) => bits | (1 << copyIndex(copy)), 0);

/**
 * Agreed: a copy group's outcome. The client is charged, and answered, once every must-store
 * copy group confirmed — exactly once per request, however often confirmations repeat. A failed
 * must-store copy ends the Put with nothing charged. Sacrificial copies are only attempted.
 */
export const recordPut = action<RecordPut, MaidManagerState>({
  type: 'RecordPut',
  payload: recordPutCodec,
  async apply({ client, name, copy, cost, stored, error, origin, exists }, ctx) {
    const to = fromWireOrigin(origin);
    if (!isMustStore(copy) || to === undefined) return undefined;
    if (!stored) {
      const ended = await ctx.state.store.failPut(to.request, client);
      const why = exists
        ? new AlreadyExistsError(error || 'the chunk exists')
        : new OutOfSpaceError(error || 'the network could not store the chunk');
      if (!ended) return undefined;
      await ctx.state.store.pruneFinishedPuts(keepFinishedMs(ctx.params));
      return { send: [answerClient(to, replyError(why))] };
    }
    const charged = await ctx.state.store.confirmPut(to.request, client, name, 1 << copyIndex(copy), ALL_MUST_STORE, cost);
    if (!charged) return undefined;
    await ctx.state.store.pruneFinishedPuts(keepFinishedMs(ctx.params));
    return { send: [answerClient(to, replyOk(putReplyCodec.encode({ name, cost })))] };
  },
});
