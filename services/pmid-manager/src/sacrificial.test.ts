import { randomBytes } from 'node:crypto';
import { ChunkCopy, copyGroupName, LossReason } from '@safe/chunks';
import { DEFAULT_GROUP_PARAMETERS, type HandlerContext, type Incoming, MalformedPayloadError, type Name, nameOf, toHex } from '@safe/core';
import { toDataManager } from '@safe/messages';
import { openPglite, type PgliteHost } from '@safe/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordLost } from './actions/record-lost.js';
import { recordStored } from './actions/record-stored.js';
import { lost } from './handlers/lost.js';
import { put } from './handlers/put.js';
import { type NodeLost, type PutPayload, recordLostCodec } from './messages.js';
import { openPmidManagerState, type PmidManagerState } from './state.js';

let host: PgliteHost;
let state: PmidManagerState;
beforeAll(async () => {
  host = await openPglite();
  state = await openPmidManagerState(host.database('pm_sacrificial'));
}, 60_000);
afterAll(() => host.close());

let ctx: HandlerContext<PmidManagerState>;
beforeAll(() => {
  ctx = {
    self: nameOf(randomBytes(8)),
    state,
    params: DEFAULT_GROUP_PARAMETERS,
    isResponsible: () => true,
    now: () => 1_000_000,
  } as unknown as HandlerContext<PmidManagerState>;
});

/** A full node: 1000 offered, 300 + 200 bytes of sacrificial copies and 400 of a primary one stored. */
async function fullNode(): Promise<{ pmid: Name; sacrificial: Name[] }> {
  const pmid = nameOf(randomBytes(8));
  const sacrificial = [nameOf(randomBytes(8)), nameOf(randomBytes(8))];
  await state.store.recordOffer(pmid, 1000);
  await state.store.recordStored(pmid, sacrificial[0] as Name, ChunkCopy.SACRIFICIAL, 300);
  await state.store.recordStored(pmid, sacrificial[1] as Name, ChunkCopy.SACRIFICIAL, 200);
  await state.store.recordStored(pmid, nameOf(randomBytes(8)), ChunkCopy.PRIMARY, 400);
  return { pmid, sacrificial };
}

describe('sacrificial copies in a PmidNode account (SPEC.md 3.3)', () => {
  it('a must-store copy goes on to a full node its sacrificial copies can make room on; anything else is refused here', async () => {
    const { pmid } = await fullNode();
    expect(await state.store.sacrificialBytes(pmid)).toBe(500);
    const offer = async (copy: PutPayload['copy'], size: number) => {
      const payload = { name: nameOf(randomBytes(8)), copy, context: null };
      const to = { persona: 'pmid-manager' as const, nae: pmid };
      const outcome = await put.handle({ destination: to, payload, content: new Uint8Array(size) } as unknown as Incoming<PutPayload>, ctx);
      const [sent] = outcome.send ?? [];
      if (sent?.to.persona === 'pmid-node') return 'to the node';
      return toDataManager.putResponse.payload.decode(sent?.payload as Uint8Array).stored ? 'stored?' : 'refused';
    };
    expect(await offer(ChunkCopy.PRIMARY, 100)).toBe('to the node');
    expect(await offer(ChunkCopy.BACKUP, 600)).toBe('to the node');
    expect(await offer(ChunkCopy.BACKUP, 601)).toBe('refused');
    expect(await offer(ChunkCopy.SACRIFICIAL, 200)).toBe('refused');
    expect(await offer(ChunkCopy.SACRIFICIAL, 100)).toBe('to the node');
  });

  it('a sacrificial copy deleted for room leaves the account, not into the lost total, and its DataManagers hear why', async () => {
    const { pmid, sacrificial } = await fullNode();
    const [deleted] = sacrificial as [Name];
    const report = (payload: NodeLost) =>
      lost.handle({ sender: pmid, destination: { persona: 'pmid-manager', nae: pmid }, payload } as unknown as Incoming<NodeLost>, ctx);
    // Only a sacrificial copy is given up for room.
    await expect(report({ name: deleted, copy: ChunkCopy.PRIMARY, reason: LossReason.DELETED_FOR_ROOM })).rejects.toBeInstanceOf(
      MalformedPayloadError,
    );
    const outcome = await report({ name: deleted, copy: ChunkCopy.SACRIFICIAL, reason: LossReason.DELETED_FOR_ROOM });
    const [agreed] = outcome.actions ?? [];
    expect(recordLostCodec.decode(agreed?.payload as Uint8Array).reason).toBe(LossReason.DELETED_FOR_ROOM);

    const applied = await recordLost.apply(recordLostCodec.decode(agreed?.payload as Uint8Array), ctx, pmid);
    expect(await state.store.account(pmid)).toEqual({ offered: 1000, stored: 600, lost: 0 });
    expect(await state.store.holds(pmid, deleted, ChunkCopy.SACRIFICIAL)).toBe(false);
    const [told] = applied?.send ?? [];
    expect(told).toMatchObject({ type: 'HolderLost', scope: 'close-group', to: { persona: 'data-manager' } });
    expect(toHex(told?.to.nae as Name)).toBe(toHex(copyGroupName(deleted, ChunkCopy.SACRIFICIAL)));
    const holderLost = toDataManager.holderLost.payload.decode(told?.payload as Uint8Array);
    expect([toHex(holderLost.pmid), holderLost.copy, holderLost.reason]).toEqual([
      toHex(pmid),
      ChunkCopy.SACRIFICIAL,
      LossReason.DELETED_FOR_ROOM,
    ]);

    // A copy really lost still counts against the node.
    const [other] = sacrificial.slice(1) as [Name];
    const lostOne = await report({ name: other, copy: ChunkCopy.SACRIFICIAL, reason: LossReason.LOST });
    await recordLost.apply(recordLostCodec.decode(lostOne.actions?.[0]?.payload as Uint8Array), ctx, pmid);
    expect(await state.store.account(pmid)).toEqual({ offered: 1000, stored: 400, lost: 200 });
  });

  it('a copy deleted for room whose report is agreed before its store never enters the account, and its DataManagers hear the same as when it comes after', async () => {
    const { pmid } = await fullNode();
    const before = await state.store.account(pmid);
    const chunk = nameOf(randomBytes(8));
    const stored = { pmid, name: chunk, copy: ChunkCopy.SACRIFICIAL, size: 100, context: null };
    // The node stored the sacrificial copy and gave it up for a must-store one at once: its Lost is
    // agreed here before its PutResponse is, so the account does not hold the copy yet.
    const report = (id: Uint8Array) =>
      lost.handle(
        {
          id,
          sender: pmid,
          destination: { persona: 'pmid-manager', nae: pmid },
          payload: { name: chunk, copy: ChunkCopy.SACRIFICIAL, reason: LossReason.DELETED_FOR_ROOM },
        } as unknown as Incoming<NodeLost>,
        ctx,
      );
    const id = randomBytes(64);
    const [agreed] = (await report(id)).actions ?? [];
    expect(agreed?.type).toBe('RecordLost');
    expect(await recordLost.apply(recordLostCodec.decode(agreed?.payload as Uint8Array), ctx, pmid)).toBeUndefined();

    const applied = await recordStored.apply(stored, ctx, pmid);
    expect(await state.store.holds(pmid, chunk, ChunkCopy.SACRIFICIAL)).toBe(false);
    expect(await state.store.account(pmid)).toEqual(before);
    const [putResponse, holderLost] = applied?.send ?? [];
    expect(putResponse?.type).toBe('PutResponse');
    expect(toDataManager.putResponse.payload.decode(putResponse?.payload as Uint8Array).stored).toBe(true);
    expect(holderLost).toMatchObject({ type: 'HolderLost', to: { persona: 'data-manager' }, correlation: id });
    expect(toDataManager.holderLost.payload.decode(holderLost?.payload as Uint8Array).reason).toBe(LossReason.DELETED_FOR_ROOM);

    // A member that agreed the store first sends the same HolderLost when the loss comes: one message, K copies.
    const other = await openPmidManagerState(host.database('pm_sacrificial_other'));
    const otherCtx = { ...ctx, state: other } as HandlerContext<PmidManagerState>;
    await other.store.recordOffer(pmid, 1000);
    await recordStored.apply(stored, otherCtx, pmid);
    const second = await recordLost.apply(recordLostCodec.decode(agreed?.payload as Uint8Array), otherCtx, pmid);
    const wire = (out: typeof holderLost) =>
      out && { ...out, as: toHex(out.as as Name), correlation: toHex(out.correlation as Uint8Array) };
    expect(wire(second?.send?.[0])).toEqual(wire(holderLost));
    expect(await other.store.account(pmid)).toEqual({ offered: 1000, stored: 0, lost: 0 });

    // Only a copy given up for room is taken on the node's word before the account holds it.
    const lostOne = await lost.handle(
      {
        id: randomBytes(64),
        sender: pmid,
        destination: { persona: 'pmid-manager', nae: pmid },
        payload: { name: chunk, copy: ChunkCopy.SACRIFICIAL, reason: LossReason.LOST },
      } as unknown as Incoming<NodeLost>,
      ctx,
    );
    expect(lostOne.actions ?? []).toEqual([]);
  });
});
