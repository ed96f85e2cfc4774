import { randomBytes } from 'node:crypto';
import { MUST_STORE_COPIES } from '@safe/chunks';
import { type Name, nameOf, ReplyStatus, replyStatusName, toHex } from '@safe/core';
import type { DataManagerState } from '@safe/data-manager';
import { toMaidManager } from '@safe/messages';
import type { PmidNodeState } from '@safe/pmid-node';
import { ChunkCopy } from '@safe/proto/messages';
import { afterEach, describe, expect, it } from 'vitest';
import { SimNet } from '../support/sim-network.js';

let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

async function holdersSeenBy(net: SimNet, name: Name, copy: ChunkCopy) {
  const views = [];
  for (const node of net.dataManagersOf(name, copy)) {
    const state = node.replica.state as DataManagerState;
    const record = await state.store.record(name, copy);
    const holders = record ? await state.store.holders(record.id) : [];
    views.push({ subscribers: record?.subscribers ?? 0, holders: holders.map((h) => `${toHex(h.pmid).slice(0, 8)}:${h.state}`) });
  }
  return views;
}

describe('immutable data through four personas on the deterministic network', () => {
  it.each([1, 2, 3])('puts, gets and deletes with reordered and duplicated messages (seed %i)', async (seed) => {
    net = await SimNet.start({ seed, duplicateRate: 0.1, reorder: true });
    const client = net.newClient();
    await net.setUpClient(client);

    const contents = [randomBytes(1), randomBytes(1000), randomBytes(70_000)];
    for (const content of contents) {
      const reply = await net.put(client, content);
      expect(reply.status, reply.message).toBe(ReplyStatus.OK);
    }
    // A chunk holds at least one byte: an empty one is refused, and charged nothing (checked below).
    const empty = await net.put(client, new Uint8Array(0));
    expect([empty.status, empty.message]).toEqual([ReplyStatus.INVALID_ARGUMENT, 'a chunk holds at least one byte']);
    for (const content of contents) {
      const reply = await net.get(client, nameOf(content));
      expect(reply.status, reply.message).toBe(ReplyStatus.OK);
      expect(Buffer.from(net.decodeGet(reply)).equals(Buffer.from(content))).toBe(true);
    }

    const total = contents.reduce((sum, c) => sum + c.length, 0);
    const account = await net.account(client);
    expect(account.stored).toBe(total);
    expect(account.chunks).toBe(contents.length);

    // Every member of a copy group holds the same record: same holders, chosen identically.
    for (const content of contents) {
      for (const copy of MUST_STORE_COPIES) {
        const views = await holdersSeenBy(net, nameOf(content), copy);
        expect(views.length).toBe(net.sim.params.closeGroupSize);
        for (const view of views) expect(view).toEqual(views[0]);
        expect(views[0]?.holders.filter((h) => h.endsWith(':stored')).length).toBe(2);
      }
    }
  });

  it('answers a repeated Put from the firewall and charges once', async () => {
    net = await SimNet.start({ seed: 7, duplicateRate: 0.2 });
    const client = net.newClient();
    await net.setUpClient(client);
    const content = randomBytes(5000);
    const nonce = net.nonce();
    const first = await net.put(client, content, nonce);
    const again = await net.put(client, content, nonce);
    expect(first.status).toBe(ReplyStatus.OK);
    expect(again).toEqual(first);
    expect((await net.account(client)).stored).toBe(5000);

    // A new Put of the same chunk is cheap for the network (a subscriber) but still charged.
    expect((await net.put(client, content)).status).toBe(ReplyStatus.OK);
    expect((await net.account(client)).stored).toBe(10_000);
    const [view] = await holdersSeenBy(net, nameOf(content), ChunkCopy.PRIMARY);
    expect(view?.subscribers).toBe(2);
  });

  it('deletes a chunk from every holder once its last subscriber deletes it', async () => {
    net = await SimNet.start({ seed: 11, reorder: true });
    const client = net.newClient();
    await net.setUpClient(client);
    const content = randomBytes(3000);
    const name = nameOf(content);
    expect((await net.put(client, content)).status).toBe(ReplyStatus.OK);
    expect((await net.put(client, content)).status).toBe(ReplyStatus.OK);

    expect((await net.delete(client, name)).status).toBe(ReplyStatus.OK);
    expect((await net.account(client)).stored).toBe(3000);
    expect((await net.get(client, name)).status).toBe(ReplyStatus.OK);

    expect((await net.delete(client, name)).status).toBe(ReplyStatus.OK);
    expect((await net.account(client)).stored).toBe(0);
    // The MaidManagers answer once they agree; the DataManagers and holders follow.
    await net.sim.settle();
    expect((await net.get(client, name)).status).toBe(ReplyStatus.NOT_FOUND);
    for (const node of net.sim.nodes('pmid-node')) {
      const state = node.replica.state as PmidNodeState;
      for (const copy of [ChunkCopy.PRIMARY, ChunkCopy.BACKUP, ChunkCopy.SACRIFICIAL] as const)
        expect(await state.chunks.has(name, copy)).toBe(false);
    }
    // Delete always answers success, even for a name the client never stored.
    expect((await net.delete(client, nameOf(randomBytes(10)))).status).toBe(ReplyStatus.OK);
    expect((await net.account(client)).stored).toBe(0);
  });

  // Members apply holders' answers in different orders; whatever the order, every step must agree.
  it.each([20, 21, 22, 23, 24, 25])('keeps the whole life of a chunk consistent under seed %i', async (seed) => {
    net = await SimNet.start({ seed, reorder: true, duplicateRate: 0.15 });
    const client = net.newClient();
    await net.setUpClient(client);
    const content = randomBytes(3000);
    const name = nameOf(content);
    const statuses: string[] = [];
    for (const step of ['put', 'put', 'delete', 'get', 'delete', 'get'] as const) {
      const reply =
        step === 'put' ? await net.put(client, content) : step === 'get' ? await net.get(client, name) : await net.delete(client, name);
      statuses.push(`${step}:${replyStatusName(reply.status)}`);
      if (step === 'delete') await net.sim.settle();
    }
    expect(statuses).toEqual(['put:OK', 'put:OK', 'delete:OK', 'get:OK', 'delete:OK', 'get:NOT_FOUND']);
    expect((await net.account(client)).stored).toBe(0);
  });

  it('Put<Unique> stores a new chunk and refuses an existing one with nothing charged', async () => {
    net = await SimNet.start({ seed: 5, reorder: true, duplicateRate: 0.1 });
    const client = net.newClient();
    await net.setUpClient(client);
    const content = randomBytes(4000);
    expect((await net.put(client, content, net.nonce(), toMaidManager.putUnique)).status).toBe(ReplyStatus.OK);
    expect((await net.account(client)).stored).toBe(4000);

    const again = await net.put(client, content, net.nonce(), toMaidManager.putUnique);
    expect(again.status).toBe(ReplyStatus.ALREADY_EXISTS);
    expect((await net.account(client)).stored).toBe(4000);
    const [view] = await holdersSeenBy(net, nameOf(content), ChunkCopy.PRIMARY);
    expect(view?.subscribers).toBe(1);
  });
});
