import { type ClientReplyValue, type Name, ReplyStatus, replyStatusName, toHex } from '@safe/core';
import { afterEach, describe, expect, it } from 'vitest';
import { recordsOf } from '../support/records-invariant.js';
import { SimNet } from '../support/sim-network.js';
import { SimSdv, version } from '../support/sim-versions.js';

let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

const said = (answer: ClientReplyValue | Error) =>
  answer instanceof Error ? `ERROR ${answer.message}` : `${replyStatusName(answer.status)} ${answer.message}`;

/** The SDV's bytes on each member that holds it (hex, by member). */
async function copiesOf(net: SimNet, sdv: SimSdv): Promise<string[]> {
  const held = (await recordsOf(net, 'version-manager')).get(`${toHex(sdv.name)}:`);
  return held === undefined ? [] : [...held.values.values()];
}

/** Every member holds the same SDV, and of two roots sent at once one is OK, the other refused. */
async function expectOneRoot(sdv: SimSdv, answers: (ClientReplyValue | Error)[]): Promise<void> {
  const copies = await copiesOf(net as SimNet, sdv);
  expect(copies).toHaveLength(4);
  expect(new Set(copies).size, 'members hold different SDVs').toBe(1);
  const shown = answers.map(said).sort();
  expect(shown[0]).toMatch(/^INVALID_ARGUMENT the SDV has a root already/);
  expect(shown[1]).toMatch(/^OK/);
}

async function start(seed: number): Promise<SimSdv> {
  net = await SimNet.start({ seed, reorder: true, duplicateRate: 0.1, counts: { 'version-manager': 6 } });
  const client = net.newClient();
  await net.setUpClient(client);
  return new SimSdv(net, client, 'concurrent.txt');
}

describe('concurrent mutations of one SDV, with Syncs in a different order on every member', () => {
  // Seeds 3 and 5 split the group (two members one root, two the other) when Syncs decided the order.
  it.each([1, 3, 5, 7])('two roots at once: one is the root on every member, the other refused (seed %i)', async (seed) => {
    const sdv = await start(seed);
    const answers = await (net as SimNet).concurrently([sdv.putRequest(null, version(0, 'a')), sdv.putRequest(null, version(0, 'b'))]);
    await expectOneRoot(sdv, answers);
  });

  // Seed 3 splits it without the order.
  it.each([2, 3, 5, 8])('two branches at once past maxBranches: the same one refused on every member (seed %i)', async (seed) => {
    const sdv = await start(seed);
    const [v0, v1] = [version(0, 'root'), version(1, 'trunk')];
    expect((await sdv.put(null, v0, { maxVersions: 0, maxBranches: 2 })).status).toBe(ReplyStatus.OK);
    expect((await sdv.put(v0, v1)).status).toBe(ReplyStatus.OK);
    const answers = await (net as SimNet).concurrently([sdv.putRequest(v0, version(1, 'x')), sdv.putRequest(v0, version(1, 'y'))]);
    const copies = await copiesOf(net as SimNet, sdv);
    expect(copies).toHaveLength(4);
    expect(new Set(copies).size, 'members hold different SDVs').toBe(1);
    const shown = answers.map(said).sort();
    expect(shown[0]).toMatch(/^OK/);
    expect(shown[1]).toMatch(/^RESOURCE_EXHAUSTED cannot exceed limit: 3 branches/);
    // What every member holds is what it answers: the tips of the one it kept.
    const tips = SimSdv.versions(await sdv.tips());
    expect(tips).toHaveLength(2);
  });

  it.each([3, 5])('two roots at once while a member of the SDV leaves and another joins (seed %i)', async (seed) => {
    const sdv = await start(seed);
    const sim = (net as SimNet).sim;
    const [first] = sim.routing.view('version-manager').closeGroup(sdv.name, sim.params.closeGroupSize);
    const answers = await (net as SimNet).concurrently(
      [sdv.putRequest(null, version(0, 'a')), sdv.putRequest(null, version(0, 'b'))],
      60_000,
      {
        steps: 40,
        run: async () => {
          await (net as SimNet).leave(first as Name);
          await (net as SimNet).add('version-manager');
        },
      },
    );
    await (net as SimNet).settleChurn();
    await expectOneRoot(sdv, answers);
  });
});
