import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChunkCopy, copyIndex, copyName, lossReasonName } from '@safe/chunks';
import {
  DEFAULT_GROUP_PARAMETERS,
  type Envelope,
  type Identity,
  identityFromSeed,
  MemoryAccumulatorStore,
  MemoryEntryStore,
  MemoryFirewallStore,
  type Name,
  nameOf,
  Replica,
  RoutingTable,
  SenderNotInGroupError,
  sealEnvelope,
  sha512,
  toHex,
} from '@safe/core';
import { toPmidManager } from '@safe/messages';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { putCodec, type SendAccountBatch, sendAccountCodec } from './messages.js';
import { pmidNodePersona } from './persona.js';
import { openPmidNodeState, type PmidNodeState } from './state.js';

const K = DEFAULT_GROUP_PARAMETERS.closeGroupSize;
const managers = Array.from({ length: K + 2 }, (_, i) => identityFromSeed(new Uint8Array(32).fill(i + 1)));
const self = identityFromSeed(new Uint8Array(32).fill(99));
const routing = new RoutingTable([
  { persona: 'pmid-node', name: self.name, publicKey: self.publicKey },
  ...managers.map((m) => ({ persona: 'pmid-manager' as const, name: m.name, publicKey: m.publicKey })),
]);
const groupOf = (nae: Name): Identity[] => {
  const names = routing.view('pmid-manager').closeGroup(nae, K).map(toHex);
  return managers.filter((m) => names.includes(toHex(m.name)));
};
const members = groupOf(self.name);
const outsiders = managers.filter((m) => !members.includes(m));

let dir: string;
let replica: Replica<PmidNodeState>;
let sent: Envelope[];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pmid-node-account-'));
  sent = [];
  replica = new Replica({
    definition: pmidNodePersona,
    identity: self,
    params: DEFAULT_GROUP_PARAMETERS,
    state: await openPmidNodeState(dir, 1_000_000),
    routing,
    transport: { send: (e) => void sent.push(e) },
    stores: {
      accumulator: new MemoryAccumulatorStore(),
      firewall: new MemoryFirewallStore(),
      sync: new MemoryEntryStore(),
      transfer: new MemoryEntryStore(),
    },
  });
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** One member's copy of a group message to this PmidNode, speaking for `as`. */
function copyFrom(member: Identity, type: string, payload: Uint8Array, as: Name = self.name, content?: Uint8Array): Envelope {
  const sealed = sealEnvelope(
    {
      type,
      source: { persona: 'pmid-manager', nae: as },
      authority: 'group',
      destination: { persona: 'pmid-node', nae: self.name },
      scope: 'node',
      payload,
      correlation: new Uint8Array(0),
      ...(content ? { contentDigest: nameOf(content) } : {}),
    },
    member,
  );
  return content ? { ...sealed, content } : sealed;
}

async function store(size: number, copy: ChunkCopy = ChunkCopy.PRIMARY): Promise<{ name: Name; copy: ChunkCopy; content: Uint8Array }> {
  const content = randomBytes(size);
  const name = nameOf(content);
  await replica.state.chunks.put(name, copy, content);
  return { name, copy, content };
}

const held = async () => (await replica.state.chunks.list()).map((c) => `${toHex(c.name)}.${copyName(c.copy)}`).sort();
const id = (c: { name: Uint8Array; copy: ChunkCopy }) => `${toHex(c.name)}.${copyName(c.copy)}`;

function batches(list: { name: Name; copy: ChunkCopy; content: Uint8Array }[], size: number): SendAccountBatch[] {
  const round = sha512(self.name, ...list.map((c) => c.name));
  const count = Math.max(1, Math.ceil(list.length / size));
  return Array.from({ length: count }, (_, batch) => ({
    round,
    batch,
    batches: count,
    chunks: list.slice(batch * size, (batch + 1) * size).map((c) => ({ name: c.name, copy: c.copy, size: c.content.length })),
  }));
}

describe('SendAccount on a PmidNode', () => {
  it('only its own PmidManager group, K − 1 of them, can make it act; then the disk matches the account', async () => {
    const kept = await store(100);
    const unlisted = await store(120, ChunkCopy.BACKUP);
    const corrupt = await store(90);
    const missing = { name: nameOf(randomBytes(8)), copy: ChunkCopy.PRIMARY as ChunkCopy, content: new Uint8Array(10) };
    const hex = toHex(corrupt.name);
    const file = join(dir, hex.slice(0, 2), `${hex}.${copyIndex(corrupt.copy)}`);
    await writeFile(
      file,
      (await readFile(file)).map((b) => b ^ 1),
    );
    const before = await held();
    const [batch] = batches([kept, corrupt, missing], 10);
    const payload = sendAccountCodec.encode(batch as SendAccountBatch);

    // Non-members of its PmidManager group: rejected, nothing changes.
    for (const outsider of outsiders) {
      const result = await replica.receive(copyFrom(outsider, 'SendAccount', payload));
      expect(typeof result === 'object' && result.rejected).toBeInstanceOf(SenderNotInGroupError);
    }
    // The group of another node, speaking for that node: its members agree, yet it is not this node's account.
    const other = nameOf(randomBytes(8));
    for (const member of groupOf(other).slice(0, K - 1)) await replica.receive(copyFrom(member, 'SendAccount', payload, other));
    // A minority of its own group: still pending.
    for (const member of members.slice(0, K - 2)) expect(await replica.receive(copyFrom(member, 'SendAccount', payload))).toBe('pending');
    expect(await held()).toEqual(before);
    expect(sent.filter((e) => e.type === 'Lost')).toEqual([]);

    // The (K − 1)th member: the account is agreed.
    expect(await replica.receive(copyFrom(members[K - 2] as Identity, 'SendAccount', payload))).toBe('handled');
    expect(await held()).toEqual([id(kept)]);
    expect(before).toContain(id(unlisted));
    const lost = sent.filter((e) => e.type === 'Lost');
    expect(lost.map((e) => id(toPmidManager.lost.payload.decode(e.payload))).sort()).toEqual([id(corrupt), id(missing)].sort());
    for (const e of lost) {
      expect(e).toMatchObject({ authority: 'single', scope: 'close-group', destination: { persona: 'pmid-manager' } });
      expect(toHex(e.destination.nae)).toBe(toHex(self.name));
    }
  });

  it('waits for every batch of a round, and keeps a copy a Put stored meanwhile', async () => {
    const listed = [await store(50), await store(60), await store(70)];
    const stale = await store(80);
    const [first, second] = batches(listed, 2) as [SendAccountBatch, SendAccountBatch];
    for (const member of members.slice(0, K - 1)) await replica.receive(copyFrom(member, 'SendAccount', sendAccountCodec.encode(second)));
    expect(await held()).toContain(id(stale));

    const content = randomBytes(40);
    const fresh = { name: nameOf(content), copy: ChunkCopy.PRIMARY as ChunkCopy, content };
    const put = putCodec.encode({ name: fresh.name, copy: fresh.copy, context: null });
    for (const member of members.slice(0, K - 1)) await replica.receive(copyFrom(member, 'Put', put, self.name, content));

    for (const member of members.slice(0, K - 1)) await replica.receive(copyFrom(member, 'SendAccount', sendAccountCodec.encode(first)));
    expect(await held()).toEqual([...listed, fresh].map(id).sort());
    expect(sent.filter((e) => e.type === 'Lost')).toEqual([]);
  });
});

describe('Put on a full PmidNode (SPEC.md 3.3 sacrificial copies)', () => {
  const putFromGroup = async (copy: ChunkCopy, content: Uint8Array) => {
    const payload = putCodec.encode({ name: nameOf(content), copy, context: null });
    for (const member of members.slice(0, K - 1)) await replica.receive(copyFrom(member, 'Put', payload, self.name, content));
  };
  const answers = () => sent.filter((e) => e.type === 'PutResponse').map((e) => toPmidManager.putResponse.payload.decode(e.payload));

  it('a must-store copy deletes sacrificial copies for room and reports each one; one that cannot fit deletes nothing', async () => {
    const large = await store(400_000, ChunkCopy.SACRIFICIAL);
    const small = await store(300_000, ChunkCopy.SACRIFICIAL);
    const primary = await store(200_000);

    // A sacrificial copy never makes room for another.
    await putFromGroup(ChunkCopy.SACRIFICIAL, randomBytes(150_000));
    expect(answers().map((a) => a.stored)).toEqual([false]);

    const backup = randomBytes(350_000);
    await putFromGroup(ChunkCopy.BACKUP, backup);
    expect(answers()[1]).toMatchObject({ stored: true, copy: ChunkCopy.BACKUP, size: 350_000 });
    expect(await held()).toEqual([id(small), id(primary), id({ name: nameOf(backup), copy: ChunkCopy.BACKUP })].sort());
    const lost = sent.filter((e) => e.type === 'Lost');
    expect(lost.map((e) => toPmidManager.lost.payload.decode(e.payload)).map((l) => `${id(l)}:${lossReasonName(l.reason)}`)).toEqual([
      `${id(large)}:DELETED_FOR_ROOM`,
    ]);
    expect(lost[0]).toMatchObject({ authority: 'single', scope: 'close-group', destination: { persona: 'pmid-manager' } });
    expect(toHex(lost[0]?.destination.nae as Uint8Array)).toBe(toHex(self.name));

    // 500_000 more would need 350_000 freed, more than the last sacrificial copy's 300_000: refused, nothing deleted.
    const before = await held();
    await putFromGroup(ChunkCopy.PRIMARY, randomBytes(500_000));
    expect(answers()[2]).toMatchObject({ stored: false, copy: ChunkCopy.PRIMARY });
    expect(await held()).toEqual(before);
    expect(sent.filter((e) => e.type === 'Lost')).toHaveLength(1);
  });
});
