import { fromWireOrigin, type WireOrigin } from '@safe/chunks';
import { answerClient, type Outbound, replyOk } from '@safe/core';
import { accountInfoCodec } from './messages.js';
import type { MaidManagerState } from './state.js';

/** Answers a client with its account as this replica now holds it. */
export async function answerWithAccount(
  state: MaidManagerState,
  client: Uint8Array,
  origin: WireOrigin | null | undefined,
): Promise<Outbound[]> {
  const to = fromWireOrigin(origin);
  const account = await state.store.account(client);
  if (to === undefined || account === undefined) return [];
  return [answerClient(to, replyOk(accountInfoCodec.encode(account)))];
}
