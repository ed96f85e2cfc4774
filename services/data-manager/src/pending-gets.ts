import {
  answerClient,
  type ClientOrigin,
  type ClientReplyValue,
  type HandlerContext,
  type Name,
  type Outbound,
  replyError,
  sha512,
  toHex,
  UnavailableError,
} from '@safe/core';
import { askHolder, isLive } from './rules.js';
import type { DataManagerState, PendingGet } from './state.js';

const ROUND_TAG = new TextEncoder().encode('get-round');

/**
 * The Get a pending Get sends its current holder. Speaking for the chunk, with the Get's
 * correlation, so the members' copies of one ask share an id at the PmidNode (answered once, to
 * all), while an ask of a later round is a new message there, not a repeat it drops.
 */
function ask(pending: PendingGet): Outbound {
  return { ...askHolder(pending.current, pending.name), as: pending.name, correlation: pending.correlation };
}

/**
 * Starts a Get's round at the top live holder; `correlation` is the client request that started
 * the Get, or (a round that starts over) the one before it.
 */
export function startRound(
  ctx: HandlerContext<DataManagerState>,
  key: string,
  name: Name,
  live: readonly [Name, ...Name[]],
  waiting: ClientOrigin[],
  correlation: Uint8Array,
): Outbound {
  const [first, ...rest] = live;
  const pending: PendingGet = { name, waiting, current: first, remaining: rest, sentAt: ctx.now(), correlation };
  ctx.state.pendingGets.set(key, pending);
  return ask(pending);
}

/** The next live holder of the round not asked yet, asked now; undefined when every one was. */
export function askNext(ctx: HandlerContext<DataManagerState>, pending: PendingGet): Outbound | undefined {
  let next = pending.remaining.shift();
  while (next !== undefined && !isLive(ctx, next)) next = pending.remaining.shift();
  if (next === undefined) return undefined;
  pending.current = next;
  pending.sentAt = ctx.now();
  return ask(pending);
}

/** A round that asked every holder starts over from the top, as a new message to each. */
export function nextRound(pending: PendingGet): Uint8Array {
  return sha512(ROUND_TAG, pending.correlation);
}

/**
 * Ends a pending Get: `reply` to every client waiting on it, from the chunk's group (also on the
 * tick, which speaks for none), with the chunk as the replies' content when there is one.
 */
export function endGet(ctx: HandlerContext<DataManagerState>, key: string, reply: ClientReplyValue, content?: Uint8Array): Outbound[] {
  const pending = ctx.state.pendingGets.get(key);
  if (pending === undefined) return [];
  ctx.state.pendingGets.delete(key);
  return pending.waiting.map((origin) => answerClient(origin, reply, pending.name, content));
}

/**
 * A holder that has not answered within `getRetryMs` (alive in the view, but silent) is skipped
 * for the next one, on the tick, whether or not a client asks again; once every holder of the
 * round was asked, the waiting clients are told, not held until their deadline.
 */
export function expireGets(ctx: HandlerContext<DataManagerState>): Outbound[] {
  const send: Outbound[] = [];
  for (const [key, pending] of [...ctx.state.pendingGets]) {
    if (ctx.now() - pending.sentAt < ctx.state.config.getRetryMs) continue;
    const next = askNext(ctx, pending);
    if (next !== undefined) send.push(next);
    else
      send.push(
        ...endGet(ctx, key, replyError(new UnavailableError(`no holder of chunk ${toHex(pending.name).slice(0, 16)}… answered in time`))),
      );
  }
  return send;
}
