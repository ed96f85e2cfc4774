import { answering, type HandlerContext, handles, parseName } from '@safe/core';
import { toDataManager, toPmidNode } from '@safe/messages';
import { send } from '../messages.js';
import type { PmidNodeState } from '../state.js';

/**
 * IntegrityCheck | DataManager => | [Ac] PmidNode (SPEC.md 3.3 Data integrity checks): the copy
 * group's DataManagers ask for SHA-512(content ‖ nonce); only a node holding the bytes can answer
 * for a nonce it never saw. Accumulated like Get (K − 1 members agree to ask); not firewalled:
 * the answer is 64 bytes and reading again changes nothing.
 */
export const integrityCheck = handles(toPmidNode.integrityCheck, async (msg, ctx: HandlerContext<PmidNodeState>) => {
  const name = parseName(msg.payload.name, 'chunk name');
  const { copy, nonce } = msg.payload;
  const digest = await ctx.state.chunks.digest(name, copy, nonce);
  const answer = { name, copy, nonce, held: digest !== undefined, digest: digest ?? new Uint8Array(0) };
  return { send: [send(toDataManager.integrityAnswer, answering(msg), answer)] };
});
