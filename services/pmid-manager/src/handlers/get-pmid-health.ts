import { answering, type HandlerContext, handles, nameEquals, parseName, WrongSourceError } from '@safe/core';
import { toMaidManager, toPmidManager } from '@safe/messages';
import { addVaultClient } from '../actions/add-vault-client.js';
import { addVaultClientCodec, send } from '../messages.js';
import type { PmidManagerState } from '../state.js';
import { healthPayload, tellShares } from '../vault-shares.js';

/**
 * GetPMIDHealth | MaidManager =>>>> | PmidManager: the client's MaidManager group asks what its
 * vault offers it, with the node's rank. The asking account joins those sharing the vault's
 * offer; the others are told their smaller share (vault-shares.ts).
 */
export const getPmidHealth = handles(toPmidManager.getPmidHealth, async (msg, ctx: HandlerContext<PmidManagerState>) => {
  const pmid = msg.destination.nae;
  const client = parseName(msg.payload.client, 'client');
  if (!nameEquals(client, msg.source.nae)) throw new WrongSourceError("a MaidManager group asks only for its own client's vault");
  const account = (await ctx.state.store.account(pmid)) ?? { offered: 0, stored: 0, lost: 0 };
  const known = await ctx.state.store.clients(pmid);
  const joins = !known.some((c) => nameEquals(c, client));
  const clients = joins ? [...known, client].sort(Buffer.compare) : known;
  const health = healthPayload(pmid, account, clients.length, client, msg.payload.origin);
  const answer = send(toMaidManager.pmidHealth, { ...answering(msg), answers: undefined }, health);
  if (!joins) return { send: [answer] };
  return {
    actions: [{ type: addVaultClient.type, nae: pmid, payload: addVaultClientCodec.encode({ pmid, client }) }],
    send: [answer, ...tellShares(pmid, account, clients, client)],
  };
});
