import {
  DEFAULT_GROUP_PARAMETERS,
  type GroupParameters,
  type Identity,
  type Name,
  nameOf,
  ReplyStatus,
  toHex,
  transferAgreement,
} from '@safe/core';
import { afterEach, describe, expect, it } from 'vitest';
import { checkRecordInvariant, MANAGER_PERSONAS, type ManagerPersona, recordsOf } from '../support/records-invariant.js';
import { SimNet } from '../support/sim-network.js';

// Small batches and a low per-tick limit, so account transfer has to drain over several ticks.
const params: GroupParameters = { ...DEFAULT_GROUP_PARAMETERS, transferBatchRecords: 3, transferBatchesPerTick: 2 };
const K = params.closeGroupSize;

let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

async function expectInvariant(net: SimNet, context: string): Promise<void> {
  const { violations } = await checkRecordInvariant(net);
  expect(violations, `${context}: ${violations.slice(0, 10).join('\n')}`).toEqual([]);
}

async function expectFiles(net: SimNet, client: Identity, files: readonly Uint8Array[], context: string): Promise<void> {
  for (const content of files) {
    const reply = await net.get(client, nameOf(content));
    expect(reply.status, `${context}: Get ${toHex(nameOf(content)).slice(0, 8)}: ${reply.message}`).toBe(ReplyStatus.OK);
    expect(
      Buffer.from(net.decodeGet(reply)).equals(Buffer.from(content)),
      `${context}: content of ${toHex(nameOf(content)).slice(0, 8)}`,
    ).toBe(true);
  }
}

const recordCounts = async (net: SimNet) =>
  Object.fromEntries(await Promise.all(MANAGER_PERSONAS.map(async (p) => [p, (await recordsOf(net, p)).size] as const)));

describe('account transfer on churn, on the deterministic network', () => {
  it('two DataManagers and a MaidManager join, a PmidManager leaves: every record ends on exactly its K closest replicas', async () => {
    net = await SimNet.start({ seed: 41, params, reorder: true, duplicateRate: 0.05 });
    const client = net.newClient();
    await net.setUpClient(client);
    const files = [1, 700, 5000, 20_000, 64].map((size) => net?.sim.random.bytes(size) as Uint8Array);
    for (const content of files) expect((await net.put(client, content)).status).toBe(ReplyStatus.OK);
    await net.settleChurn();
    const stored = (await net.account(client)).stored;
    expect(stored).toBe(files.reduce((sum, f) => sum + f.length, 0));
    await expectInvariant(net, 'before churn');
    const counts = await recordCounts(net);

    const steps: [string, () => Promise<unknown>][] = [
      ['DataManager joins', () => (net as SimNet).add('data-manager')],
      ['another DataManager joins', () => (net as SimNet).add('data-manager')],
      ['a MaidManager joins', () => (net as SimNet).add('maid-manager')],
      ['a PmidManager leaves', () => (net as SimNet).leave((net as SimNet).sim.nodes('pmid-manager')[2]?.info.name as Name)],
    ];
    let ticks = 0;
    for (const [what, step] of steps) {
      await step();
      ticks += await net.settleChurn();
      await expectInvariant(net, `after "${what}"`);
      // Nothing is lost, nothing is duplicated under another key.
      expect(await recordCounts(net), what).toEqual(counts);
    }
    // The limit of 2 batches of 3 records per tick made the transfer take more than one round.
    expect(ticks).toBeGreaterThan(0);
    // The DataManager newcomers were handed records (the invariant says they hold exactly their share).
    const chunkRecords = [...(await recordsOf(net, 'data-manager')).values()];
    for (const newcomer of net.sim.nodes('data-manager').slice(-2)) {
      expect(chunkRecords.filter((r) => r.values.has(toHex(newcomer.info.name))).length).toBeGreaterThan(0);
    }
    expect((await net.account(client)).stored).toBe(stored);
    await expectFiles(net, client, files, 'after churn');
    // And the network still works: a new Put is charged and retrievable.
    const more = net.sim.random.bytes(3000);
    expect((await net.put(client, more)).status).toBe(ReplyStatus.OK);
    expect((await net.account(client)).stored).toBe(stored + 3000);
    await expectFiles(net, client, [more], 'a Put after churn');
    await net.settleChurn();
    await expectInvariant(net, 'after a Put on the churned network');
  }, 600_000);

  const seed = Number(process.env.SAFE_CHURN_SEED ?? 7);
  it(`a seeded sequence of ~30 churn steps of every manager persona, Puts in between, keeps the invariant (seed ${seed})`, async () => {
    net = await SimNet.start({ seed, params, reorder: true, duplicateRate: 0.02 });
    const random = net.sim.random;
    const client = net.newClient();
    await net.setUpClient(client);
    const files: Uint8Array[] = [];
    const put = async (context: string) => {
      const content = random.bytes(1 + random.int(4000));
      const reply = await (net as SimNet).put(client, content);
      expect(reply.status, `seed ${seed}, ${context}: Put: ${reply.message}`).toBe(ReplyStatus.OK);
      files.push(content);
    };
    for (let i = 0; i < 3; i++) await put('setup');
    await net.settleChurn();
    await expectInvariant(net, `seed ${seed}, before churn`);

    // Simultaneous changes to one persona: at most K − 1, of which at most K − (K+1)/2 leaves
    // (each group keeps (K+1)/2 members that can vouch for its records).
    const maxLeaves = K - transferAgreement(params);
    const log: string[] = [];
    for (let step = 1; step <= 30; step++) {
      const persona = MANAGER_PERSONAS[random.int(MANAGER_PERSONAS.length)] as ManagerPersona;
      const events = 1 + (random.chance(0.3) ? random.int(K - 1) : 0);
      let leaves = 0;
      const done: string[] = [];
      for (let e = 0; e < events; e++) {
        const present = net.sim.nodes(persona);
        const canLeave = present.length - 1 >= K + 1 && leaves < maxLeaves;
        if (canLeave && random.chance(0.5)) {
          const candidates = present.filter((n) => n !== net?.entry);
          const leaving = candidates[random.int(candidates.length)];
          if (leaving === undefined) continue;
          await net.leave(leaving.info.name);
          leaves++;
          done.push(`-${toHex(leaving.info.name).slice(0, 6)}`);
        } else {
          const joined = await net.add(persona);
          done.push(`+${toHex(joined.info.name).slice(0, 6)}`);
        }
      }
      log.push(`${step}: ${persona} ${done.join(' ')}`);
      await net.settleChurn();
      await expectInvariant(net, `seed ${seed}, step ${log.at(-1)} (steps so far:\n${log.join('\n')})`);
      if (step % 2 === 0) {
        await put(`step ${step}`);
        await net.settleChurn();
      }
    }
    const total = files.reduce((sum, f) => sum + f.length, 0);
    expect((await net.account(client)).stored, `seed ${seed}: account`).toBe(total);
    await expectFiles(net, client, files, `seed ${seed}, after ${log.length} steps`);
  }, 900_000);
});
