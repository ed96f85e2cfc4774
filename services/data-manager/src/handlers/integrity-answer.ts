import { type HandlerContext, handles, MalformedPayloadError, NAME_BYTES, NOTHING } from '@safe/core';
import { toDataManager } from '@safe/messages';
import { answerCheck } from '../integrity/check.js';
import type { DataManagerState } from '../state.js';

/**
 * IntegrityAnswer | PmidNode => | DataManager: a holder's SHA-512(content ‖ nonce), or that it
 * lacks the copy (integrity/check.ts). Only the holder asked counts, once, for its check's nonce.
 */
export const integrityAnswer = handles(toDataManager.integrityAnswer, (msg, ctx: HandlerContext<DataManagerState>) => {
  const { nonce, held, digest } = msg.payload;
  if (nonce.length !== NAME_BYTES || digest.length !== (held ? NAME_BYTES : 0))
    throw new MalformedPayloadError('an IntegrityAnswer is a 64-byte nonce and a 64-byte digest, or none for a copy not held');
  const send = answerCheck(ctx, msg.sender, msg.payload);
  return send.length > 0 ? { send } : NOTHING;
});
