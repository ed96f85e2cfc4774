import { randomBytes } from 'node:crypto';
import {
  type ClientReplyValue,
  DeadlineExceededError,
  type Envelope,
  type HandlerContext,
  type Name,
  nameEquals,
  nameOf,
  protoCodec,
  ReplyStatus,
  toHex,
} from '@safe/core';
import type { SimNode } from '@safe/core/sim';
import type { DataManagerState } from '@safe/data-manager';
import { ChunkCopy } from '@safe/proto/messages';
import { GetSchema } from '@safe/proto/pmid_node';
import { afterEach, describe, expect, it } from 'vitest';
import { SimNet } from '../support/sim-network.js';

/**
 * Issue 16: a holder alive in the view that never answers a Get (its process hangs, or drops the
 * request). The DataManagers must move on to the next live holder not asked yet, not ask the silent
 * one again each time the client retries, and must not hold the client's call for ever.
 */
let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

const getCodec = protoCodec(GetSchema);

/** A client's call deadline: past the DataManagers' `getRetryMs`, as the SDK's (60 s) is. */
const CALL_MS = 10_000;

/** A network holding one stored chunk, and its primary copy's stored holders in record order. */
async function withChunk(seed: number): Promise<{ sim: SimNet; content: Uint8Array; name: Name; holders: Name[] }> {
  const sim = await SimNet.start({ seed, reorder: true });
  net = sim;
  const client = sim.newClient();
  await sim.setUpClient(client);
  const content = randomBytes(3000);
  const name = nameOf(content);
  expect((await sim.put(client, content)).status).toBe(ReplyStatus.OK);
  await sim.sim.settle();
  const [dm] = sim.dataManagersOf(name, ChunkCopy.PRIMARY);
  if (dm === undefined) throw new Error('no DataManager of the chunk');
  const state = (dm.replica.context as HandlerContext<DataManagerState>).state;
  const record = await state.store.record(name, ChunkCopy.PRIMARY);
  if (record === undefined) throw new Error('no record of the chunk');
  const holders = (await state.store.holders(record.id)).filter((h) => h.state === 'stored').map((h) => h.pmid);
  expect(holders.length).toBeGreaterThanOrEqual(2);
  return { sim, content, name, holders };
}

/** The DataManagers' Gets of `name` to PmidNodes: each asked holder (hex) is recorded; those to `silent` are lost. */
function silence(sim: SimNet, name: Name, silent: readonly Name[]): string[] {
  const asked: string[] = [];
  const isAsk = (e: Envelope) => {
    if (e.type !== 'Get' || e.source.persona !== 'data-manager' || e.destination.persona !== 'pmid-node') return false;
    const get = getCodec.decode(e.payload);
    return nameEquals(get.name, name) && get.copy === ChunkCopy.PRIMARY;
  };
  sim.sim.lose((e) => {
    if (!isAsk(e)) return false;
    asked.push(toHex(e.destination.nae));
    return silent.some((s) => nameEquals(s, e.destination.nae));
  });
  return asked;
}

const distinct = (names: readonly string[]) => [...new Set(names)];

describe('a Get whose top holder never answers (issue 16)', () => {
  it.each([1, 2, 3])('a client retrying the Get is answered by the next holder (seed %i)', async (seed) => {
    const { sim, content, name, holders } = await withChunk(seed);
    const [top] = holders as [Name];
    const asked = silence(sim, name, [top]);
    const client = sim.newClient();
    const request = sim.getRequest(client, name);

    // The first call waits on the silent holder until its deadline (nothing ticks here) ...
    await expect(sim.send(request, CALL_MS)).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(distinct(asked)).toEqual([toHex(top)]);
    // ... and the client sends the same envelope again, as the SDK does past its deadline.
    const reply = await sim.send(request, CALL_MS);
    expect(reply.status, reply.message).toBe(ReplyStatus.OK);
    expect(Buffer.from(sim.decodeGet(reply)).equals(Buffer.from(content))).toBe(true);
    // The second ask went to another holder, the next in the record.
    expect(distinct(asked)).toEqual([toHex(top), toHex(holders[1] as Name)]);
  });

  it('a pending Get moves on to the next holder by itself, without a client retry', async () => {
    const { sim, content, name, holders } = await withChunk(4);
    const asked = silence(sim, name, [holders[0] as Name]);
    const reply = await sim.callTicking(sim.getRequest(sim.newClient(), name), 60_000);
    expect(reply.status, reply.message).toBe(ReplyStatus.OK);
    expect(Buffer.from(sim.decodeGet(reply)).equals(Buffer.from(content))).toBe(true);
    expect(distinct(asked).slice(0, 2)).toEqual(holders.slice(0, 2).map(toHex));
  });

  it('members that move on at different ticks all take the answer of the next holder', async () => {
    const { sim, content, name, holders } = await withChunk(6);
    const asked = silence(sim, name, [holders[0] as Name]);
    let reply: ClientReplyValue | undefined;
    void sim.gateway.call(sim.getRequest(sim.newClient(), name), 60_000).then((r) => {
      reply = r;
    });
    await sim.sim.settle({ maxIdleMs: 0 });
    sim.sim.clock.advance(sim.dataManagerConfig.getRetryMs);
    // One member's tick comes first: it asks the next holder, which answers the first copy it gets,
    // to the whole group, before the other members' ticks send theirs (late there, so unanswered).
    const [first, ...others] = sim.dataManagersOf(name, ChunkCopy.PRIMARY) as [SimNode, ...SimNode[]];
    await first.replica.tick();
    await sim.sim.settle({ maxIdleMs: 0 });
    for (const dm of others) await dm.replica.tick();
    await sim.sim.settle({ maxIdleMs: 0 });
    expect(reply?.status, reply?.message).toBe(ReplyStatus.OK);
    expect(Buffer.from(sim.decodeGet(reply as ClientReplyValue)).equals(Buffer.from(content))).toBe(true);
    expect(distinct(asked)).toEqual(holders.slice(0, 2).map(toHex));
  });

  it('answers an error, before the client gives up, once every holder was asked and none answered', async () => {
    const { sim, name, holders } = await withChunk(5);
    const asked = silence(sim, name, holders);
    const before = sim.sim.clock.now();
    const reply = await sim.callTicking(sim.getRequest(sim.newClient(), name), 60_000);
    expect(reply.status, reply.message).toBe(ReplyStatus.UNAVAILABLE);
    expect(sim.sim.clock.now() - before).toBeLessThan(60_000);
    expect(distinct(asked).sort()).toEqual(holders.map(toHex).sort());
    // Nothing is left waiting in any DataManager.
    for (const dm of sim.dataManagersOf(name, ChunkCopy.PRIMARY))
      expect((dm.replica.context as HandlerContext<DataManagerState>).state.pendingGets.size).toBe(0);
  });
});
