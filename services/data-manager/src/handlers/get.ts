import { ChunkCopy } from '@safe/chunks';
import {
  answerClient,
  type HandlerContext,
  handles,
  InvalidNameError,
  NOTHING,
  NotFoundError,
  nameEquals,
  originOf,
  parseName,
  replyOk,
  toHex,
  UnavailableError,
} from '@safe/core';
import { toDataManager } from '@safe/messages';
import { askNext, nextRound, startRound } from '../pending-gets.js';
import { isLive } from '../rules.js';
import { copyKey, type DataManagerState } from '../state.js';

/**
 * Get<Data> | MaidNode =>>>> | DataManager [So] => live PmidNode. Not accumulated (one
 * authenticated client). Not firewalled either, unlike SPEC.md's [Fw]: a Get changes nothing, so
 * a repeat is simply answered again, and its answer (the whole chunk) is never recorded to answer
 * repeats with (that wrote every chunk a client read into every member's firewall store). Asks
 * the top live holder; the answer (GetResponse) moves on to the next holder if that one fails,
 * and so do a repeat and the tick once it has been silent for `getRetryMs` (pending-gets.ts).
 * Concurrent Gets of one chunk, a repeat included, share the fetch.
 */
export const get = handles(toDataManager.get, async (msg, ctx: HandlerContext<DataManagerState>) => {
  const name = parseName(msg.payload.name, 'chunk name');
  if (!nameEquals(msg.destination.nae, name)) throw new InvalidNameError('a Get goes to the close group of the chunk name');
  const origin = originOf(msg);
  if (origin === undefined) throw new InvalidNameError('a Get needs an entry node to answer to');
  const record = await ctx.state.store.record(name, ChunkCopy.PRIMARY);
  if (record === undefined)
    throw new NotFoundError(
      `no chunk ${msg.payload.name.length === 64 ? Buffer.from(name).toString('hex').slice(0, 16) : ''}… on the network`,
    );
  // SPEC.md 4 Caching: a chunk this member saw on an earlier Get's reply path is answered without asking a holder.
  const cached = ctx.cache.get(name);
  if (cached !== undefined) return { send: [answerClient(origin, replyOk(), undefined, cached)] };
  const holders = await ctx.state.store.holders(record.id);
  const live = holders.filter((h) => h.state === 'stored' && isLive(ctx, h.pmid)).map((h) => h.pmid);
  const [first, ...rest] = live;
  if (first === undefined) {
    // Holders chosen but none ever confirmed: the Put that recorded it never completed (a crash
    // lost its content on the way), so no one was told it is stored.
    if (holders.every((h) => h.state === 'pending')) throw new NotFoundError(`chunk ${toHex(name).slice(0, 16)}… was never stored`);
    throw new UnavailableError('no holder of the chunk is on line');
  }
  const key = copyKey(name, ChunkCopy.PRIMARY);
  const pending = ctx.state.pendingGets.get(key);
  if (pending === undefined) return { send: [startRound(ctx, key, name, [first, ...rest], [origin], origin.request)] };
  pending.waiting.push(origin);
  if (ctx.now() - pending.sentAt < ctx.state.config.getRetryMs) return NOTHING;
  // The holder asked has not answered in time (alive in the view, but silent): the next one not
  // asked yet, and only once every live holder was, the round starts over from the top.
  const next = askNext(ctx, pending) ?? startRound(ctx, key, name, [first, ...rest], pending.waiting, nextRound(pending));
  return { send: [next] };
});
