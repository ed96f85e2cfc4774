import { CHUNK_COPIES, copyGroupName, fromWireOrigin } from '@safe/chunks';
import { action, answerClient, type Outbound, type Payload, parseName, replyOk } from '@safe/core';
import { toDataManager } from '@safe/messages';
import { deleteReplyCodec, recordDeleteCodec, send as sendTo } from '../messages.js';
import type { MaidManagerState } from '../state.js';

/**
 * Agreed: the client's Put loses a copy; only then do the DataManagers hear of it. The answer is
 * always success, and says whether the account held a claim on the chunk (a file of another account's: none).
 */
export const recordDelete = action<Payload<typeof recordDeleteCodec>, MaidManagerState>({
  type: 'RecordDelete',
  payload: recordDeleteCodec,
  async apply({ client, name, origin }, ctx) {
    const send: Outbound[] = [];
    const held = await ctx.state.store.deleteEntry(client, name);
    if (held) {
      const chunk = parseName(name, 'chunk name');
      for (const copy of CHUNK_COPIES) {
        send.push(sendTo(toDataManager.delete, { nae: copyGroupName(chunk, copy), scope: 'close-group' }, { name, copy }));
      }
    }
    const to = fromWireOrigin(origin);
    if (to !== undefined) send.push(answerClient(to, replyOk(deleteReplyCodec.encode({ held }))));
    return { send };
  },
});
