import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ChunkCopy, copyGroupName, copyIndex } from '@safe/chunks';
import { type Codec, type Fields, type Name, nameOf, protoCodec, ReplyStatus, toHex } from '@safe/core';
import { pmidAccountRecordCodec, pmidManagerRecords, pmidRank } from '@safe/pmid-manager';
import type { PmidNodeState } from '@safe/pmid-node';
import { HolderLostSchema as DataManagerHolderLostSchema } from '@safe/proto/data_manager';
import { type Lost, LoseSchema as PmidManagerLoseSchema, LostSchema as PmidManagerLostSchema } from '@safe/proto/pmid_manager';
import { afterEach, describe, expect, it } from 'vitest';
import { SimNet } from '../support/sim-network.js';

/** A node's Lost report with `reason` left out (LOST), as the node sends it. */
const lostCodec: Codec<Omit<Fields<Lost>, 'reason'>> = protoCodec(PmidManagerLostSchema);
const loseCodec = protoCodec(PmidManagerLoseSchema);
const holderLostCodec = protoCodec(DataManagerHolderLostSchema);
const NO_KEY = new Uint8Array(0);

let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

const copyId = (name: Uint8Array, copy: ChunkCopy) => `${toHex(name)}.${copy}`;

async function disk(net: SimNet, pmid: Name): Promise<string[]> {
  const node = net.sim.node(pmid);
  if (node === undefined) throw new Error('PmidNode not on line');
  return (await (node.replica.state as PmidNodeState).chunks.list()).map((c) => copyId(c.name, c.copy)).sort();
}

/** The account of `pmid` on every member of its PmidManager group. */
async function accounts(net: SimNet, pmid: Name) {
  const group = net.sim.routing.view('pmid-manager').closeGroup(pmid, net.sim.params.closeGroupSize);
  return Promise.all(
    group.map(async (member) => {
      const node = net.sim.node(member);
      const bytes = node ? await pmidManagerRecords.read(node.replica.context, pmid, NO_KEY) : undefined;
      if (bytes === undefined) throw new Error(`${toHex(member).slice(0, 8)} keeps no account for the PmidNode`);
      return { bytes: toHex(bytes), account: pmidAccountRecordCodec.decode(bytes) };
    }),
  );
}

describe('SendAccount: a PmidNode that comes back on line is told what it should hold', () => {
  const seed = Number(process.env.SAFE_SEND_ACCOUNT_SEED ?? 11);
  it(`deletes what was deleted or lost while it was away and reports what it lost on disk (seed ${seed})`, async () => {
    net = await SimNet.start({ seed, reorder: true, duplicateRate: 0.05 });
    const K = net.sim.params.closeGroupSize;
    const client = net.newClient();
    await net.setUpClient(client);
    const files = Array.from({ length: 10 }, (_, i) => (net as SimNet).sim.random.bytes(200 + 97 * i));
    for (const content of files) expect((await net.put(client, content)).status).toBe(ReplyStatus.OK);
    await net.settleChurn();

    // The PmidNode with copies of the most files goes off line.
    const holdings = await Promise.all(
      net.sim.nodes('pmid-node').map(async (n) => ({ pmid: n.info.name, copies: await (n.replica.state as PmidNodeState).chunks.list() })),
    );
    const byFiles = (h: (typeof holdings)[number]) => new Set(h.copies.map((c) => toHex(c.name))).size;
    const chosen = holdings.sort((a, b) => byFiles(b) - byFiles(a))[0];
    if (chosen === undefined) throw new Error('no PmidNode');
    const pmid = chosen.pmid;
    const fileNames = [...new Set(chosen.copies.map((c) => toHex(c.name)))];
    expect(fileNames.length, 'the chosen PmidNode holds copies of at least 5 files').toBeGreaterThanOrEqual(5);
    const content = (hex: string) => files.find((f) => toHex(nameOf(f)) === hex) as Uint8Array;
    const copiesOf = (hex: string) => chosen.copies.filter((c) => toHex(c.name) === hex);
    const [del1, del2, loseHex, corruptHex] = fileNames as [string, string, string, string];
    const lostCopy = copiesOf(loseHex)[0] as { name: Name; copy: ChunkCopy };
    const corruptCopy = copiesOf(corruptHex)[0] as { name: Name; copy: ChunkCopy };
    const before = (await accounts(net, pmid))[0]?.account;
    expect(before?.chunks.length).toBe(chosen.copies.length);

    const identity = net.identities.get(toHex(pmid));
    if (identity === undefined) throw new Error('no identity');
    const offline = (net.sim.node(pmid)?.replica.state as PmidNodeState | undefined)?.chunks;
    if (offline === undefined) throw new Error('PmidNode not on line');
    const chunkDir = offline.dir;
    await net.leave(pmid);
    await net.settleChurn();

    // While it is away: the client deletes two files, a DataManager group declares one copy lost,
    // and one copy rots on its disk.
    for (const hex of [del1, del2]) expect((await net.delete(client, nameOf(content(hex)))).status).toBe(ReplyStatus.OK);
    for (const dm of net.dataManagersOf(lostCopy.name, lostCopy.copy)) {
      await dm.replica.dispatch({
        send: [
          {
            type: 'Lose',
            to: { persona: 'pmid-manager', nae: pmid },
            scope: 'close-group',
            as: copyGroupName(lostCopy.name, lostCopy.copy),
            payload: loseCodec.encode(lostCopy),
          },
        ],
      });
    }
    await net.settleChurn();
    const file = join(chunkDir, toHex(corruptCopy.name).slice(0, 2), `${toHex(corruptCopy.name)}.${copyIndex(corruptCopy.copy)}`);
    const original = await readFile(file);
    await writeFile(file, Buffer.from(original.map((b) => b ^ 0xff)));

    // The account already left out what was deleted or lost while it was off line.
    const deleted = new Set([...copiesOf(del1), ...copiesOf(del2)].map((c) => copyId(c.name, c.copy)));
    const away = await accounts(net, pmid);
    const awayIds = (away[0]?.account.chunks ?? []).map((c) => copyId(c.name, c.copy)).sort();
    const held = chosen.copies.map((c) => copyId(c.name, c.copy));
    expect(awayIds).toEqual(held.filter((id) => !deleted.has(id) && id !== copyId(lostCopy.name, lostCopy.copy)).sort());
    const lostWhileAway = content(loseHex).length;
    for (const { account } of away) expect(account.lost).toBe((before?.lost ?? 0) + lostWhileAway);

    // Its disk still holds everything: nobody could reach it.
    expect((await offline.list()).map((c) => copyId(c.name, c.copy)).sort()).toEqual([...held].sort());

    net.sim.keepLog = true;
    await net.rejoin('pmid-node', identity);
    await net.settleChurn();

    // On disk: exactly what the account lists, less the corrupt copy (deleted and reported).
    const corruptId = copyId(corruptCopy.name, corruptCopy.copy);
    const expected = awayIds.filter((id) => id !== corruptId);
    expect(await disk(net, pmid)).toEqual(expected);
    for (const id of [...deleted, copyId(lostCopy.name, lostCopy.copy), corruptId]) expect(await disk(net, pmid)).not.toContain(id);

    // Every member of the group counted the corrupt copy as lost, and they agree byte for byte.
    const after = await accounts(net, pmid);
    expect(after).toHaveLength(K);
    for (const { account } of after) {
      expect(account.lost).toBe((before?.lost ?? 0) + lostWhileAway + content(corruptHex).length);
      expect(account.chunks.map((c) => copyId(c.name, c.copy)).sort()).toEqual(expected);
      expect(pmidRank(account)).toBeLessThan(1);
    }
    expect(new Set(after.map((a) => a.bytes)).size).toBe(1);

    // Only the corrupt copy was reported, and the copy's DataManager group was told (HolderLost).
    const lostReports = net.sim.log.filter((d) => d.envelope.type === 'Lost');
    expect(new Set(lostReports.map((d) => toHex(d.envelope.payload)))).toEqual(new Set([toHex(lostCodec.encode(corruptCopy))]));
    const told = net.sim.log.filter((d) => d.envelope.type === 'HolderLost');
    expect(new Set(told.map((d) => toHex(d.envelope.sender))).size).toBeGreaterThanOrEqual(K - 1);
    for (const d of told) {
      expect(toHex(d.envelope.destination.nae)).toBe(toHex(copyGroupName(corruptCopy.name, corruptCopy.copy)));
      expect(holderLostCodec.decode(d.envelope.payload)).toMatchObject({ copy: corruptCopy.copy });
      expect(toHex(holderLostCodec.decode(d.envelope.payload).pmid)).toBe(toHex(pmid));
    }
  }, 600_000);
});
