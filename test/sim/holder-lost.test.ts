import { copyGroupName } from '@safe/chunks';
import {
  type Codec,
  type Fields,
  type HandlerContext,
  type Name,
  nameOf,
  protoCodec,
  ReplyStatus,
  sortByCloseness,
  toHex,
} from '@safe/core';
import type { DataManagerState } from '@safe/data-manager';
import type { PmidNodeState } from '@safe/pmid-node';
import { HolderLostSchema as DataManagerHolderLostSchema, type HolderLost } from '@safe/proto/data_manager';
import { ChunkCopy } from '@safe/proto/messages';
import { afterEach, describe, expect, it } from 'vitest';
import { checkRecordInvariant } from '../support/records-invariant.js';
import { SimNet } from '../support/sim-network.js';

/** `reason` left out (LOST), as the PmidManagers send it for a lost copy. */
const holderLostCodec: Codec<Omit<Fields<HolderLost>, 'reason'>> = protoCodec(DataManagerHolderLostSchema);
const seed = Number(process.env.SAFE_HOLDER_LOST_SEED ?? 3);
const COPY: ChunkCopy = ChunkCopy.PRIMARY;

let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

/** Each member's holder list of the copy, top first, as `pmid:state`. */
async function recordsOf(net: SimNet, name: Name): Promise<string[][]> {
  return Promise.all(
    net.dataManagersOf(name, COPY).map(async (dm) => {
      const { store } = (dm.replica.context as HandlerContext<DataManagerState>).state;
      const record = await store.record(name, COPY);
      return record ? (await store.holders(record.id)).map((h) => `${toHex(h.pmid).slice(0, 12)}:${h.state}`) : [];
    }),
  );
}

async function onDisk(net: SimNet, name: Name): Promise<string[]> {
  const out: string[] = [];
  for (const node of net.sim.nodes('pmid-node')) {
    if (await (node.replica.state as PmidNodeState).chunks.has(name, COPY)) out.push(toHex(node.info.name).slice(0, 12));
  }
  return out.sort();
}

/** `senders` (members of some group) each send their copy of HolderLost, speaking for `as`. */
async function tell(net: SimNet, as: Name, senders: readonly Name[], lost: { name: Name; pmid: Name }, tag: number) {
  for (const member of senders) {
    await net.sim.node(member)?.replica.dispatch({
      send: [
        {
          type: 'HolderLost',
          to: { persona: 'data-manager', nae: copyGroupName(lost.name, COPY) },
          scope: 'close-group',
          as,
          correlation: Uint8Array.of(tag),
          payload: holderLostCodec.encode({ name: lost.name, copy: COPY, pmid: lost.pmid }),
        },
      ],
    });
  }
  await net.settleChurn();
}

describe('HolderLost: a PmidNode lost a copy (SPEC.md 3.3)', () => {
  it(`the copy group stores it again on the next deterministic PmidNode; a minority or another group changes nothing (seed ${seed})`, async () => {
    net = await SimNet.start({ seed, counts: { 'pmid-node': 10 }, reorder: true, duplicateRate: 0.02 });
    const K = net.sim.params.closeGroupSize;
    const client = net.newClient();
    await net.setUpClient(client);
    const content = net.sim.random.bytes(1500);
    expect((await net.put(client, content)).status).toBe(ReplyStatus.OK);
    await net.settleChurn();
    const name = nameOf(content);
    const group = copyGroupName(name, COPY);
    const [dm] = net.dataManagersOf(name, COPY);
    if (dm === undefined) throw new Error('no DataManager for the copy');
    const { config } = (dm.replica.context as HandlerContext<DataManagerState>).state;

    const before = await recordsOf(net, name);
    const holders = (before[0] ?? []).map((h) => h.split(':')[0] as string);
    expect(holders).toHaveLength(config.copiesPerGroup);
    expect(await onDisk(net, name)).toEqual([...holders].sort());
    // The holder that loses its copy, and the one the group must choose next: the closest live
    // PmidNode to the copy group that does not hold the copy.
    const loser = net.sim.nodes('pmid-node').find((n) => toHex(n.info.name).startsWith(holders[0] as string))?.info.name as Name;
    const [next] = sortByCloseness(group, net.sim.routing.view('pmid-node').names()).filter(
      (n) => !holders.includes(toHex(n).slice(0, 12)),
    );
    if (next === undefined) throw new Error('no PmidNode to store on');
    expect(await (net.sim.node(loser)?.replica.state as PmidNodeState | undefined)?.chunks.delete(name, COPY)).toBe(true);

    const pmidManagers = net.sim.routing.view('pmid-manager').closeGroup(loser, K);
    // A minority of the holder's PmidManagers (fewer than K − 1) is not the group: nothing changes.
    await tell(net, loser, pmidManagers.slice(0, K - 2), { name, pmid: loser }, 1);
    expect(await recordsOf(net, name)).toEqual(before);
    // Not a PmidManager group (MaidManagers, all K of them), or the PmidManagers of another
    // PmidNode speaking for a loss of this one: refused, nothing changes.
    const maidManagers = net.sim.routing.view('maid-manager').closeGroup(loser, K);
    await tell(net, loser, maidManagers, { name, pmid: loser }, 2);
    const other = net.sim.nodes('pmid-node').find((n) => !holders.includes(toHex(n.info.name).slice(0, 12)))?.info.name as Name;
    await tell(net, other, net.sim.routing.view('pmid-manager').closeGroup(other, K), { name, pmid: loser }, 3);
    // A loss the record does not know (a PmidNode that never held it): nothing changes.
    await tell(net, other, net.sim.routing.view('pmid-manager').closeGroup(other, K), { name, pmid: other }, 4);
    expect(await recordsOf(net, name)).toEqual(before);
    expect(await onDisk(net, name)).toEqual([...holders].filter((h) => h !== toHex(loser).slice(0, 12)).sort());

    // The holder's own PmidManager group: the holder is failed at the bottom of every member's
    // list and the copy is stored again on the next deterministic PmidNode, on disk.
    await tell(net, loser, pmidManagers, { name, pmid: loser }, 5);
    const after = await recordsOf(net, name);
    const kept = holders.filter((h) => h !== toHex(loser).slice(0, 12));
    for (const list of after) {
      expect(list).toEqual([
        `${toHex(next).slice(0, 12)}:stored`,
        ...kept.map((h) => `${h}:stored`),
        `${toHex(loser).slice(0, 12)}:failed`,
      ]);
    }
    expect(await onDisk(net, name)).toEqual([...kept, toHex(next).slice(0, 12)].sort());
    expect((await checkRecordInvariant(net)).violations).toEqual([]);
    const reply = await net.get(client, name);
    expect(reply.status).toBe(ReplyStatus.OK);
    expect(Buffer.from(net.decodeGet(reply)).equals(Buffer.from(content))).toBe(true);

    // The same loss told again (a repeat, or a later round) changes nothing more.
    await tell(net, loser, pmidManagers, { name, pmid: loser }, 6);
    expect(await recordsOf(net, name)).toEqual(after);
  }, 300_000);
});
