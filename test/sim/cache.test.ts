import { randomBytes } from 'node:crypto';
import { copyGroupName } from '@safe/chunks';
import { DEFAULT_GROUP_PARAMETERS, nameOf, ReplyStatus, sortByCloseness, toHex } from '@safe/core';
import { ChunkCopy } from '@safe/proto/messages';
import { afterEach, describe, expect, it } from 'vitest';
import { SimNet } from '../support/sim-network.js';

let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

/** Gets that reached a PmidNode, and the DataManagers' cache counters, so far. */
function observe(n: SimNet) {
  const dataManagers = n.sim.nodes('data-manager').map((node) => node.replica.cache.stats);
  return {
    holderGets: n.sim.log.filter((r) => r.envelope.type === 'Get' && r.envelope.destination.persona === 'pmid-node').length,
    dmHits: dataManagers.reduce((sum, s) => sum + s.hits, 0),
    dmInserts: dataManagers.reduce((sum, s) => sum + s.inserts, 0),
  };
}

describe('opportunistic caching on the Get path (SPEC.md 4)', () => {
  it('a second Get is answered from a cache, byte for byte, without asking a PmidNode again', async () => {
    net = await SimNet.start({ seed: 31, reorder: true, duplicateRate: 0.1 });
    net.sim.keepLog = true;
    const client = net.newClient();
    await net.setUpClient(client);
    const content = randomBytes(20_000);
    const name = nameOf(content);
    expect((await net.put(client, content)).status).toBe(ReplyStatus.OK);
    const entry = net.entry?.replica;
    if (entry === undefined) throw new Error('no entry');

    // First Get: a miss everywhere; a holder is asked, and the reply path keeps the chunk.
    const first = await net.get(client, name);
    expect(first.status).toBe(ReplyStatus.OK);
    expect(Buffer.from(net.decodeGet(first)).equals(content)).toBe(true);
    await net.sim.settle();
    const afterFirst = observe(net);
    expect(afterFirst.holderGets).toBeGreaterThan(0);
    expect(afterFirst.dmInserts).toBeGreaterThan(0);
    expect(entry.cache.stats).toMatchObject({ hits: 0, misses: 1, inserts: 1, entries: 1, bytes: content.length });

    // Second Get: the entry answers it from its cache; nothing goes to the network.
    const deliveredBefore = net.sim.log.length;
    const second = await net.get(client, name);
    expect(second.status).toBe(ReplyStatus.OK);
    expect(Buffer.from(net.decodeGet(second)).equals(content)).toBe(true);
    expect(entry.cache.stats.hits).toBe(1);
    await net.sim.settle();
    expect(net.sim.log.length).toBe(deliveredBefore);

    // Without the entry's copy, the DataManagers answer from theirs: still no PmidNode asked.
    entry.cache.evict(name);
    const third = await net.get(client, name);
    expect(Buffer.from(net.decodeGet(third)).equals(content)).toBe(true);
    await net.sim.settle();
    const afterThird = observe(net);
    expect(afterThird.dmHits).toBeGreaterThanOrEqual(net.sim.params.closeGroupSize - 1);
    expect(afterThird.holderGets).toBe(afterFirst.holderGets);
    expect(entry.cache.stats).toMatchObject({ hits: 1, misses: 2, inserts: 2 });
  });

  it('DataManagers that lost their copy still fetch from a holder while others answer from cache (Get to a PmidNode accumulates on 1)', async () => {
    net = await SimNet.start({ seed: 34, reorder: true, duplicateRate: 0.1 });
    net.sim.keepLog = true;
    const client = net.newClient();
    await net.setUpClient(client);
    const content = randomBytes(15_000);
    const name = nameOf(content);
    expect((await net.put(client, content)).status).toBe(ReplyStatus.OK);
    expect((await net.get(client, name)).status).toBe(ReplyStatus.OK);
    await net.sim.settle();
    // The Get goes to the PRIMARY copy group: its K closest DataManagers. Two keep the chunk, the
    // others lose it: fewer than K − 1 of them ask the holder.
    const k = net.sim.params.closeGroupSize;
    const dataManagers = net.sim.nodes('data-manager');
    const group = sortByCloseness(
      copyGroupName(name, ChunkCopy.PRIMARY),
      dataManagers.map((n) => n.info.name),
    )
      .slice(0, k)
      .map(toHex);
    const members = dataManagers.filter((n) => group.includes(toHex(n.info.name)));
    expect(members.every((n) => n.replica.cache.stats.entries > 0)).toBe(true);
    const forgetting = members.slice(2);
    for (const node of forgetting) node.replica.cache.evict(name);
    net.entry?.replica.cache.evict(name);
    const before = observe(net);

    const again = await net.get(client, name);
    expect(again.status).toBe(ReplyStatus.OK);
    expect(Buffer.from(net.decodeGet(again)).equals(content)).toBe(true);
    await net.sim.settle();
    expect(observe(net).holderGets).toBeGreaterThan(before.holderGets);
    // The holder answered the whole group: those that asked hold the chunk again.
    for (const node of forgetting) expect(node.replica.cache.stats.entries).toBeGreaterThan(0);
  });

  it("a client's Delete drops the entry's copy: the network, not the cache, says the chunk is gone", async () => {
    net = await SimNet.start({ seed: 32, reorder: true });
    const client = net.newClient();
    await net.setUpClient(client);
    const content = randomBytes(3000);
    const name = nameOf(content);
    expect((await net.put(client, content)).status).toBe(ReplyStatus.OK);
    expect((await net.get(client, name)).status).toBe(ReplyStatus.OK);
    expect(net.entry?.replica.cache.stats.entries).toBe(1);
    expect((await net.delete(client, name)).status).toBe(ReplyStatus.OK);
    expect(net.entry?.replica.cache.stats.entries).toBe(0);
    await net.sim.settle();
    expect((await net.get(client, name)).status).toBe(ReplyStatus.NOT_FOUND);
  });

  it('with SAFE_CACHE_BYTES=0 every Get goes to a holder', async () => {
    net = await SimNet.start({ seed: 33, params: { ...DEFAULT_GROUP_PARAMETERS, cacheBytes: 0 } });
    net.sim.keepLog = true;
    const client = net.newClient();
    await net.setUpClient(client);
    const content = randomBytes(2000);
    expect((await net.put(client, content)).status).toBe(ReplyStatus.OK);
    const holderGets = () => net?.sim.log.filter((r) => r.envelope.type === 'Get' && r.envelope.destination.persona === 'pmid-node').length;
    expect((await net.get(client, nameOf(content))).status).toBe(ReplyStatus.OK);
    await net.sim.settle();
    const once = holderGets() ?? 0;
    expect(once).toBeGreaterThan(0);
    expect((await net.get(client, nameOf(content))).status).toBe(ReplyStatus.OK);
    await net.sim.settle();
    expect(holderGets()).toBeGreaterThan(once);
    expect(net.sim.nodes().every((n) => n.replica.cache.stats.entries === 0)).toBe(true);
  });
});
