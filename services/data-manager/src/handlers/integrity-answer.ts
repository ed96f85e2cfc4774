import { MalformedPayloadError, message, NAME_BYTES, NOTHING } from '@safe/core';
import { answerCheck } from '../integrity/check.js';
import { type IntegrityAnswer, integrityAnswerCodec } from '../messages.js';
import type { DataManagerState } from '../state.js';

/**
 * IntegrityAnswer | PmidNode => | DataManager: a holder's SHA-512(content ‖ nonce), or that it
 * lacks the copy (integrity/check.ts). Only the holder asked counts, once, for its check's nonce.
 */
export const integrityAnswer = message<IntegrityAnswer, DataManagerState>({
  type: 'IntegrityAnswer',
  from: ['pmid-node'],
  accumulate: 'single',
  firewall: false,
  sync: false,
  payload: integrityAnswerCodec,
  handle(msg, ctx) {
    const { nonce, held, digest } = msg.payload;
    if (nonce.length !== NAME_BYTES || digest.length !== (held ? NAME_BYTES : 0))
      throw new MalformedPayloadError('an IntegrityAnswer is a 64-byte nonce and a 64-byte digest, or none for a copy not held');
    const send = answerCheck(ctx, msg.sender, msg.payload);
    return send.length > 0 ? { send } : NOTHING;
  },
});
