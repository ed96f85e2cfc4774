import { clientRequest, type HandlerContext, type Name, nameOf, ReplyStatus } from '@safe/core';
import type { DataManagerState } from '@safe/data-manager';
import { toMaidManager } from '@safe/messages';
import { ChunkCopy } from '@safe/proto/messages';
import { afterEach, describe, expect, it } from 'vitest';
import { SimNet } from '../support/sim-network.js';

/**
 * A crash in the middle of a Put (issue 16: `kill -9` of the testnet): the DataManagers recorded
 * the chunk and its chosen holders, but the content never reached a PmidNode, and what the
 * DataManagers held in memory is gone. Nobody was told the Put succeeded, nobody was charged. A
 * Get must say the chunk is not there, and a later Put of the same chunk, from any account,
 * must store it, not wait forever on holders that will never confirm.
 */

let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

/** What a DataManager process forgets when it is killed: everything but its tables. */
function forgetMemory(state: DataManagerState): void {
  for (const map of [state.pendingContent, state.waiters, state.pendingGets, state.repairs, state.lostCopies, state.pendingSince]) {
    map.clear();
  }
  state.departed.clear();
}

async function storedHolders(sim: SimNet, name: Name): Promise<number[]> {
  const counts: number[] = [];
  for (const node of sim.dataManagersOf(name, ChunkCopy.PRIMARY)) {
    const { store } = (node.replica.context as HandlerContext<DataManagerState>).state;
    const record = await store.record(name, ChunkCopy.PRIMARY);
    counts.push(record === undefined ? -1 : (await store.holders(record.id)).filter((h) => h.state === 'stored').length);
  }
  return counts;
}

describe('a Put cut short by a crash before any holder stored it', () => {
  for (const seed of [5, 17, 23]) {
    it(`Get says not found, and a later Put of the chunk from another account stores it and is charged once (seed ${seed})`, async () => {
      const sim = await SimNet.start({ seed, reorder: true });
      net = sim;
      const [first, second] = [sim.newClient(), sim.newClient()];
      await sim.setUpClient(first);
      await sim.setUpClient(second);
      const before = [(await sim.account(first)).stored, (await sim.account(second)).stored];
      const content = sim.sim.random.bytes(3000);
      const name = nameOf(content);

      // The crash: the content on its way to the PmidManagers and PmidNodes is lost, the client gives up.
      const stopLosing = sim.sim.lose(
        (e) => e.type === 'Put' && (e.destination.persona === 'pmid-manager' || e.destination.persona === 'pmid-node'),
      );
      await expect(sim.put(first, content)).rejects.toThrow(/no agreed answer/);
      for (const node of sim.sim.nodes('data-manager')) forgetMemory((node.replica.context as HandlerContext<DataManagerState>).state);
      stopLosing();
      expect(await storedHolders(sim, name), 'recorded, never stored').toEqual(sim.dataManagersOf(name, ChunkCopy.PRIMARY).map(() => 0));

      const get = await sim.get(second, name);
      expect(get.status, get.message).toBe(ReplyStatus.NOT_FOUND);

      const put = clientRequest(toMaidManager.put, second.name, { name, nonce: sim.nonce() });
      const again = await sim.callTicking(sim.seal(second, put, content));
      expect(again.status, again.message).toBe(ReplyStatus.OK);
      await sim.settleChurn();
      const back = await sim.get(first, name);
      expect(back.status, back.message).toBe(ReplyStatus.OK);
      expect(Buffer.from(sim.decodeGet(back)).equals(Buffer.from(content))).toBe(true);
      expect([(await sim.account(first)).stored, (await sim.account(second)).stored]).toEqual([before[0], (before[1] ?? 0) + 3000]);
    }, 300_000);
  }
});
