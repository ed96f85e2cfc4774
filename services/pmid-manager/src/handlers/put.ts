import { isMustStore } from '@safe/chunks';
import { type HandlerContext, handles, type Name } from '@safe/core';
import { toPmidManager, toPmidNode } from '@safe/messages';
import { tellDataManagers } from '../answers.js';
import { send } from '../messages.js';
import type { PmidManagerState } from '../state.js';

/**
 * Put<Data> | DataManager ->>>> | [Ac, Fw] PmidManager [So] => PmidNode; counted once the node
 * confirms. A copy that cannot fit is refused here, without troubling the node; a must-store copy
 * counts the node's sacrificial copies as room, since the node deletes them for it (SPEC.md 3.3).
 */
export const put = handles(toPmidManager.put, async (msg, ctx: HandlerContext<PmidManagerState>) => {
  const pmid = msg.destination.nae as Name;
  const { name, copy, context } = msg.payload;
  const { content } = msg;
  const account = await ctx.state.store.account(pmid);
  if (account !== undefined && account.offered > 0 && account.stored + content.length > account.offered) {
    const reclaimable = isMustStore(copy) ? await ctx.state.store.sacrificialBytes(pmid) : 0;
    if (account.stored - reclaimable + content.length > account.offered) {
      return { send: [tellDataManagers(pmid, name, copy, false, 'PmidNode has no room for the chunk', context, content.length)] };
    }
  }
  return {
    send: [send(toPmidNode.put, { nae: pmid, scope: 'node', content }, msg.payload)],
  };
});
