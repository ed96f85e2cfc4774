import { type Name, nameEquals, nameOf, protoCodec, ReplyStatus, sealClientRequest, toHex } from '@safe/core';
import type { DataManagerState } from '@safe/data-manager';
import { ChunkCopy, PutRequestSchema } from '@safe/proto/messages';
import { afterEach, describe, expect, it } from 'vitest';
import { recordsOf } from '../support/records-invariant.js';
import { SimNet } from '../support/sim-network.js';

/**
 * Issue 16: Puts of one chunk by one account that arrive before the first is resolved. The same
 * request twice (the client asking again while its group still decides) is one Put: charged once,
 * one subscriber. Two requests are two Puts (SPEC.md 3.2: the merge increments copies and cost;
 * test/sim/immutable-data.test.ts charges a second Put of a held chunk): charged as if one came
 * after the other, one subscriber each, and every MaidManager of the account holds the same record.
 */
const putRequestCodec = protoCodec(PutRequestSchema);

let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

async function subscribers(sim: SimNet, name: Name): Promise<number[]> {
  const counts: number[] = [];
  for (const node of sim.dataManagersOf(name, ChunkCopy.PRIMARY))
    counts.push((await (node.replica.state as DataManagerState).store.record(name, ChunkCopy.PRIMARY))?.subscribers ?? 0);
  return counts;
}

/** The client's account record on every member of its MaidManager group holds one value. */
async function expectOneAccount(sim: SimNet, client: Name): Promise<void> {
  const values = [...(await recordsOf(sim, 'maid-manager')).values()].filter((held) => nameEquals(held.nae, client));
  expect(values).toHaveLength(1);
  const byMember = values[0]?.values ?? new Map<string, string>();
  expect(byMember.size).toBe(sim.sim.params.closeGroupSize);
  expect(new Set(byMember.values()).size, [...byMember.keys()].map((m) => m.slice(0, 8)).join(' ')).toBe(1);
}

describe('concurrent Puts of one chunk by one account', () => {
  // Seed 13: DataManagers split two and two on the second Put (those that had applied the first's
  // CreateRecord voted AddSubscriber), until votes moved with the record (OpenDecisions).
  // Seed 10: a member agreed the AddSubscriber before the record it joins (subscribersAhead).
  for (const seed of (process.env.SAFE_CP_SEEDS ?? '5,7,10,13').split(',').map(Number)) {
    for (const how of ['one request sent twice', 'two requests'] as const) {
      it(`${how}: charged per Put, not per copy that arrived early (seed ${seed})`, async () => {
        const sim = await SimNet.start({ seed, reorder: true, duplicateRate: 0.1 });
        net = sim;
        const client = sim.newClient();
        await sim.setUpClient(client);
        // From the seed, as everything else: the chunk's name decides its groups, so a run replays.
        const content = sim.sim.random.bytes(4000);
        const name = nameOf(content);
        const seal = () =>
          sealClientRequest(
            client,
            'Put',
            { persona: 'maid-manager', nae: client.name },
            putRequestCodec.encode({ name, nonce: sim.nonce() }),
            content,
            sim.sim.clock.now(),
          );
        const first = seal();
        const puts = how === 'two requests' ? 2 : 1;
        const replies = await sim.concurrently([first, puts === 2 ? seal() : first]);
        for (const reply of replies) expect(reply instanceof Error ? reply.message : reply.status).toBe(ReplyStatus.OK);
        await sim.settleChurn();

        const account = await sim.account(client);
        expect([account.stored, account.chunks], toHex(name).slice(0, 8)).toEqual([puts * 4000, 1]);
        expect(await subscribers(sim, name)).toEqual(sim.dataManagersOf(name, ChunkCopy.PRIMARY).map(() => puts));
        await expectOneAccount(sim, client.name);
      }, 300_000);
    }
  }
});
