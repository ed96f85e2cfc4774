import { action, MalformedPayloadError, type Payload, parseName } from '@safe/core';
import { holdMessageCodec } from '../messages.js';
import type { MpidManagerState } from '../state.js';

/** Holds an admitted message for its recipient's node (not synced: the lists that admitted it are). */
export const holdMessage = action<Payload<typeof holdMessageCodec>, MpidManagerState>({
  type: 'HoldMessage',
  payload: holdMessageCodec,
  async apply({ recipient, message }, ctx) {
    if (message == null) throw new MalformedPayloadError('HoldMessage without its message');
    await ctx.state.store.hold(parseName(recipient, 'recipient'), message);
    return undefined;
  },
});
