import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CHUNK_COPIES, copyGroupName, copyIndex } from '@safe/chunks';
import {
  type HandlerContext,
  type Incoming,
  InvalidNameError,
  MalformedPayloadError,
  type Name,
  nameOf,
  protoCodec,
  ReplyStatus,
  sha512,
  sortByCloseness,
  toHex,
} from '@safe/core';
import { type DataManagerState, dataManagerPersona, loadDataManagerConfig } from '@safe/data-manager';
import { pmidAccountRecordCodec, pmidManagerRecords, pmidRank } from '@safe/pmid-manager';
import type { PmidNodeState } from '@safe/pmid-node';
import { ChunkCopy } from '@safe/proto/messages';
import { LoseSchema as PmidManagerLoseSchema } from '@safe/proto/pmid_manager';
import { afterEach, describe, expect, it } from 'vitest';
import { SimNet } from '../support/sim-network.js';

const seed = Number(process.env.SAFE_INTEGRITY_SEED ?? 7);
const periodMs = 60_000;
const config = loadDataManagerConfig({});
const loseCodec = protoCodec(PmidManagerLoseSchema);
const NO_KEY = new Uint8Array(0);
const integrityAnswer = dataManagerPersona.messages.find((m) => m.type === 'IntegrityAnswer');
const holderCorrupt = dataManagerPersona.messages.find((m) => m.type === 'HolderCorrupt');

let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

function chunksOf(net: SimNet, pmid: Name): PmidNodeState['chunks'] {
  const node = net.sim.node(pmid);
  if (node === undefined) throw new Error('PmidNode not on line');
  return (node.replica.state as PmidNodeState).chunks;
}

function chunkFile(net: SimNet, pmid: Name, name: Name, copy: ChunkCopy): string {
  const dir = chunksOf(net, pmid).dir;
  return join(dir, toHex(name).slice(0, 2), `${toHex(name)}.${copyIndex(copy)}`);
}

/** The live PmidNodes whose disks hold the copy with its right content. */
async function goodHolders(net: SimNet, name: Name, copy: ChunkCopy): Promise<Name[]> {
  const out: Name[] = [];
  for (const node of net.sim.nodes('pmid-node')) {
    try {
      await (node.replica.state as PmidNodeState).chunks.get(name, copy);
      out.push(node.info.name);
    } catch {}
  }
  return out;
}

/** The account record of `pmid` at each of its PmidManagers (close group order); undefined where a member has none. */
async function accountsOf(net: SimNet, pmid: Name) {
  const group = net.sim.routing.view('pmid-manager').closeGroup(pmid, net.sim.params.closeGroupSize);
  return Promise.all(
    group.map(async (member) => {
      const bytes = await pmidManagerRecords.read(
        (net.sim.node(member) as NonNullable<ReturnType<typeof net.sim.node>>).replica.context,
        pmid,
        NO_KEY,
      );
      return bytes === undefined ? undefined : pmidAccountRecordCodec.decode(bytes);
    }),
  );
}

async function lostTotals(net: SimNet, pmid: Name): Promise<number[]> {
  return (await accountsOf(net, pmid)).map((account) => account?.lost ?? -1);
}

/** The next integrity period: every DataManager checks a page of copies (all of them here: the batch is larger than the table). */
async function nextPeriod(net: SimNet): Promise<void> {
  net.sim.clock.advance(periodMs);
  await net.sim.tickAll();
  for (let round = 0; round < 10; round++) {
    await net.settleChurn();
    net.sim.clock.advance(config.getRetryMs);
    await net.sim.tickAll();
  }
  await net.settleChurn();
}

/**
 * A client Puts three files and the first tick notes the integrity period; then one holder's
 * PRIMARY copy of the first file is corrupted on its disk (same length, one bit flipped).
 */
async function corruptOneCopy(net: SimNet, copiesPerGroup: number) {
  const client = net.newClient();
  await net.setUpClient(client);
  const files = Array.from({ length: 3 }, () => net.sim.random.bytes(100 + net.sim.random.int(3000)));
  for (const content of files) expect((await net.put(client, content)).status, `seed ${seed}: Put`).toBe(ReplyStatus.OK);
  await net.settleChurn();
  await net.sim.tickAll(); // the first tick only notes the period
  await net.settleChurn();

  const content = files[0] as Uint8Array;
  const name = nameOf(content);
  const copy: ChunkCopy = ChunkCopy.PRIMARY;
  const holders = await goodHolders(net, name, copy);
  expect(holders.length, `seed ${seed}`).toBe(copiesPerGroup);
  const victim = holders[0] as Name;
  const file = chunkFile(net, victim, name, copy);
  const original = await readFile(file);
  await writeFile(file, Buffer.from(original.map((b, i) => (i === 0 ? b ^ 0x01 : b))));
  return { client, files, content, name, copy, victim };
}

describe('data integrity checks (SPEC.md 3.3)', () => {
  // Two holders disagreeing: the content read from them judges; three: the two that agree outvote the third.
  it.each([2, 3])(
    `a copy corrupted on a PmidNode's disk is found by the periodic check, lost there and stored again (%i copies, seed ${seed})`,
    async (copiesPerGroup) => {
      net = await SimNet.start({
        seed,
        counts: { 'pmid-node': 10 },
        reorder: true,
        dataManager: { integrityPeriodMs: periodMs, integrityBatch: 64, copiesPerGroup },
      });
      const { client, files, content, name, copy, victim } = await corruptOneCopy(net, copiesPerGroup);
      const before = await lostTotals(net, victim);

      net.sim.keepLog = true;
      await nextPeriod(net);

      // The corrupt holder was treated as lost: its PmidManagers' lost total grew by the chunk's size on every member.
      const after = await lostTotals(net, victim);
      expect(after, `seed ${seed}`).toEqual(before.map((lost) => lost + content.length));
      // Only that copy was declared lost: the uncorrupted ones caused no Lose.
      const loses = net.sim.log.filter((d) => d.envelope.type === 'Lose');
      expect(loses.length, `seed ${seed}`).toBeGreaterThan(0);
      for (const d of loses) {
        expect(toHex(d.envelope.destination.nae)).toBe(toHex(victim));
        expect(toHex(d.envelope.payload)).toBe(toHex(loseCodec.encode({ name, copy })));
      }
      expect(new Set(loses.map((d) => toHex(d.envelope.sender))).size, `seed ${seed}`).toBeGreaterThanOrEqual(
        net.sim.params.closeGroupSize - 1,
      );
      // A new copy was made: back at copiesPerGroup live holders with the right bytes, the corrupt one gone from the victim's disk.
      const now = await goodHolders(net, name, copy);
      expect(now.length, `seed ${seed}`).toBe(copiesPerGroup);
      expect(now.map(toHex)).not.toContain(toHex(victim));
      expect(await chunksOf(net, victim).has(name, copy)).toBe(false);
      // Every DataManager of the copy group has nothing left in flight, and every file reads back byte for byte.
      for (const dm of net.dataManagersOf(name, copy)) {
        const state = (dm.replica.context as HandlerContext<DataManagerState>).state;
        expect(state.checks.size + state.repairs.size + state.lostCopies.size, `seed ${seed}`).toBe(0);
      }
      for (const file of files) {
        const reply = await net.get(client, nameOf(file));
        expect(reply.status, `seed ${seed}`).toBe(ReplyStatus.OK);
        expect(Buffer.from(net.decodeGet(reply)).equals(Buffer.from(file))).toBe(true);
      }
      // Every other copy of every file still has its holders.
      for (const file of files)
        for (const c of CHUNK_COPIES)
          if (c !== ChunkCopy.SACRIFICIAL) expect((await goodHolders(net, nameOf(file), c)).length).toBeGreaterThanOrEqual(copiesPerGroup);
    },
    600_000,
  );

  it(`a node found corrupt ranks low with its PmidManagers, and new copies go to it last (SPEC.md 3.4 Ranking, seed ${seed})`, async () => {
    // 100%: a node that lost anything at all is a last choice, whatever else it stores.
    net = await SimNet.start({
      seed,
      counts: { 'pmid-node': 10 },
      reorder: true,
      dataManager: { integrityPeriodMs: periodMs, integrityBatch: 64, lowRankPercent: 100 },
    });
    const K = net.sim.params.closeGroupSize;
    const { client, victim } = await corruptOneCopy(net, config.copiesPerGroup);
    expect(net.sim.routing.agreedRank(victim, K), `seed ${seed}`).toBe(1);
    await nextPeriod(net);

    // Every one of its PmidManagers reports the rank its account gives (to hundredths), and the view agrees on it.
    const pmidManagers = net.sim.routing.view('pmid-manager');
    const managers = pmidManagers.closeGroup(victim, K);
    const reported = managers.map((m) => pmidManagers.get(m)?.rankReports?.find((r) => toHex(r.pmid) === toHex(victim))?.rank);
    const ranks = (await accountsOf(net, victim)).map(
      (a) => Math.floor(pmidRank({ stored: Number(a?.stored), lost: Number(a?.lost) }) * 100) / 100,
    );
    const rank = ranks[0] as number;
    expect(rank, `seed ${seed}`).toBeLessThan(1);
    expect(reported, `seed ${seed}`).toEqual(ranks);
    expect(ranks, `seed ${seed}`).toEqual(managers.map(() => rank));
    expect(net.sim.routing.agreedRank(victim, K), `seed ${seed}`).toBe(rank);

    // A new chunk whose primary copy group has the victim as its closest live PmidNode: the copy goes elsewhere.
    const live = net.sim.routing.view('pmid-node').names();
    let content: Uint8Array;
    do content = net.sim.random.bytes(500);
    while (toHex(sortByCloseness(copyGroupName(nameOf(content), ChunkCopy.PRIMARY), live)[0] as Name) !== toHex(victim));
    expect((await net.put(client, content)).status, `seed ${seed}: Put`).toBe(ReplyStatus.OK);
    await net.settleChurn();
    const others = sortByCloseness(copyGroupName(nameOf(content), ChunkCopy.PRIMARY), live).filter((n) => toHex(n) !== toHex(victim));
    expect((await goodHolders(net, nameOf(content), ChunkCopy.PRIMARY)).map(toHex).sort(), `seed ${seed}`).toEqual(
      others.slice(0, config.copiesPerGroup).map(toHex).sort(),
    );
  }, 600_000);

  it(`on churn: when one holder of a copy leaves, a corrupt remaining holder is found, lost and replaced (seed ${seed})`, async () => {
    net = await SimNet.start({ seed, counts: { 'pmid-node': 10 }, reorder: true, dataManager: { integrityPeriodMs: 0 } });
    const client = net.newClient();
    await net.setUpClient(client);
    const files = Array.from({ length: 2 }, () => (net as SimNet).sim.random.bytes(100 + (net as SimNet).sim.random.int(3000)));
    for (const content of files) expect((await (net as SimNet).put(client, content)).status, `seed ${seed}: Put`).toBe(ReplyStatus.OK);
    await net.settleChurn();
    const content = files[0] as Uint8Array;
    const name = nameOf(content);
    const copy: ChunkCopy = ChunkCopy.BACKUP;
    const [victim, leaving] = await goodHolders(net, name, copy);
    const file = chunkFile(net, victim as Name, name, copy);
    await writeFile(file, Buffer.from((await readFile(file)).map((b) => b ^ 0xff)));
    const before = await lostTotals(net, victim as Name);

    await net.leave(leaving as Name);
    for (let round = 0; round < 10; round++) {
      await net.settleChurn();
      net.sim.clock.advance(config.getRetryMs);
      await net.sim.tickAll();
    }
    await net.settleChurn();

    expect(await lostTotals(net, victim as Name), `seed ${seed}`).toEqual(before.map((lost) => lost + content.length));
    const now = await goodHolders(net, name, copy);
    expect(now.length, `seed ${seed}`).toBe(config.copiesPerGroup);
    expect(now.map(toHex)).not.toContain(toHex(victim as Name));
    for (const file of files) {
      const reply = await net.get(client, nameOf(file));
      expect(reply.status, `seed ${seed}`).toBe(ReplyStatus.OK);
      expect(Buffer.from(net.decodeGet(reply)).equals(Buffer.from(file))).toBe(true);
    }
  }, 600_000);

  it(`an answer from a node not asked, for another nonce or malformed, and a verdict from or to another group change nothing (seed ${seed})`, async () => {
    net = await SimNet.start({ seed, counts: { 'pmid-node': 6 }, reorder: true });
    const [dm] = net.sim.nodes('data-manager');
    const ctx = dm?.replica.context as HandlerContext<DataManagerState>;
    const [a, b, stranger] = net.sim.nodes('pmid-node').map((n) => n.info.name);
    const name = nameOf(new Uint8Array([1, 2, 3]));
    const nonce = sha512(new Uint8Array([9]));
    const key = `${toHex(name)}:PRIMARY`;
    const check = {
      name,
      copy: ChunkCopy.PRIMARY,
      group: copyGroupName(name, ChunkCopy.PRIMARY),
      nonce,
      holders: [a as Name, b as Name],
      answers: new Map<string, Uint8Array | null>(),
      lost: [],
      sources: [],
      startedAt: ctx.now(),
    };
    ctx.state.checks.set(key, check);
    const answer = (sender: Name, payload: { nonce: Uint8Array; held: boolean; digest: Uint8Array }) =>
      (integrityAnswer as NonNullable<typeof integrityAnswer>).handle(
        { sender, payload: { name, copy: ChunkCopy.PRIMARY, ...payload } } as Incoming<never>,
        ctx,
      );
    const digest = sha512(new Uint8Array([1]));
    expect(await answer(stranger as Name, { nonce, held: true, digest })).toEqual({});
    expect(await answer(a as Name, { nonce: sha512(nonce), held: true, digest })).toEqual({});
    await expect(async () => answer(a as Name, { nonce, held: true, digest: digest.slice(1) })).rejects.toThrow(MalformedPayloadError);
    await expect(async () => answer(a as Name, { nonce, held: false, digest })).rejects.toThrow(MalformedPayloadError);
    expect(check.answers.size).toBe(0);
    // The holder asked, with the nonce asked: counted once; its repeat is not a second vote.
    expect(await answer(a as Name, { nonce, held: true, digest })).toEqual({});
    expect(await answer(a as Name, { nonce, held: true, digest: sha512(digest) })).toEqual({});
    expect([...check.answers.keys()]).toEqual([toHex(a as Name)]);
    expect(toHex(check.answers.get(toHex(a as Name)) as Uint8Array)).toBe(toHex(digest));
    ctx.state.checks.delete(key);

    // A verdict must come from the copy group's own DataManagers, for that copy group.
    const group = copyGroupName(name, ChunkCopy.PRIMARY);
    const other = copyGroupName(name, ChunkCopy.BACKUP);
    const verdict = (source: Name, destination: Name) =>
      (holderCorrupt as NonNullable<typeof holderCorrupt>).handle(
        {
          payload: { name, copy: ChunkCopy.PRIMARY, pmid: a },
          source: { persona: 'data-manager', nae: source },
          destination: { persona: 'data-manager', nae: destination },
        } as Incoming<never>,
        ctx,
      );
    await expect(async () => verdict(other, group)).rejects.toThrow(InvalidNameError);
    await expect(async () => verdict(group, other)).rejects.toThrow(InvalidNameError);
    expect((await verdict(group, group)).actions?.map((act) => act.type)).toEqual(['LoseHolder']);
  }, 120_000);
});
