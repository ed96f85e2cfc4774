import { CHUNK_COPIES, MUST_STORE_COPIES } from '@safe/chunks';
import { type Identity, type Name, nameOf, ReplyStatus, replyStatusName, toHex } from '@safe/core';
import { chunkRecordValueCodec, loadDataManagerConfig } from '@safe/data-manager';
import { afterEach, describe, expect, it } from 'vitest';
import { liveHolders, repairsInFlight, settleRepairs } from '../support/network-invariant.js';
import { checkRecordInvariant, recordsOf } from '../support/records-invariant.js';
import { SimNet } from '../support/sim-network.js';

const config = loadDataManagerConfig({});
const K = 4;
const seed = Number(process.env.SAFE_REREPLICATION_SEED ?? 5);

let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

/** Every DataManager record, as each member of its group holds it: holder lists, top first. */
async function holderLists(net: SimNet): Promise<{ nae: Name; key: Uint8Array; lists: Map<string, string[]> }[]> {
  return [...(await recordsOf(net, 'data-manager')).values()].map((held) => ({
    nae: held.nae,
    key: held.key,
    lists: new Map(
      [...held.values].map(([member, value]) => [
        member,
        value === '(gone)' ? [] : chunkRecordValueCodec.decode(Buffer.from(value, 'hex')).holders.map((h) => toHex(h.pmid)),
      ]),
    ),
  }));
}

/** SPEC.md 5a after every step: must-store copies on enough live PmidNodes, Gets exact, records bounded and agreed. */
async function expectSettled(net: SimNet, client: Identity, files: readonly Uint8Array[], context: string): Promise<void> {
  const problems: string[] = [];
  for (const content of files) {
    const name = nameOf(content);
    for (const copy of MUST_STORE_COPIES) {
      const on = await liveHolders(net, name, copy);
      if (on.length < config.copiesPerGroup) problems.push(`${toHex(name).slice(0, 8)}/${copy} on ${on.length} live PmidNodes`);
    }
    const reply = await net.get(client, name);
    if (reply.status !== ReplyStatus.OK) problems.push(`Get ${toHex(name).slice(0, 8)}: ${replyStatusName(reply.status)} ${reply.message}`);
    else if (!Buffer.from(net.decodeGet(reply)).equals(Buffer.from(content))) problems.push(`Get ${toHex(name).slice(0, 8)}: other bytes`);
  }
  for (const record of await holderLists(net)) {
    for (const [member, list] of record.lists) {
      if (list.length > config.maxHolders)
        problems.push(`record ${toHex(record.nae).slice(0, 8)} on ${member.slice(0, 8)}: ${list.length} holders`);
    }
  }
  // Holder lists are part of the record value: the invariant also says every member holds the same one.
  problems.push(...(await checkRecordInvariant(net)).violations);
  expect(problems, `seed ${seed}, ${context}:\n${problems.slice(0, 12).join('\n')}`).toEqual([]);
}

/** The live PmidNodes holding the most must-store copies of `files`, most first (ties by name). */
async function busiestHolders(net: SimNet, files: readonly Uint8Array[]): Promise<Name[]> {
  const counts = new Map<string, number>();
  for (const content of files) {
    for (const copy of MUST_STORE_COPIES) {
      for (const pmid of await liveHolders(net, nameOf(content), copy)) counts.set(toHex(pmid), (counts.get(toHex(pmid)) ?? 0) + 1);
    }
  }
  return [...counts]
    .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
    .map(([hex]) => net.sim.nodes('pmid-node').find((n) => toHex(n.info.name) === hex)?.info.name as Name);
}

/**
 * Up to `count` of the busiest holders, never all the PmidNodes that hold some copy of a chunk:
 * a chunk none of whose copies is on line anywhere cannot be stored again by anyone.
 */
async function leavers(net: SimNet, files: readonly Uint8Array[], count: number): Promise<Name[]> {
  const holders: Set<string>[] = [];
  for (const content of files) {
    const on = new Set<string>();
    for (const copy of CHUNK_COPIES) for (const pmid of await liveHolders(net, nameOf(content), copy)) on.add(toHex(pmid));
    holders.push(on);
  }
  const chosen: Name[] = [];
  for (const pmid of await busiestHolders(net, files)) {
    if (chosen.length === count) break;
    const gone = new Set([...chosen, pmid].map(toHex));
    if (holders.every((on) => [...on].some((p) => !gone.has(p)))) chosen.push(pmid);
  }
  return chosen;
}

describe('re-replication when PmidNodes leave (SPEC.md 3.3 Churn)', () => {
  it(`copies lost with departed PmidNodes are stored again on live ones, one and up to K − 1 at a time (seed ${seed})`, async () => {
    net = await SimNet.start({ seed, counts: { 'pmid-node': 14 }, reorder: true, duplicateRate: 0.02 });
    const client = net.newClient();
    await net.setUpClient(client);
    const files = Array.from({ length: 6 }, () => (net as SimNet).sim.random.bytes(1 + (net as SimNet).sim.random.int(3000)));
    for (const content of files) expect((await (net as SimNet).put(client, content)).status, `seed ${seed}: Put`).toBe(ReplyStatus.OK);
    await net.settleChurn();
    await expectSettled(net, client, files, 'before churn');

    const log: string[] = [];
    for (const leaving of [1, 1, 2, K - 1]) {
      const gone = await leavers(net, files, leaving);
      for (const pmid of gone) await net.leave(pmid);
      log.push(`-${gone.map((n) => toHex(n).slice(0, 6)).join(' -')}`);
      await settleRepairs(net);
      await expectSettled(net, client, files, `after ${log.join(', ')}`);
      // The departed holders stay in their records, below every live holder.
      for (const record of await holderLists(net)) {
        for (const list of record.lists.values()) {
          const live = list.map((hex) => net?.sim.routing.view('pmid-node').has(Buffer.from(hex, 'hex') as unknown as Name));
          expect(live.indexOf(false) === -1 || live.slice(live.indexOf(false)).every((l) => !l), `seed ${seed}: ${list.join(' ')}`).toBe(
            true,
          );
        }
      }
    }
  }, 900_000);

  it(`a PmidNode that comes back goes to the top of its chunks' holder lists (seed ${seed})`, async () => {
    net = await SimNet.start({ seed, counts: { 'pmid-node': 12 }, reorder: true });
    const client = net.newClient();
    await net.setUpClient(client);
    const files = Array.from({ length: 4 }, () => (net as SimNet).sim.random.bytes(1 + (net as SimNet).sim.random.int(3000)));
    for (const content of files) expect((await (net as SimNet).put(client, content)).status, `seed ${seed}: Put`).toBe(ReplyStatus.OK);
    await net.settleChurn();
    const [pmid] = await busiestHolders(net, files);
    const identity = net.identities.get(toHex(pmid as Name)) as Identity;
    await net.leave(pmid as Name);
    await settleRepairs(net);
    await expectSettled(net, client, files, 'after the holder left');
    // While it is away it is at the bottom of every list it is on.
    const away = (await holderLists(net)).flatMap((r) => [...r.lists.values()]).filter((l) => l.includes(toHex(pmid as Name)));
    expect(away.length, `seed ${seed}`).toBeGreaterThan(0);
    for (const list of away) expect(list.at(-1), `seed ${seed}: ${list.join(' ')}`).toBe(toHex(pmid as Name));

    await net.rejoin('pmid-node', identity);
    await settleRepairs(net);
    const back = (await holderLists(net)).flatMap((r) => [...r.lists.values()]).filter((l) => l.includes(toHex(pmid as Name)));
    expect(back.length, `seed ${seed}`).toBe(away.length);
    for (const list of back) expect(list[0], `seed ${seed}: ${list.join(' ')}`).toBe(toHex(pmid as Name));
    await expectSettled(net, client, files, 'after the holder came back');
  }, 900_000);

  it(`a holder leaves, then DataManagers join and leave again before the repair is done: every copy is repaired all the same (seed ${seed})`, async () => {
    net = await SimNet.start({ seed, counts: { 'pmid-node': 12 }, reorder: true });
    const client = net.newClient();
    await net.setUpClient(client);
    const files = Array.from({ length: 8 }, () => (net as SimNet).sim.random.bytes(1 + (net as SimNet).sim.random.int(3000)));
    for (const content of files) expect((await (net as SimNet).put(client, content)).status, `seed ${seed}: Put`).toBe(ReplyStatus.OK);
    await net.settleChurn();
    // As a StatefulSet scales: the newcomers never saw the holder on line, and the members they
    // push out of a copy group for a while must still repair it once they are back in.
    const [pmid] = await busiestHolders(net, files);
    await net.leave(pmid as Name);
    const joined = [await net.add('data-manager'), await net.add('data-manager')];
    await net.settleChurn();
    for (const node of joined.reverse()) await net.leave(node.info.name);
    // Replicas tick on their own in a running network: a repair waiting for the next one gets it.
    for (let tick = 0; tick < 3; tick++) {
      await net.sim.tickAll();
      await settleRepairs(net);
    }
    await expectSettled(net, client, files, 'after a holder left and DataManagers scaled up and down');
  }, 900_000);

  it(`PmidNodes flapping with one repair in flight at a time: never more in flight, every copy repaired, nothing left in flight (seed ${seed})`, async () => {
    const maxRepairs = 1;
    net = await SimNet.start({ seed, counts: { 'pmid-node': 12 }, reorder: true, duplicateRate: 0.02, dataManager: { maxRepairs } });
    const random = net.sim.random;
    const client = net.newClient();
    await net.setUpClient(client);
    const files = Array.from({ length: 5 }, () => random.bytes(1 + random.int(3000)));
    for (const content of files) expect((await (net as SimNet).put(client, content)).status, `seed ${seed}: Put`).toBe(ReplyStatus.OK);
    await net.settleChurn();
    const away: Identity[] = [];
    const log: string[] = [];
    let peak = 0;
    for (let step = 1; step <= 6; step++) {
      const done: string[] = [];
      // Some of the away nodes come back, then up to K − 1 of the busiest holders leave: one matrix change each.
      for (const identity of away.splice(0, random.int(away.length + 1))) {
        await net.rejoin('pmid-node', identity);
        done.push(`+${toHex(identity.name).slice(0, 6)}`);
      }
      for (const pmid of await leavers(net, files, 1 + random.int(K - 1))) {
        away.push(net.identities.get(toHex(pmid)) as Identity);
        await net.leave(pmid);
        done.push(`-${toHex(pmid).slice(0, 6)}`);
      }
      log.push(`${step}: ${done.join(' ')}`);
      // Never more than maxRepairs in flight on any DataManager, at any delivery.
      let most = 0;
      while (await net.sim.step()) most = Math.max(most, ...repairsInFlight(net));
      expect(most, `seed ${seed}, ${log.join('; ')}`).toBeLessThanOrEqual(maxRepairs);
      peak = Math.max(peak, most);
      await settleRepairs(net);
      await expectSettled(net, client, files, `steps ${log.join('; ')}`);
      // Every repair was answered: nothing left in flight to be repaired twice or to leak.
      expect(
        repairsInFlight(net).every((n) => n === 0),
        `seed ${seed}, ${log.join('; ')}`,
      ).toBe(true);
    }
  }, 900_000);
});
