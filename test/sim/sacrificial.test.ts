import { CHUNK_COPIES, copyGroupName, copyName } from '@safe/chunks';
import { type HandlerContext, type Identity, type Name, nameOf, ReplyStatus, sortByCloseness, toHex } from '@safe/core';
import type { DataManagerState } from '@safe/data-manager';
import { type PmidManagerState, readPmidAccountRecord } from '@safe/pmid-manager';
import type { PmidNodeState } from '@safe/pmid-node';
import { ChunkCopy } from '@safe/proto/messages';
import { afterEach, describe, expect, it } from 'vitest';
import { checkRecordInvariant } from '../support/records-invariant.js';
import { SimNet } from '../support/sim-network.js';

/**
 * Seeds whose network fills so that a must-store copy deletes sacrificial ones (with many seeds the
 * client's account runs out of space first). Each found a race once: a node giving up a sacrificial
 * copy right after storing it (12, before a chunk's content travelled on one copy), a refusal agreed
 * before the copy's CreateRecord (5), two losses of one copy applied in different orders (3, and 11 once:
 * the failed holders are listed by name, in the store and in the record handed over).
 * SAFE_SACRIFICIAL_SEED runs one seed instead.
 */
const SEEDS = process.env.SAFE_SACRIFICIAL_SEED === undefined ? [3, 5, 1, 6] : [Number(process.env.SAFE_SACRIFICIAL_SEED)];
/** Every chunk is this big and every PmidNode has room for two: six PmidNodes are full after two chunks. */
const CHUNK = 2000;
const REPAIR_RETRY_MS = 1000;

let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

const short = (name: Uint8Array) => toHex(name).slice(0, 12);
const copyAt = (name: Uint8Array, copy: ChunkCopy, pmid: Uint8Array) => `${short(name)}.${copyName(copy)}@${short(pmid)}`;
const dmState = (node: { replica: { context: unknown } }) => (node.replica.context as HandlerContext<DataManagerState>).state;

/** Every copy on every PmidNode's disk, as `chunk.copy@pmid`. */
async function onDisk(net: SimNet): Promise<Set<string>> {
  const out = new Set<string>();
  for (const node of net.sim.nodes('pmid-node')) {
    for (const c of await (node.replica.state as PmidNodeState).chunks.list()) out.add(copyAt(c.name, c.copy, node.info.name));
  }
  return out;
}

/** Each member's holder list of the copy, top first, as `pmid:state`. */
async function holderLists(net: SimNet, name: Name, copy: ChunkCopy): Promise<string[][]> {
  return Promise.all(
    net.dataManagersOf(name, copy).map(async (dm) => {
      const { store } = dmState(dm);
      const record = await store.record(name, copy);
      return record ? (await store.holders(record.id)).map((h) => `${short(h.pmid)}:${h.state}`) : [];
    }),
  );
}

/** The copy's stored holders, once every member of its group lists the same holders alike. */
async function storedHolders(net: SimNet, name: Name, copy: ChunkCopy): Promise<string[]> {
  const lists = await holderLists(net, name, copy);
  for (const list of lists) expect(list).toEqual(lists[0]);
  return (lists[0] ?? []).filter((h) => h.endsWith(':stored')).map((h) => h.split(':')[0] as string);
}

/**
 * What every PmidManager of every PmidNode has in the node's account, as `chunk.copy@pmid`, after
 * checking the members agree, the node lost nothing and its stored total is the sum of its chunks.
 */
async function accounted(net: SimNet): Promise<Set<string>> {
  const out = new Set<string>();
  for (const node of net.sim.nodes('pmid-node')) {
    const pmid = node.info.name;
    const group = net.sim.routing.view('pmid-manager').closeGroup(pmid, net.sim.params.closeGroupSize);
    const accounts = await Promise.all(
      group.map((member) => {
        const manager = net.sim.node(member);
        if (manager === undefined) throw new Error('PmidManager not on line');
        return readPmidAccountRecord((manager.replica.state as PmidManagerState).store.db, pmid);
      }),
    );
    const [first] = accounts;
    for (const account of accounts) {
      expect(account).toEqual(first);
      expect(account?.lost).toBe(0);
      expect(account?.stored).toBe((account?.chunks ?? []).reduce((sum, c) => sum + c.size, 0));
    }
    for (const c of first?.chunks ?? []) out.add(copyAt(c.name, c.copy, pmid));
  }
  return out;
}

/** Every DataManager's farming rate, by name. */
async function rates(net: SimNet): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const node of net.sim.nodes('data-manager')) {
    const { store, config } = dmState(node);
    out.set(toHex(node.info.name), (await store.farmingRate(config.farmingPolicy)).rate);
  }
  return out;
}

/** The DataManagers that keep a chunk's sacrificial copy group. */
function keepers(net: SimNet, name: Name): string[] {
  const all = net.sim.nodes('data-manager').map((n) => n.info.name);
  return sortByCloseness(copyGroupName(name, ChunkCopy.SACRIFICIAL), all).slice(0, net.sim.params.closeGroupSize).map(toHex);
}

describe('sacrificial copies make room for must-store ones (SPEC.md 3.3)', () => {
  for (const seed of SEEDS)
    it(`a must-store copy deletes sacrificial copies, everyone's records agree, the farming rate counts 'deleted', and the copies are stored again as room returns (seed ${seed})`, async () => {
      net = await SimNet.start({
        seed,
        counts: { 'pmid-node': 6, 'data-manager': 10 },
        pmidCapacity: 2 * CHUNK,
        reorder: true,
        duplicateRate: 0.02,
        dataManager: { repairRetryMs: REPAIR_RETRY_MS },
      });
      // Each account's vault offers room for two chunks, and how many chunks fill the network
      // depends on where their copies land: accounts on different vaults take turns, so the
      // puts never stop for want of account space before the network is full.
      const clients = net.sim.routing
        .view('pmid-node')
        .names()
        .map((vault) => ({ vault, client: (net as SimNet).newClient() }));
      for (const { vault, client } of clients) await net.setUpClient(client, vault);
      const client = (clients[0] as { client: Identity }).client;
      // Chunks go in until one fills the network: its must-store copies find the closest PmidNodes
      // full, some of them of earlier chunks' sacrificial copies, and those give them up.
      const acknowledged = new Map<string, { name: Name; content: Uint8Array }>();
      const owners = new Map<string, Identity>();
      let deleted: string[] = [];
      let trigger: Name | undefined;
      let ratesBefore = await rates(net);
      for (let i = 0; i < 8 && deleted.length === 0; i++) {
        const content = net.sim.random.bytes(CHUNK);
        const diskBefore = await onDisk(net);
        ratesBefore = await rates(net);
        const owner = (clients[i % clients.length] as { client: Identity }).client;
        const reply = await net.put(owner, content);
        await net.settleChurn();
        if (reply.status === ReplyStatus.OK) acknowledged.set(short(nameOf(content)), { name: nameOf(content), content });
        owners.set(short(nameOf(content)), owner);
        const diskNow = await onDisk(net);
        deleted = [...diskBefore].filter((c) => !diskNow.has(c));
        trigger = nameOf(content);
      }
      if (trigger === undefined) throw new Error('nothing was put');
      expect(deleted.length).toBeGreaterThan(0);
      for (const copy of deleted) expect(copy).toMatch(/\.SACRIFICIAL@/);
      const b = trigger;
      expect(acknowledged.has(short(b))).toBe(true);
      for (const copy of [ChunkCopy.PRIMARY, ChunkCopy.BACKUP] as const) expect(await storedHolders(net, b, copy)).toHaveLength(2);
      const victims = [...new Set(deleted.map((c) => c.split('.')[0] as string))].map((id) => acknowledged.get(id)?.name as Name);
      const diskAfter = await onDisk(net);

      // Disk, PmidManager accounts and DataManager holder lists agree: a deleted copy is in no
      // account (and in no lost total), and its holder is failed in every member's list.
      expect(await accounted(net)).toEqual(diskAfter);
      for (const copy of deleted) {
        const [chunk, pmid] = copy.replace('.SACRIFICIAL', '').split('@') as [string, string];
        const victim = acknowledged.get(chunk)?.name as Name;
        for (const list of await holderLists(net, victim, ChunkCopy.SACRIFICIAL)) expect(list).toContain(`${pmid}:failed`);
      }
      for (const { name } of acknowledged.values()) {
        for (const copy of CHUNK_COPIES) {
          const held = [...diskAfter].filter((c) => c.startsWith(`${short(name)}.${copyName(copy)}@`)).map((c) => c.split('@')[1]);
          expect((await storedHolders(net, name, copy)).sort()).toEqual(held.sort());
        }
      }
      expect((await checkRecordInvariant(net)).violations).toEqual([]);

      // The farming rate (linear): each copy deleted for room takes 1 from every DataManager keeping
      // its group. Where the group of the last chunk's sacrificial copy is kept too, that copy's own
      // outcome adds 1 (both stored) or takes some (not stored), so there only a bound holds. Only
      // DataManagers whose own sacrificial copies moved their rate are held to it: one that never
      // had any follows its close peers' median (farming/refresh.ts) as refreshes arrive.
      const lastStored = (await storedHolders(net, b, ChunkCopy.SACRIFICIAL)).length === 2;
      const ratesAfter = await rates(net);
      const keepB = keepers(net, b);
      const victimKeepers = victims.map((v) => keepers(net as SimNet, v));
      const keptVictims = (dm: string) => victims.filter((_, i) => victimKeepers[i]?.includes(dm));
      const lostBy = (dm: string) => deleted.filter((c) => keptVictims(dm).some((v) => c.startsWith(short(v)))).length;
      const onlyVictims = [...ratesAfter.keys()].filter((dm) => keptVictims(dm).length > 0 && !keepB.includes(dm));
      // Where every keeper of a deleted copy's group also keeps the last chunk's (it depends on where
      // the copies landed, which disk timing can change), only the bound below can be checked.
      if (onlyVictims.length === 0) console.log(`seed ${seed}: no DataManager keeps only the deleted copies' groups`);
      for (const [dm, rate] of ratesAfter) {
        const before = ratesBefore.get(dm) ?? 0;
        if (keptVictims(dm).length === 0) continue;
        if (!keepB.includes(dm)) expect(rate, `DataManager ${dm.slice(0, 8)}`).toBe(Math.max(0, before - lostBy(dm)));
        else expect(rate, `DataManager ${dm.slice(0, 8)}`).toBeLessThanOrEqual(Math.max(0, before - lostBy(dm)) + (lastStored ? 1 : 0));
      }
      // (A rate already at the linear policy's floor of 0 cannot fall further.)
      for (const dm of onlyVictims.filter((dm) => (ratesBefore.get(dm) ?? 0) > 0))
        expect(ratesAfter.get(dm)).toBeLessThan(ratesBefore.get(dm) ?? 0);

      // Every acknowledged chunk is still there.
      for (const { name, content } of acknowledged.values()) {
        const reply = await net.get(client, name);
        expect(reply.status).toBe(ReplyStatus.OK);
        expect(Buffer.from(net.decodeGet(reply)).equals(Buffer.from(content))).toBe(true);
      }
      const sacrificialOf = async () =>
        Promise.all(victims.map(async (v) => (await storedHolders(net as SimNet, v, ChunkCopy.SACRIFICIAL)).length));
      const storedAfter = await sacrificialOf();
      expect(Math.max(...storedAfter)).toBeLessThan(2);

      // Full PmidNodes: retries come and go, and the deleted copies stay deleted.
      const full = [...net.sim.nodes('pmid-node')].every((n) => (n.replica.state as PmidNodeState).chunks.used + CHUNK > 2 * CHUNK);
      if (full) {
        for (let period = 0; period < 4; period++) {
          net.sim.clock.advance(REPAIR_RETRY_MS);
          await net.sim.tickAll();
          await net.settleChurn();
        }
        expect(await sacrificialOf()).toEqual(storedAfter);
        const ratesFull = await rates(net);
        for (const dm of onlyVictims) expect(ratesFull.get(dm)).toBe(ratesAfter.get(dm));
      }

      // Room returns: the client deletes the last chunk. On later retries the deleted sacrificial
      // copies are stored again, on disk and in the accounts, and each group counts 'stored' once.
      expect((await net.delete(owners.get(short(b)) as Identity, b)).status).toBe(ReplyStatus.OK);
      acknowledged.delete(short(b));
      await net.settleChurn();
      let periods = 0;
      while ((await sacrificialOf()).some((n) => n < 2) && periods < 30) {
        net.sim.clock.advance(REPAIR_RETRY_MS);
        await net.sim.tickAll();
        await net.settleChurn();
        periods++;
      }
      expect(await sacrificialOf()).toEqual(victims.map(() => 2));
      const diskRestored = await onDisk(net);
      for (const v of victims) {
        for (const pmid of await storedHolders(net, v, ChunkCopy.SACRIFICIAL))
          expect(diskRestored.has(`${short(v)}.SACRIFICIAL@${pmid}`)).toBe(true);
      }
      expect(await accounted(net)).toEqual(diskRestored);
      const ratesRestored = await rates(net);
      for (const dm of onlyVictims) {
        // A rate the loss pushed against its floor of 0 did not count all of it: there it only rises.
        if ((ratesBefore.get(dm) ?? 0) < lostBy(dm)) {
          expect(ratesRestored.get(dm), `DataManager ${dm.slice(0, 8)}`).toBeGreaterThan(ratesAfter.get(dm) ?? 0);
          continue;
        }
        expect(ratesRestored.get(dm), `DataManager ${dm.slice(0, 8)}`).toBe((ratesAfter.get(dm) ?? 0) + keptVictims(dm).length);
      }
      expect((await checkRecordInvariant(net)).violations).toEqual([]);
      for (const { name } of acknowledged.values()) expect((await net.get(client, name)).status).toBe(ReplyStatus.OK);
      console.log(
        `seed ${seed}: ${acknowledged.size + 1} chunks, ${deleted.length} sacrificial copies deleted for room (full: ${full}), stored again after ${periods} retry periods`,
      );
    }, 300_000);
});
