import { copyIndex } from '@safe/chunks';
import { type ChurnEvent, type HandlerContext, type Name, NOTHING, type Outbound, type Outcome, sha512 } from '@safe/core';
import { toPmidNode } from '@safe/messages';
import { type SendAccountBatch, send } from './messages.js';
import { type PmidAccountRecord, readPmidAccountRecord } from './records.js';
import type { PmidManagerState } from './state.js';

type AccountChunk = PmidAccountRecord['chunks'][number];

/**
 * SendAccount (SPEC.md 3.4, 3.5): the account of `pmid` as the batches every member of its
 * PmidManager group sends it. The chunks come sorted by (name, copy) and `round` covers the whole
 * list, so members holding the same account send byte-identical batches, which the PmidNode
 * accumulates one by one. An empty account is one empty batch: the node should hold nothing.
 */
export function sendAccountBatches(pmid: Name, chunks: readonly AccountChunk[], batchSize: number): Outbound[] {
  const size = new Uint8Array(4);
  const parts: Uint8Array[] = [pmid];
  for (const chunk of chunks) {
    new DataView(size.buffer).setUint32(0, chunk.size);
    parts.push(chunk.name, Uint8Array.of(copyIndex(chunk.copy)), size.slice());
  }
  const round = sha512(...parts);
  const batches = Math.max(1, Math.ceil(chunks.length / batchSize));
  return Array.from({ length: batches }, (_, batch) => {
    const payload: SendAccountBatch = { round, batch, batches, chunks: chunks.slice(batch * batchSize, (batch + 1) * batchSize) };
    return send(toPmidNode.sendAccount, { nae: pmid, scope: 'node', as: pmid }, payload);
  });
}

/**
 * A PmidNode this replica keeps an account for came (back) on line in the `pmid-node` view: send
 * it the copies it should hold. Deletes and Loses agreed while it was away already left the
 * account, so it deletes those itself and reports what it lacks (Lost).
 */
export async function sendAccountsOnRejoin(event: ChurnEvent, ctx: HandlerContext<PmidManagerState>): Promise<Outcome> {
  if (event.persona !== 'pmid-node') return NOTHING;
  const send: Outbound[] = [];
  for (const pmid of event.change.added) {
    if (!ctx.isResponsible(pmid)) continue;
    const account = await readPmidAccountRecord(ctx.state.store.db, pmid);
    if (account === undefined) continue;
    send.push(...sendAccountBatches(pmid, account.chunks, ctx.state.config.sendAccountBatch));
  }
  return { send };
}
