import { type Identity, type Name, ReplyStatus, toHex } from '@safe/core';
import { offer } from '@safe/pmid-node';
import { afterEach, describe, expect, it } from 'vitest';
import { SimNet } from '../support/sim-network.js';

const seed = Number(process.env.SAFE_VAULT_SHARES_SEED ?? 3);
const CAPACITY = 12 * 1024 * 1024;

let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

/** What each account may still store, as its MaidManagers answer it. */
async function available(net: SimNet, clients: readonly Identity[]): Promise<number[]> {
  const out: number[] = [];
  for (const client of clients) out.push((await net.account(client)).available);
  return out;
}

describe('accounts sharing one vault (issue 16: space promised never exceeds space offered)', () => {
  it(`each account is promised an equal share of the vault's offer, kept through PmidManager churn and offer changes (seed ${seed})`, async () => {
    net = await SimNet.start({ seed, counts: { 'pmid-node': 6 }, pmidCapacity: CAPACITY, reorder: true });
    const vault = net.sim.routing.view('pmid-node').names()[0] as Name;
    const clients = [net.newClient(), net.newClient(), net.newClient()];

    await net.setUpClient(clients[0] as Identity, vault);
    expect(await available(net, clients.slice(0, 1)), `seed ${seed}`).toEqual([CAPACITY]);

    // A second account on the same vault: both are promised half, the first told so without asking.
    await net.setUpClient(clients[1] as Identity, vault);
    await net.settleChurn();
    expect(await available(net, clients.slice(0, 2)), `seed ${seed}`).toEqual([CAPACITY / 2, CAPACITY / 2]);

    // What an account stored comes off its own share only.
    const content = net.sim.random.bytes(100_000);
    expect((await net.put(clients[0] as Identity, content)).status, `seed ${seed}`).toBe(ReplyStatus.OK);
    expect(await available(net, clients.slice(0, 2)), `seed ${seed}`).toEqual([CAPACITY / 2 - content.length, CAPACITY / 2]);

    // The vault's PmidManagers change: the newcomers learn who shares the vault by account transfer.
    for (let i = 0; i < 3; i++) await net.add('pmid-manager');
    await net.settleChurn();
    await net.setUpClient(clients[2] as Identity, vault);
    await net.settleChurn();
    const third = Math.floor(CAPACITY / 3);
    expect(await available(net, clients), `seed ${seed}`).toEqual([third - content.length, third, third]);

    // The node offers more: every account sharing it is told its new share.
    const node = net.sim.nodes('pmid-node').find((n) => toHex(n.info.name) === toHex(vault));
    await node?.replica.dispatch(offer(vault, 2 * CAPACITY));
    await net.settleChurn();
    const shares = await available(net, clients);
    expect(shares, `seed ${seed}`).toEqual([
      Math.floor((2 * CAPACITY) / 3) - content.length,
      ...Array(2).fill(Math.floor((2 * CAPACITY) / 3)),
    ]);
    expect(
      shares.reduce((sum, share) => sum + share, content.length),
      `seed ${seed}`,
    ).toBeLessThanOrEqual(2 * CAPACITY);
  }, 300_000);
});
