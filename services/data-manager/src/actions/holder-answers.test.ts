import { randomBytes } from 'node:crypto';
import type { PutContext } from '@safe/chunks';
import { ChunkCopy, LossReason } from '@safe/chunks';
import { DEFAULT_GROUP_PARAMETERS, type HandlerContext, type Name, nameOf, RoutingTable, silentLogger, toHex } from '@safe/core';
import { openPglite, type PgliteHost } from '@safe/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepOnTick } from '../churn/leftovers.js';
import { loadDataManagerConfig } from '../config.js';
import { chooseHolders } from '../rules.js';
import { copyKey, type DataManagerState, keepContent, openDataManagerState } from '../state.js';
import { LEFTOVER_MS, SWEEP_EVERY_MS } from '../tombstones.js';
import { addSubscriber } from './add-subscriber.js';
import { createRecord } from './create-record.js';
import { holderResult } from './holder-result.js';
import { markHolderLost } from './mark-holder-lost.js';

/**
 * The holders' answers to a copy's store (HolderResult), their losses (MarkHolderLost) and the
 * copy's own CreateRecord are synced one by one, so members of a copy group apply them in
 * different orders. Whatever the order, the members must end with the same holder list and
 * farming rate, and send the same messages (SPEC.md 3.3, 5a).
 */
let host: PgliteHost;
let schemas = 0;
beforeAll(async () => {
  host = await openPglite();
}, 60_000);
afterAll(() => host.close());

const pmids = Array.from({ length: 6 }, () => nameOf(randomBytes(8)));
const routing = new RoutingTable(pmids.map((name) => ({ persona: 'pmid-node' as const, name, publicKey: new Uint8Array(32) })));

async function replica(): Promise<HandlerContext<DataManagerState>> {
  const state = await openDataManagerState(host.database(`dm_holder_answers_${schemas++}`), loadDataManagerConfig({}));
  return {
    self: nameOf(randomBytes(8)),
    persona: 'data-manager',
    params: DEFAULT_GROUP_PARAMETERS,
    state,
    log: silentLogger,
    routing: () => routing,
    isResponsible: () => true,
    now: () => 1_000_000,
  } as unknown as HandlerContext<DataManagerState>;
}

const SIZE = 100;
const origin = { request: randomBytes(64), replyPersona: 'maid-manager', replyNode: nameOf(randomBytes(8)) };
const context: PutContext = { client: nameOf(randomBytes(8)), origin };

type Step = { record: true } | { answer: Name; stored: boolean } | { lost: Name };

/** A new chunk's copy on a fresh replica, the steps applied in the given order; what the replica sent, by step. */
async function play(chunk: Name, copy: ChunkCopy, steps: readonly Step[]) {
  const ctx = await replica();
  const holders = chooseHolders(ctx, chunk, copy, [], ctx.state.config.copiesPerGroup);
  keepContent(ctx.state, copyKey(chunk, copy), new Uint8Array(SIZE));
  const sent = [];
  for (const step of steps) {
    const outcome =
      'record' in step
        ? await createRecord.apply({ name: chunk, copy, size: SIZE, holders, context, createdBy: 7 }, ctx, chunk)
        : 'lost' in step
          ? await markHolderLost.apply({ name: chunk, copy, pmid: step.lost, reason: LossReason.DELETED_FOR_ROOM }, ctx, chunk)
          : await holderResult.apply({ name: chunk, copy, pmid: step.answer, stored: step.stored, context, size: SIZE }, ctx, chunk);
    sent.push(...(outcome?.send ?? []));
  }
  const record = await ctx.state.store.record(chunk, copy);
  const list = record ? (await ctx.state.store.holders(record.id)).map((h) => `${toHex(h.pmid).slice(0, 8)}:${h.state}`) : [];
  const { rate } = await ctx.state.store.farmingRate(ctx.state.config.farmingPolicy);
  const puts = sent
    .filter((out) => out.type === 'Put')
    .map((out) => ({ to: toHex(out.to.nae), correlation: out.correlation && toHex(out.correlation) }));
  return { holders, list, rate, puts };
}

describe('holders’ answers agreed in any order (SPEC.md 3.3 sacrificial copies)', () => {
  it('a copy deleted for room whose loss is agreed before the stored answer ends as where the loss came after', async () => {
    const chunk = nameOf(randomBytes(8));
    const [x, y] = chooseHolders(await replica(), chunk, ChunkCopy.SACRIFICIAL, [], 2) as [Name, Name];
    const orders: Step[][] = [
      [{ record: true }, { answer: x, stored: true }, { answer: y, stored: true }, { lost: x }],
      [{ record: true }, { answer: y, stored: true }, { lost: x }, { answer: x, stored: true }],
      [{ record: true }, { lost: x }, { answer: y, stored: true }, { answer: x, stored: true }],
      [{ lost: x }, { record: true }, { answer: y, stored: true }, { answer: x, stored: true }],
    ];
    const runs = [];
    for (const order of orders) runs.push(await play(chunk, ChunkCopy.SACRIFICIAL, order));
    const [first] = runs;
    expect(first?.list).toEqual([`${toHex(y).slice(0, 8)}:stored`, `${toHex(x).slice(0, 8)}:failed`]);
    for (const run of runs) expect({ list: run.list, rate: run.rate }).toEqual({ list: first?.list, rate: first?.rate });
  });

  it('two holders deleted for room in either order are listed alike', async () => {
    const chunk = nameOf(randomBytes(8));
    const [x, y] = chooseHolders(await replica(), chunk, ChunkCopy.SACRIFICIAL, [], 2) as [Name, Name];
    const stored: Step[] = [{ record: true }, { answer: x, stored: true }, { answer: y, stored: true }];
    const a = await play(chunk, ChunkCopy.SACRIFICIAL, [...stored, { lost: x }, { lost: y }]);
    const b = await play(chunk, ChunkCopy.SACRIFICIAL, [...stored, { lost: y }, { lost: x }]);
    expect(a.list.every((h) => h.endsWith(':failed'))).toBe(true);
    expect(b.list).toEqual(a.list);
  });

  it('a refusal agreed before the copy’s CreateRecord picks the same replacement, with the same Put, as where the record came first', async () => {
    const chunk = nameOf(randomBytes(8));
    const [x, y] = chooseHolders(await replica(), chunk, ChunkCopy.PRIMARY, [], 2) as [Name, Name];
    const recordFirst = await play(chunk, ChunkCopy.PRIMARY, [{ record: true }, { answer: y, stored: false }]);
    const answerFirst = await play(chunk, ChunkCopy.PRIMARY, [{ answer: y, stored: false }, { record: true }]);
    expect(recordFirst.puts).toHaveLength(1);
    expect(answerFirst.puts).toEqual(recordFirst.puts);
    expect(answerFirst.list).toEqual(recordFirst.list);
    expect(recordFirst.list).toContain(`${toHex(x).slice(0, 8)}:pending`);
  });

  it('two refusals in either order send each replacement the same Put (one message, so its K − 1 copies accumulate)', async () => {
    const chunk = nameOf(randomBytes(8));
    const [x, y] = chooseHolders(await replica(), chunk, ChunkCopy.PRIMARY, [], 2) as [Name, Name];
    const a = await play(chunk, ChunkCopy.PRIMARY, [{ record: true }, { answer: x, stored: false }, { answer: y, stored: false }]);
    const b = await play(chunk, ChunkCopy.PRIMARY, [{ record: true }, { answer: y, stored: false }, { answer: x, stored: false }]);
    expect(a.puts).toHaveLength(2);
    for (const put of a.puts) expect(put.correlation).toBeDefined();
    expect(b.puts).toEqual(a.puts);
    expect(b.list).toEqual(a.list);
  });

  it("a repair's answer after the copy's record was deleted does not bring the record back: the copy it stored is deleted", async () => {
    const ctx = await replica();
    const chunk = nameOf(randomBytes(8));
    const [x, y] = chooseHolders(ctx, chunk, ChunkCopy.PRIMARY, [], 2) as [Name, Name];
    await createRecord.apply({ name: chunk, copy: ChunkCopy.PRIMARY, size: SIZE, holders: [x], context, createdBy: 7 }, ctx, chunk);
    expect(await ctx.state.store.removeSubscriber(chunk, ChunkCopy.PRIMARY, 0)).toHaveLength(1);
    const stored = await holderResult.apply(
      { name: chunk, copy: ChunkCopy.PRIMARY, pmid: y, stored: true, context: null, size: SIZE },
      ctx,
      chunk,
    );
    expect(await ctx.state.store.record(chunk, ChunkCopy.PRIMARY)).toBeUndefined();
    expect(stored?.send?.map((out) => [out.type, out.to.persona, toHex(out.to.nae)])).toEqual([['Delete', 'pmid-manager', toHex(y)]]);
    const refused = await holderResult.apply(
      { name: chunk, copy: ChunkCopy.PRIMARY, pmid: y, stored: false, context: null, size: SIZE },
      ctx,
      chunk,
    );
    expect(refused?.send ?? []).toEqual([]);
    expect(await ctx.state.store.record(chunk, ChunkCopy.PRIMARY)).toBeUndefined();
  });

  it("a client Put's late answer after the copy was deleted makes a record with no subscriber, which goes once LEFTOVER_MS passed", async () => {
    const ctx = await replica();
    const chunk = nameOf(randomBytes(8));
    const [x, y] = chooseHolders(ctx, chunk, ChunkCopy.SACRIFICIAL, [], 2) as [Name, Name];
    await createRecord.apply({ name: chunk, copy: ChunkCopy.SACRIFICIAL, size: SIZE, holders: [x, y], context, createdBy: 7 }, ctx, chunk);
    await holderResult.apply({ name: chunk, copy: ChunkCopy.SACRIFICIAL, pmid: x, stored: true, context, size: SIZE }, ctx, chunk);
    expect(await ctx.state.store.removeSubscriber(chunk, ChunkCopy.SACRIFICIAL, ctx.now())).toHaveLength(2);
    // y's answer was on its way: it cannot tell this from an answer that overtook a new Put's record.
    await holderResult.apply({ name: chunk, copy: ChunkCopy.SACRIFICIAL, pmid: y, stored: true, context, size: SIZE }, ctx, chunk);
    expect((await ctx.state.store.record(chunk, ChunkCopy.SACRIFICIAL))?.subscribers).toBe(0);
    expect(await sweepOnTick(ctx)).toEqual([]);
    const later = { ...ctx, now: () => ctx.now() + LEFTOVER_MS + 1 };
    const sent = await sweepOnTick(later);
    expect(sent.map((out) => [out.type, out.to.persona, toHex(out.to.nae)])).toEqual([['Delete', 'pmid-manager', toHex(y)]]);
    expect(await ctx.state.store.record(chunk, ChunkCopy.SACRIFICIAL)).toBeUndefined();
  });

  it('a tick sweeps leftovers at most once per SWEEP_EVERY_MS: a replica at rest does not open a transaction every second', async () => {
    const ctx = await replica();
    const leftover = async () => {
      const chunk = nameOf(randomBytes(8));
      const [x, y] = chooseHolders(ctx, chunk, ChunkCopy.SACRIFICIAL, [], 2) as [Name, Name];
      await createRecord.apply(
        { name: chunk, copy: ChunkCopy.SACRIFICIAL, size: SIZE, holders: [x, y], context, createdBy: 7 },
        ctx,
        chunk,
      );
      await ctx.state.store.removeSubscriber(chunk, ChunkCopy.SACRIFICIAL, ctx.now());
      await holderResult.apply({ name: chunk, copy: ChunkCopy.SACRIFICIAL, pmid: y, stored: true, context, size: SIZE }, ctx, chunk);
      return chunk;
    };
    const first = await leftover();
    const at = (ms: number) => ({ ...ctx, now: () => ctx.now() + ms });
    expect(await sweepOnTick(at(LEFTOVER_MS + 1))).toHaveLength(1);
    expect(await ctx.state.store.record(first, ChunkCopy.SACRIFICIAL)).toBeUndefined();
    const second = await leftover();
    // Due (its tombstone is older than LEFTOVER_MS then), but the last sweep was less than SWEEP_EVERY_MS before.
    expect(await sweepOnTick(at(LEFTOVER_MS + 2))).toEqual([]);
    expect((await ctx.state.store.record(second, ChunkCopy.SACRIFICIAL))?.subscribers).toBe(0);
    expect(await sweepOnTick(at(LEFTOVER_MS + 1 + SWEEP_EVERY_MS))).toHaveLength(1);
    expect(await ctx.state.store.record(second, ChunkCopy.SACRIFICIAL)).toBeUndefined();
  });

  it('a record that came by account transfer owes the Put its answer: at once when the copy is stored, or when it is', async () => {
    const ctx = await replica();
    const chunk = nameOf(randomBytes(8));
    const [x, y] = chooseHolders(ctx, chunk, ChunkCopy.PRIMARY, [], 2) as [Name, Name];
    // The transferred record: x stored, y pending (what CreateRecord and x's answer made where they were applied).
    await ctx.state.store.createRecord(chunk, ChunkCopy.PRIMARY, SIZE, [x, y], 8, 7);
    await ctx.state.store.markHolder(chunk, ChunkCopy.PRIMARY, SIZE, x, 'stored', 8);
    const record = { name: chunk, copy: ChunkCopy.PRIMARY, size: SIZE, holders: [x, y], context, createdBy: 7 };
    expect((await createRecord.owed?.(record, ctx, chunk))?.send ?? []).toEqual([]);
    const stored = await holderResult.apply(
      { name: chunk, copy: ChunkCopy.PRIMARY, pmid: y, stored: true, context: null, size: SIZE },
      ctx,
      chunk,
    );
    const toMaidManagers = (sent: readonly { type: string; to: { persona: string } }[] | undefined) =>
      (sent ?? []).filter((out) => out.type === 'PutResponse' && out.to.persona === 'maid-manager');
    expect(toMaidManagers(stored?.send)).toHaveLength(1);
    // Now stored on both: another Put's transferred AddSubscriber is answered at once.
    const again = await addSubscriber.owed?.({ name: chunk, copy: ChunkCopy.PRIMARY, context }, ctx, chunk);
    expect(toMaidManagers(again?.send)).toHaveLength(1);
    expect((await ctx.state.store.record(chunk, ChunkCopy.PRIMARY))?.subscribers).toBe(1);
  });

  it("a concurrent Put's AddSubscriber agreed before the record it joins waits for it: both orders end with two subscribers, both Puts answered", async () => {
    const chunk = nameOf(randomBytes(8));
    const second: PutContext = { ...context, origin: { ...origin, request: randomBytes(64) } };
    const ends = [];
    for (const subscriberFirst of [false, true]) {
      const ctx = await replica();
      const holders = chooseHolders(ctx, chunk, ChunkCopy.PRIMARY, [], ctx.state.config.copiesPerGroup);
      const create = () =>
        createRecord.apply({ name: chunk, copy: ChunkCopy.PRIMARY, size: SIZE, holders, context, createdBy: 7 }, ctx, chunk);
      const subscribe = () => addSubscriber.apply({ name: chunk, copy: ChunkCopy.PRIMARY, context: second }, ctx, chunk);
      for (const step of subscriberFirst ? [subscribe, create] : [create, subscribe]) await step();
      let answered = 0;
      for (const pmid of holders) {
        const stored = await holderResult.apply(
          { name: chunk, copy: ChunkCopy.PRIMARY, pmid, stored: true, context, size: SIZE },
          ctx,
          chunk,
        );
        answered += (stored?.send ?? []).filter((out) => out.type === 'PutResponse' && out.to.persona === 'maid-manager').length;
      }
      ends.push({ subscribers: (await ctx.state.store.record(chunk, ChunkCopy.PRIMARY))?.subscribers, answered });
    }
    expect(ends[1]).toEqual(ends[0]);
    expect(ends[0]).toEqual({ subscribers: 2, answered: 2 });
  });

  it('a subscriber agreed ahead of a record that never came here (it came by account transfer) is not added to a later one', async () => {
    const ctx = await replica();
    const chunk = nameOf(randomBytes(8));
    const [x] = chooseHolders(ctx, chunk, ChunkCopy.PRIMARY, [], 1) as [Name];
    await addSubscriber.apply({ name: chunk, copy: ChunkCopy.PRIMARY, context }, ctx, chunk);
    const later = { ...ctx, now: () => ctx.now() + ctx.params.accumulatorMemoryMs + 1 };
    await createRecord.apply({ name: chunk, copy: ChunkCopy.PRIMARY, size: SIZE, holders: [x], context, createdBy: 7 }, later, chunk);
    expect((await ctx.state.store.record(chunk, ChunkCopy.PRIMARY))?.subscribers).toBe(1);
  });
});
