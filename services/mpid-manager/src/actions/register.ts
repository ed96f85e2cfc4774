import { AlreadyExistsError, action, type ClientReplyValue, MalformedPayloadError, nameEquals, type Payload, replyOk } from '@safe/core';
import { applyRegisterCodec, type MpidAccount, mpidInfoCodec } from '../messages.js';
import { answerOrigin, refusal } from '../requests.js';
import type { MpidManagerState } from '../state.js';

type Params = Payload<typeof applyRegisterCodec>;

/** The registration's answer on `current`: a repeat by the same owner and key is OK, anyone else finds the name taken. */
function decide(account: MpidAccount, current: MpidAccount | undefined, nae: Uint8Array): { next?: MpidAccount; result: ClientReplyValue } {
  const ok = replyOk(mpidInfoCodec.encode({ name: account.name, mpid: nae }));
  if (current === undefined) return { next: account, result: ok };
  const same = nameEquals(current.owner, account.owner) && Buffer.from(current.publicKey).equals(account.publicKey);
  return { result: same ? ok : refusal(new AlreadyExistsError(`the public id ${account.name} is taken`)) };
}

function accountOf(params: Params): MpidAccount {
  if (params.account == null) throw new MalformedPayloadError('ApplyRegister without its account');
  return params.account;
}

/** Agreed: the public id is the client's unless someone registered it first. */
export const applyRegister = action<Params, MpidManagerState>({
  type: 'ApplyRegister',
  payload: applyRegisterCodec,
  async apply(params, ctx, nae) {
    const account = accountOf(params);
    const result = await ctx.state.store.updateAccount(nae, (current) => decide(account, current, nae));
    return { send: answerOrigin(params.origin, result) };
  },
  // The registration came inside a transferred account: the rules on it now answer as the others did.
  async owed(params, ctx, nae) {
    return { send: answerOrigin(params.origin, decide(accountOf(params), await ctx.state.store.account(nae), nae).result) };
  },
});
