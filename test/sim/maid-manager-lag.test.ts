import { randomBytes } from 'node:crypto';
import { type Name, nameEquals, ReplyStatus, toHex } from '@safe/core';
import { afterEach, describe, expect, it } from 'vitest';
import { recordsOf } from '../support/records-invariant.js';
import { SimNet } from '../support/sim-network.js';

/**
 * Issue 16: a MaidManager that was down while its group agreed a charge. Its peers' Syncs go on
 * the direct path and are lost while it is down; the DataManagers' answers wait on the bus (Kafka
 * keeps them), so it proposes the charge once it is back, and only its peers can resolve it there.
 * Afterwards every member of the account's group holds the same account.
 */
let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

/** The client's account record on each member of its MaidManager group: value (hex) by member. */
async function accountOnMembers(sim: SimNet, client: Name): Promise<Map<string, string>> {
  const group = sim.sim.routing.view('maid-manager').closeGroup(client, sim.sim.params.closeGroupSize).map(toHex);
  const values = new Map(group.map((member) => [member, '(none)']));
  for (const held of (await recordsOf(sim, 'maid-manager')).values())
    if (nameEquals(held.nae, client)) for (const [member, value] of held.values) values.set(member, value);
  return values;
}

describe('a MaidManager member that missed its peers’ Syncs of a charge (down, then restarted)', () => {
  for (const seed of [3, 29]) {
    it(`ends with the same account as the rest of its group, charged once (seed ${seed})`, async () => {
      const sim = await SimNet.start({ seed, reorder: true });
      net = sim;
      const client = sim.newClient();
      await sim.setUpClient(client);
      const entry = sim.entry?.info.name;
      const members = sim.sim.routing.view('maid-manager').closeGroup(client.name, sim.sim.params.closeGroupSize);
      const down = members.find((m) => entry === undefined || !nameEquals(m, entry)) as Name;

      expect((await sim.put(client, randomBytes(1000))).status).toBe(ReplyStatus.OK);
      // Down: every Sync to it is lost; it restarts over its stores (no matrix change) mid-stream.
      const stopLosing = sim.sim.lose((e) => e.type === 'Sync' && nameEquals(e.destination.nae, down));
      const missed = await sim.put(client, randomBytes(2000));
      expect(missed.status, missed.message).toBe(ReplyStatus.OK);
      await sim.restart(down);
      stopLosing();
      expect((await sim.put(client, randomBytes(3000))).status).toBe(ReplyStatus.OK);

      // Time passes with the ticks a host's timer makes: resends, and what answers them.
      for (let tick = 0; tick < 10; tick++) {
        await sim.sim.tickAll();
        await sim.sim.settle({ maxIdleMs: 1_000 });
        sim.sim.clock.advance(1_000);
      }
      const values = await accountOnMembers(sim, client.name);
      expect(values.size).toBe(sim.sim.params.closeGroupSize);
      expect(new Set(values.values()).size, [...values].map(([m, v]) => `${m.slice(0, 8)}=${v.slice(0, 40)}`).join(' ')).toBe(1);
      expect((await sim.account(client)).stored).toBe(6000);
    }, 300_000);
  }
});
