import { checkMpidText, mpidName } from '@safe/chunks';
import { message } from '@safe/core';
import { messageCodec, sendMessageCodec } from '../messages.js';
import { ownedMpid, wireOriginOf } from '../requests.js';
import { checkBody, checkMessageId } from '../rules.js';
import type { MpidManagerState } from '../state.js';

type SendMessage = { from: Uint8Array; to: string; id: Uint8Array; body: Uint8Array; sentAt: number };

/**
 * Message | MpidNode =>>>> | [Ac, Fw] the sender's MpidManager [So] =>>>> the recipient's
 * MpidManagers: the client owns the MPID it sends as; the answer comes back as MessageResult.
 */
export const sendMessage = message<SendMessage, MpidManagerState>({
  type: 'SendMessage',
  from: ['client'],
  accumulate: 'single',
  firewall: true,
  sync: false,
  payload: sendMessageCodec,
  async handle(msg, ctx) {
    const { from, to, id, body, sentAt } = msg.payload;
    checkMessageId(id);
    checkBody(body.length);
    const recipient = mpidName(checkMpidText(to, 'recipient'));
    const { nae, account } = await ownedMpid({ ...msg, payload: { mpid: from } }, ctx.state);
    const held = { sender: nae, from: account.name, id, sentAt, body };
    const payload = messageCodec.encode({ recipient, message: held, origin: wireOriginOf(msg) });
    return { send: [{ type: 'Message', to: { persona: 'mpid-manager', nae: recipient }, scope: 'close-group', payload }] };
  },
});
