import { MPID_LIMITS } from '@safe/chunks';
import { action, type ClientReplyValue, replyOk, SafeError } from '@safe/core';
import { applyListChangeCodec, type ListChange, listsCodec, type MpidAccount } from '../messages.js';
import { answerOrigin, refusal, UnknownMpidError } from '../requests.js';
import type { MpidManagerState } from '../state.js';

/** The change's decision on `current`: the lists after it (adding a name twice or removing an absent one changes nothing). */
function decide(change: ListChange, current: MpidAccount | undefined): { next?: MpidAccount; result: ClientReplyValue } {
  try {
    if (current === undefined) throw new UnknownMpidError();
    const list = change.black ? current.black : current.white;
    const without = list.filter((entry) => entry !== change.entry);
    if (change.add && without.length === list.length && list.length >= MPID_LIMITS.listEntries) {
      throw new SafeError('resource-exhausted', `a list holds at most ${MPID_LIMITS.listEntries} names`);
    }
    const changed = change.add ? [...without, change.entry].sort() : without;
    const next = change.black ? { ...current, black: changed } : { ...current, white: changed };
    return { next, result: replyOk(listsCodec.encode({ white: next.white, black: next.black })) };
  } catch (error) {
    return { result: refusal(error) };
  }
}

/** Agreed: the owner's list change is written; the answer carries both lists as they are now. */
export const applyListChange = action<ListChange, MpidManagerState>({
  type: 'ApplyListChange',
  payload: applyListChangeCodec,
  async apply(change, ctx, nae) {
    const result = await ctx.state.store.updateAccount(nae, (current) => decide(change, current));
    return { send: answerOrigin(change.origin, result) };
  },
  // The change came inside a transferred account: applying it again to that account gives the answer the others gave.
  async owed(change, ctx, nae) {
    return { send: answerOrigin(change.origin, decide(change, await ctx.state.store.account(nae)).result) };
  },
});
