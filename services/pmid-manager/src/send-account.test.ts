import { randomBytes } from 'node:crypto';
import { ChunkCopy, LossReason } from '@safe/chunks';
import { type HandlerContext, type Incoming, MatrixChange, nameOf, toHex } from '@safe/core';
import { openPglite, type PgliteHost } from '@safe/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPmidManagerConfig } from './config.js';
import { lost } from './handlers/lost.js';
import { type ChunkRef, type NodeLost, nodeSendAccountCodec, recordLostCodec } from './messages.js';
import { pmidRank, RankGauge } from './rank.js';
import { sendAccountBatches, sendAccountsOnRejoin } from './send-account.js';
import { openPmidManagerState, type PmidManagerState } from './state.js';

let host: PgliteHost;
let state: PmidManagerState;
beforeAll(async () => {
  host = await openPglite();
  state = await openPmidManagerState(host.database('pm_send_account'), { ...loadPmidManagerConfig({}), sendAccountBatch: 2 });
}, 60_000);
afterAll(() => host.close());

const ctx = (responsible: boolean) =>
  ({ self: nameOf(randomBytes(8)), state, isResponsible: () => responsible }) as unknown as HandlerContext<PmidManagerState>;

describe('SendAccount from the PmidManagers', () => {
  it('sends a PmidNode that comes back its account, in batches every member builds byte for byte', async () => {
    const pmid = nameOf(randomBytes(8));
    const stranger = nameOf(randomBytes(8));
    const names = Array.from({ length: 5 }, () => nameOf(randomBytes(8)));
    for (const name of names) await state.store.recordStored(pmid, name, ChunkCopy.PRIMARY, 10);
    const change = new MatrixChange(pmid, [], [pmid, stranger], 4);
    const outcome = await sendAccountsOnRejoin({ persona: 'pmid-node', change }, ctx(true));
    const sent = outcome.send ?? [];
    // Five copies, two per batch; nothing for a node with no account here.
    expect(sent).toHaveLength(3);
    const decoded = sent.map((s) => nodeSendAccountCodec.decode(s.payload));
    expect(decoded.map((d) => [d.batch, d.batches])).toEqual([
      [0, 3],
      [1, 3],
      [2, 3],
    ]);
    expect(new Set(decoded.map((d) => toHex(d.round))).size).toBe(1);
    expect(decoded.flatMap((d) => d.chunks.map((c) => toHex(c.name)))).toEqual(names.map(toHex).sort());
    for (const s of sent) expect(s).toMatchObject({ type: 'SendAccount', scope: 'node', to: { persona: 'pmid-node' } });
    // Same account, same bytes; one copy fewer, another round.
    const again = await sendAccountsOnRejoin({ persona: 'pmid-node', change }, ctx(true));
    expect(again.send?.map((s) => toHex(s.payload))).toEqual(sent.map((s) => toHex(s.payload)));
    const fewer = sendAccountBatches(pmid, decoded.flatMap((d) => d.chunks).slice(1), 2);
    expect(toHex(nodeSendAccountCodec.decode(fewer[0]?.payload as Uint8Array).round)).not.toBe(toHex(decoded[0]?.round as Uint8Array));
    // Not responsible, or churn in another persona: nothing.
    expect((await sendAccountsOnRejoin({ persona: 'pmid-node', change }, ctx(false))).send).toEqual([]);
    expect((await sendAccountsOnRejoin({ persona: 'data-manager', change }, ctx(true))).send ?? []).toEqual([]);
  });

  it('counts a Lost copy of the account, and ignores one the account does not list', async () => {
    const pmid = nameOf(randomBytes(8));
    const name = nameOf(randomBytes(8));
    await state.store.recordStored(pmid, name, ChunkCopy.BACKUP, 10);
    const report = (copy: ChunkRef) =>
      lost.handle(
        {
          sender: pmid,
          destination: { persona: 'pmid-manager', nae: pmid },
          payload: { ...copy, reason: LossReason.LOST },
        } as Incoming<NodeLost>,
        ctx(true),
      );
    expect(await report({ name, copy: ChunkCopy.PRIMARY })).toEqual({});
    const outcome = await report({ name, copy: ChunkCopy.BACKUP });
    expect(outcome.actions?.map((a) => recordLostCodec.decode(a.payload).copy)).toEqual([ChunkCopy.BACKUP]);
  });

  it('ranks a node by what it stores against what it loses', () => {
    expect(pmidRank({ stored: 0, lost: 0 })).toBe(1);
    expect(pmidRank({ stored: 300, lost: 100 })).toBe(0.75);
    expect(pmidRank({ stored: 0, lost: 5 })).toBe(0);
  });

  it('shows the rank of every account it keeps as safe_pmid_rank samples', async () => {
    const pmid = nameOf(randomBytes(8));
    const name = nameOf(randomBytes(8));
    await state.store.recordStored(pmid, name, ChunkCopy.PRIMARY, 30);
    await state.store.recordStored(pmid, nameOf(randomBytes(8)), ChunkCopy.PRIMARY, 10);
    await state.store.removeChunk(pmid, name, ChunkCopy.PRIMARY, true);
    const gauge = new RankGauge(state.store);
    await gauge.refresh();
    expect(gauge.collect()).toContainEqual({ labels: { pmid: toHex(pmid).slice(0, 16) }, value: 0.25 });
  });
});
