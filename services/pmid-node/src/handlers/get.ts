import { answering, type HandlerContext, handles, parseName, SafeError } from '@safe/core';
import { toDataManager, toPmidNode } from '@safe/messages';
import { send } from '../messages.js';
import type { PmidNodeState } from '../state.js';

/**
 * Get<Data> | DataManager => | [Ac on 1] PmidNode (SPEC.md 3.4): the first copy from a member of the
 * close group is answered, to the whole group; waiting for K − 1 would starve the fetch whenever
 * members answered the client from their cache. Not firewalled: a read changes nothing, and
 * recording 1 MiB answers for the firewall's memory would cost more than reading again.
 */
export const get = handles(toPmidNode.get, async (msg, ctx: HandlerContext<PmidNodeState>) => {
  const name = parseName(msg.payload.name, 'chunk name');
  const { copy } = msg.payload;
  let content: Uint8Array = new Uint8Array(0);
  let error = '';
  try {
    content = await ctx.state.chunks.get(name, copy);
  } catch (e) {
    if (!(e instanceof SafeError) || e.kind === 'internal') throw e;
    error = e.message;
  }
  // The chunk as the answer's content: the chunk store checked it against its name, and that digest names it.
  return { send: [send(toDataManager.getResponse, { ...answering(msg), content }, { name, copy, error })] };
});
