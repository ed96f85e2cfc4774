import { CHUNK_COPIES, checkChunk, copyGroupName, toWireOrigin } from '@safe/chunks';
import { FailedPreconditionError, type HandlerContext, handles, OutOfSpaceError, originOf, UnknownClientError } from '@safe/core';
import { toDataManager, toMaidManager } from '@safe/messages';
import { send } from '../messages.js';
import type { MaidManagerState } from '../state.js';

/**
 * Put<Data> | MaidNode =>>>> | [Ac, Fw] MaidManager [So] ->>>> DataManager (×3 copy groups).
 * Nothing is charged here: the charge is recorded, by sync, when the DataManagers confirm.
 * Put<Unique> is the same request, except that the DataManagers refuse a chunk that exists.
 */
function putRequest(row: typeof toMaidManager.put | typeof toMaidManager.putUnique, unique: boolean) {
  return handles(row, async (msg, ctx: HandlerContext<MaidManagerState>) => {
    const client = msg.sender;
    const account = await ctx.state.store.account(client);
    if (account === undefined) throw new UnknownClientError('unknown client: create an account first');
    const { content } = msg;
    const name = checkChunk(msg.payload.name, content);
    if (account.vaults.length === 0) throw new FailedPreconditionError('register a vault before storing data');
    if (content.length > account.available) {
      throw new OutOfSpaceError(`out of space: the chunk needs ${content.length} bytes, the account has ${account.available} left`);
    }
    const origin = originOf(msg);
    const context = { client, origin: origin ? toWireOrigin(origin) : null };
    return {
      send: CHUNK_COPIES.map((copy) =>
        send(toDataManager.put, { nae: copyGroupName(name, copy), scope: 'close-group', content }, { name, copy, context, unique }),
      ),
    };
  });
}

export const put = putRequest(toMaidManager.put, false);
export const putUnique = putRequest(toMaidManager.putUnique, true);
