import { randomBytes } from 'node:crypto';
import { copyGroupName } from '@safe/chunks';
import { nameOf, ReplyStatus, sortByCloseness, toHex } from '@safe/core';
import { type DataManagerState, groupFarmingRate } from '@safe/data-manager';
import { ChunkCopy } from '@safe/proto/messages';
import { afterEach, describe, expect, it } from 'vitest';
import { SimNet } from '../support/sim-network.js';

let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

describe('the farming rate moves with sacrificial copies (SPEC.md 3.3, linear policy)', () => {
  it('every DataManager ends at 1 + the sacrificial copy groups it keeps, and each group agrees on its median', async () => {
    net = await SimNet.start({ seed: 41, reorder: true, duplicateRate: 0.1 });
    const client = net.newClient();
    await net.setUpClient(client);
    const names = [];
    for (let i = 0; i < 8; i++) {
      const content = randomBytes(3000 + i);
      expect((await net.put(client, content)).status).toBe(ReplyStatus.OK);
      names.push(nameOf(content));
    }
    await net.sim.settle();

    const k = net.sim.params.closeGroupSize;
    const dataManagers = net.sim.nodes('data-manager');
    const all = dataManagers.map((node) => node.info.name);
    // Who keeps each chunk's sacrificial copy group: its K closest DataManagers.
    const keepers = names.map((name) => sortByCloseness(copyGroupName(name, ChunkCopy.SACRIFICIAL), all).slice(0, k).map(toHex));
    const rates = new Map<string, number>();
    for (const node of dataManagers) {
      const state = node.replica.state as DataManagerState;
      const { rate } = await state.store.farmingRate(state.config.farmingPolicy);
      const kept = keepers.filter((group) => group.includes(toHex(node.info.name))).length;
      expect(rate, `DataManager ${toHex(node.info.name).slice(0, 8)}`).toBe(1 + kept);
      rates.set(toHex(node.info.name), rate);
    }
    // Some DataManager kept at least one sacrificial group: the rate did move.
    expect(Math.max(...rates.values())).toBeGreaterThan(1);
    for (const group of keepers) {
      const median = groupFarmingRate(group.map((member) => rates.get(member) ?? 0));
      expect(median).toBeGreaterThan(1);
    }
  });
});
