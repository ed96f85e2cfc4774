import { GetAccountSchema } from '@safe/proto/messages';
import { describe, expect, it } from 'vitest';
import type { TransferVotes } from './account-transfer.js';
import { DEFAULT_GROUP_PARAMETERS, type GroupParameters, transferAgreement } from './config.js';
import { type Envelope, sealEnvelope } from './envelope.js';
import {
  BadSignatureError,
  MalformedPayloadError,
  NotResponsibleError,
  RecordMissingError,
  type SafeError,
  SenderNotInGroupError,
  WrongSourceError,
} from './errors.js';
import { type Identity, identityFromSeed } from './identity.js';
import { MemoryAccumulatorStore, MemoryEntryStore, MemoryFirewallStore } from './memory/stores.js';
import { type Name, nameEquals, sha512, toHex } from './name.js';
import { action, message, type PersonaDefinition } from './persona.js';
import type { Telemetry } from './ports.js';
import { protoCodec } from './proto.js';
import { type NodeInfo, RoutingTable } from './routing.js';
import {
  ACCOUNT_PULL_MESSAGE,
  ACCOUNT_TRANSFER_MESSAGE,
  type AccountTransferBatch,
  accountPullCodec,
  accountTransferBatchCodec,
  type ReceiveResult,
  Replica,
  SYNC_MESSAGE,
} from './runtime.js';
import { VirtualClock } from './sim/clock.js';
import type { SyncEntry } from './sync.js';
import { noTelemetry } from './telemetry.js';
import { TRANSFER_MESSAGE_BYTES } from './transfer-batch.js';

// ---- a tiny manager persona whose records live in a Map ----

interface StoredRecord {
  readonly nae: Name;
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}
interface State {
  readonly records: Map<string, StoredRecord>;
  /** Every records.write, in order. */
  readonly written: string[];
  readonly dropped: string[];
  /** Synced `Note` actions applied. */
  readonly notes: string[];
  /** Notes whose effect came in a transferred record: what they owe was carried out. */
  readonly owed: string[];
  /** NAEs whose record an agreed `Erase` deleted here (a DataManager's last RemoveSubscriber, which tells the holders). */
  readonly erased: string[];
}
const idOf = (nae: Uint8Array, key: Uint8Array) => `${toHex(nae)}:${toHex(key)}`;
const nonceCodec = protoCodec(GetAccountSchema);

/** Every test message comes from a MaidManager group, accumulated and firewalled, with a nonce. */
const fromMaidManagers = { from: ['maid-manager'] as const, accumulate: 'group' as const, firewall: true, payload: nonceCodec };
/** A synced request whose one action, of the same name, carries its nonce. */
const synced = (type: string) =>
  message<{ nonce: Uint8Array }, State>({
    type,
    ...fromMaidManagers,
    sync: true,
    handle: (m) => ({ actions: [{ type, nae: m.destination.nae, payload: nonceCodec.encode(m.payload) }] }),
  });
const definition: PersonaDefinition<State> = {
  persona: 'data-manager',
  speaksAs: 'group',
  messages: [
    synced('Note'),
    synced('Tally'),
    synced('Erase'),
    // Answers with the NAE's record: a member without it cannot (a MaidManager that does not know the client).
    message<{ nonce: Uint8Array }, State>({
      type: 'Read',
      ...fromMaidManagers,
      sync: false,
      handle(m, ctx) {
        const record = ctx.state.records.get(idOf(m.destination.nae, KEY));
        if (record === undefined) throw new RecordMissingError('not-found', 'no record for this NAE');
        return {
          send: [{ type: 'ReadResponse', to: { persona: 'maid-manager', nae: m.source.nae }, scope: 'close-group', payload: record.value }],
        };
      },
    }),
  ],
  actions: [
    action<{ nonce: Uint8Array }, State>({
      type: 'Note',
      payload: nonceCodec,
      apply(p, ctx) {
        ctx.state.notes.push(toHex(p.nonce));
        return undefined;
      },
      owed(p, ctx) {
        ctx.state.owed.push(toHex(p.nonce));
        return undefined;
      },
    }),
    // Counts into the NAE's record (a DataManager's AddSubscriber): nothing to count into without one.
    action<{ nonce: Uint8Array }, State>({
      type: 'Tally',
      payload: nonceCodec,
      apply(_p, ctx, nae) {
        const record = ctx.state.records.get(idOf(nae, KEY));
        if (record) ctx.state.records.set(idOf(nae, KEY), { ...record, value: Buffer.concat([record.value, Buffer.from('+')]) });
        return undefined;
      },
    }),
    // Deletes the NAE's record; only a member that has it can tell whoever must hear of it.
    action<{ nonce: Uint8Array }, State>({
      type: 'Erase',
      payload: nonceCodec,
      apply(_p, ctx, nae) {
        if (ctx.state.records.delete(idOf(nae, KEY))) ctx.state.erased.push(toHex(nae));
        return undefined;
      },
    }),
  ],
  records: {
    async *list(ctx) {
      const all = [...ctx.state.records.values()];
      // In batches of 3, to exercise batched listing.
      for (let i = 0; i < all.length; i += 3) yield all.slice(i, i + 3).map((r) => ({ nae: r.nae, key: r.key }));
    },
    async read(ctx, nae, key) {
      return ctx.state.records.get(idOf(nae, key))?.value;
    },
    async write(ctx, nae, key, value) {
      ctx.state.records.set(idOf(nae, key), { nae, key, value });
      ctx.state.written.push(`${idOf(nae, key)}=${Buffer.from(value).toString()}`);
    },
    async drop(ctx, nae, key) {
      ctx.state.records.delete(idOf(nae, key));
      ctx.state.dropped.push(idOf(nae, key));
    },
  },
};

// ---- eight members, a newcomer, and records spread over their close groups ----

const K = 4;
const baseParams: GroupParameters = { ...DEFAULT_GROUP_PARAMETERS, closeGroupSize: K };
const seeded = (persona: number, i: number) =>
  identityFromSeed(Uint8Array.from({ length: 32 }, (_, j) => (j === 0 ? persona : j === 1 ? i : 3)));
const members = Array.from({ length: 8 }, (_, i) => seeded(1, i));
const newcomer = seeded(1, 100);
const maidManagers = Array.from({ length: 6 }, (_, i) => seeded(2, i));
const info = (identity: Identity, persona: NodeInfo['persona'] = 'data-manager'): NodeInfo => ({
  persona,
  name: identity.name,
  publicKey: identity.publicKey,
});
const before = new RoutingTable([...members.map((m) => info(m)), ...maidManagers.map((m) => info(m, 'maid-manager'))]);
const after = before.with(info(newcomer));
const NAES = Array.from({ length: 40 }, (_, i) => sha512(Uint8Array.of(i)) as Name);
const KEY = Uint8Array.of(7);
const recordValue = (nae: Name) => Buffer.from(`value-${toHex(nae).slice(0, 8)}`);
const groupOf = (routing: RoutingTable, nae: Name) => routing.view('data-manager').closeGroup(nae, K);
const has = (names: readonly Name[], identity: Identity) => names.some((n) => nameEquals(n, identity.name));
/** NAEs whose close group the newcomer enters. */
const joined = NAES.filter((nae) => has(groupOf(after, nae), newcomer));

interface Sent {
  readonly from: Name;
  readonly envelope: Envelope;
}

function network(params: GroupParameters = baseParams) {
  const clock = new VirtualClock();
  const sent: Sent[] = [];
  // What the replicas counted, as `metric{result}` → total.
  const counted = new Map<string, number>();
  const telemetry: Telemetry = {
    ...noTelemetry,
    count(metric, labels, by = 1) {
      const key = `${metric}{${labels.result ?? ''}}`;
      counted.set(key, (counted.get(key) ?? 0) + by);
    },
  };
  const replicas = new Map<string, Replica<State>>();
  const votes = new Map<string, MemoryEntryStore<TransferVotes>>();
  const make = (identity: Identity, routing: RoutingTable) => {
    const transfer = new MemoryEntryStore<TransferVotes>();
    votes.set(toHex(identity.name), transfer);
    const state: State = { records: new Map(), written: [], dropped: [], notes: [], owed: [], erased: [] };
    for (const nae of NAES)
      if (has(groupOf(routing, nae), identity)) state.records.set(idOf(nae, KEY), { nae, key: KEY, value: recordValue(nae) });
    if (identity === newcomer) state.records.clear();
    const replica = new Replica<State>({
      definition,
      identity,
      params,
      state,
      routing,
      transport: { send: (envelope) => void sent.push({ from: identity.name, envelope }) },
      stores: {
        accumulator: new MemoryAccumulatorStore(clock),
        firewall: new MemoryFirewallStore(clock),
        sync: new MemoryEntryStore<SyncEntry>(),
        transfer,
      },
      clock,
      telemetry,
    });
    replicas.set(toHex(identity.name), replica);
    return replica;
  };
  for (const member of members) make(member, before);
  const fresh = make(newcomer, after);
  const replicaOf = (identity: Identity) => replicas.get(toHex(identity.name)) as Replica<State>;
  const transfers = () => sent.filter((s) => s.envelope.type === ACCOUNT_TRANSFER_MESSAGE);
  const join = async () => {
    for (const member of members) await replicaOf(member).updateRouting(after);
  };
  const transferVotes = (replica: Replica<State>) => (votes.get(toHex(replica.name)) as MemoryEntryStore<TransferVotes>).keys();
  return { clock, sent, counted, replicas, replicaOf, fresh, transfers, join, transferVotes };
}

const decode = (envelope: Envelope): AccountTransferBatch => accountTransferBatchCodec.decode(envelope.payload);
const pairs = (list: readonly Sent[]) =>
  list.flatMap((s) => decode(s.envelope).records.map((r) => `${toHex(s.from).slice(0, 8)}→${toHex(r.nae).slice(0, 8)}`)).sort();

/** A batch signed by `from`, addressed to `to`, with one record per (nae, value). */
function batch(from: Identity, to: Identity, records: [Name, string][], source = from.name): Envelope {
  return sealEnvelope(
    {
      type: ACCOUNT_TRANSFER_MESSAGE,
      source: { persona: 'data-manager', nae: source },
      authority: 'single',
      destination: { persona: 'data-manager', nae: to.name },
      scope: 'node',
      payload: accountTransferBatchCodec.encode({
        records: records.map(([nae, value]) => ({ nae, key: KEY, value: Buffer.from(value), applied: [] })),
        entries: [],
      }),
      correlation: new Uint8Array(0),
    },
    from,
  );
}

function rejectedWith(result: ReceiveResult, type: new (...args: never[]) => SafeError): void {
  expect(typeof result).toBe('object');
  expect((result as { rejected: SafeError }).rejected).toBeInstanceOf(type);
}

describe('account transfer in the runtime: a join', () => {
  it('makes every old member send each record the newcomer is now responsible for, and nothing else', async () => {
    expect(joined.length).toBeGreaterThan(5);
    const net = network();
    await net.join();
    const expected = joined.flatMap((nae) => groupOf(before, nae).map((m) => `${toHex(m).slice(0, 8)}→${toHex(nae).slice(0, 8)}`)).sort();
    expect(pairs(net.transfers())).toEqual(expected);
    for (const { envelope } of net.transfers()) {
      expect(envelope.destination).toEqual({ persona: 'data-manager', nae: newcomer.name });
      expect(envelope.scope).toBe('node');
      expect(envelope.authority).toBe('single');
      expect(decode(envelope).records.every((r) => Buffer.from(r.value).equals(recordValue(r.nae as Name)))).toBe(true);
    }
    // The member the join displaced keeps the record until its next tick (a leave right after the
    // join could make it a holder again), then drops it; nobody else drops anything.
    for (const member of members) {
      const replica = net.replicaOf(member);
      expect(replica.state.dropped).toEqual([]);
      expect(replica.pendingTransfers).toBe(
        NAES.filter((nae) => has(groupOf(before, nae), member) && !has(groupOf(after, nae), member)).length,
      );
      await replica.tick();
    }
    for (const member of members) {
      const replica = net.replicaOf(member);
      const displaced = NAES.filter((nae) => has(groupOf(before, nae), member) && !has(groupOf(after, nae), member));
      expect(replica.state.dropped.sort()).toEqual(displaced.map((nae) => idOf(nae, KEY)).sort());
      for (const nae of NAES) expect(replica.state.records.has(idOf(nae, KEY))).toBe(has(groupOf(after, nae), member));
    }
    expect(net.replicaOf(members[0] as Identity).pendingTransfers).toBe(0);
  });

  it(`the newcomer writes each record exactly once, when ${transferAgreement(baseParams)} members sent the same value`, async () => {
    const net = network();
    await net.join();
    const seen = new Map<string, number>();
    for (const { envelope } of net.transfers()) {
      expect(await net.fresh.receive(envelope)).toBe('transferred');
      for (const record of decode(envelope).records) {
        const id = idOf(record.nae, KEY);
        seen.set(id, (seen.get(id) ?? 0) + 1);
        const expectWritten = (seen.get(id) ?? 0) >= transferAgreement(baseParams);
        expect(net.fresh.state.records.has(id)).toBe(expectWritten);
      }
    }
    expect(net.fresh.state.written.sort()).toEqual(joined.map((nae) => `${idOf(nae, KEY)}=${recordValue(nae).toString()}`).sort());
    // Delivered again (a duplicated copy): nothing is written twice.
    for (const { envelope } of net.transfers()) await net.fresh.receive(envelope);
    expect(net.fresh.state.written).toHaveLength(joined.length);
  });

  it('a minority value is never written; two disagreeing members write nothing', async () => {
    const net = network();
    const [first, second] = joined as [Name, Name];
    const [a, b, c] = groupOf(before, first).map((n) => members.find((m) => nameEquals(m.name, n))) as [Identity, Identity, Identity];
    expect(await net.fresh.receive(batch(a, newcomer, [[first, 'minority']]))).toBe('transferred');
    expect(await net.fresh.receive(batch(b, newcomer, [[first, 'majority']]))).toBe('transferred');
    expect(net.fresh.state.written).toEqual([]);
    expect(await net.fresh.receive(batch(c, newcomer, [[first, 'majority']]))).toBe('transferred');
    expect(net.fresh.state.written).toEqual([`${idOf(first, KEY)}=majority`]);
    // Once written, a late copy of any value changes nothing.
    const [, , , d] = groupOf(before, first).map((n) => members.find((m) => nameEquals(m.name, n))) as Identity[];
    await net.fresh.receive(batch(d as Identity, newcomer, [[first, 'minority']]));
    expect(net.fresh.state.written).toHaveLength(1);

    const [x, y] = groupOf(before, second).map((n) => members.find((m) => nameEquals(m.name, n))) as [Identity, Identity];
    await net.fresh.receive(batch(x, newcomer, [[second, 'one']]));
    await net.fresh.receive(batch(y, newcomer, [[second, 'other']]));
    // The same sender again, with the value the other sent: one vote per sender.
    await net.fresh.receive(batch(x, newcomer, [[second, 'other']]));
    expect(net.fresh.state.written).toHaveLength(1);
    expect(net.fresh.state.records.has(idOf(second, KEY))).toBe(false);
  });

  it('rejects a sender outside the K+1 closest, a record the receiver is not responsible for, and bad envelopes, changing nothing', async () => {
    const net = network();
    const [nae] = joined as [Name];
    const closest = after.view('data-manager').closeGroup(nae, K + 1);
    const outsider = members.find((m) => !has(closest, m)) as Identity;
    const insider = members.find((m) => has(groupOf(before, nae), m)) as Identity;
    rejectedWith(await net.fresh.receive(batch(outsider, newcomer, [[nae, 'v']])), SenderNotInGroupError);
    rejectedWith(await net.fresh.receive(batch(outsider, newcomer, [[nae, 'v']])), SenderNotInGroupError);
    // A NAE whose close group the newcomer is not in.
    const elsewhere = NAES.find((n) => !has(groupOf(after, n), newcomer)) as Name;
    const itsMember = members.find((m) => has(groupOf(after, elsewhere), m)) as Identity;
    rejectedWith(await net.fresh.receive(batch(itsMember, newcomer, [[elsewhere, 'v']])), NotResponsibleError);
    // Not from a member speaking for itself; not this persona; a bad signature.
    rejectedWith(await net.fresh.receive(batch(insider, newcomer, [[nae, 'v']], nae)), WrongSourceError);
    rejectedWith(await net.fresh.receive(batch(maidManagers[0] as Identity, newcomer, [[nae, 'v']])), SenderNotInGroupError);
    const good = batch(insider, newcomer, [[nae, 'v']]);
    const signature = new Uint8Array(good.signature);
    signature[3] = (signature[3] as number) ^ 1;
    rejectedWith(await net.fresh.receive({ ...good, signature }), BadSignatureError);
    expect(net.fresh.state.written).toEqual([]);
    expect(await net.transferVotes(net.fresh)).toEqual([]);
    // None of it counted: one valid member's copy is still one vote short.
    expect(await net.fresh.receive(good)).toBe('transferred');
    expect(net.fresh.state.written).toEqual([]);
  });
});

describe('account transfer in the runtime: pulling a record whose copies did not agree', () => {
  const pullMs = 5_000;
  const params: GroupParameters = { ...baseParams, transferPullMs: pullMs };
  const pulls = (list: readonly Sent[]) => list.filter((s) => s.envelope.type === ACCOUNT_PULL_MESSAGE);
  function pull(from: Identity, to: Identity, naes: readonly Uint8Array[]): Envelope {
    return sealEnvelope(
      {
        type: ACCOUNT_PULL_MESSAGE,
        source: { persona: 'data-manager', nae: from.name },
        authority: 'single',
        destination: { persona: 'data-manager', nae: to.name },
        scope: 'node',
        payload: accountPullCodec.encode({ records: naes.map((nae) => ({ nae, key: KEY })) }),
        correlation: new Uint8Array(0),
      },
      from,
    );
  }

  it('forgets the votes after transferPullMs, asks the close group again, and writes the value they then agree on', async () => {
    const net = network(params);
    await net.join();
    const [nae] = joined as [Name];
    const [a, b] = groupOf(before, nae).map((n) => members.find((m) => nameEquals(m.name, n))) as [Identity, Identity];
    // The value changed under the senders while they sent it: two copies, two values, no agreement.
    await net.fresh.receive(batch(a, newcomer, [[nae, 'old']]));
    await net.fresh.receive(batch(b, newcomer, [[nae, 'new']]));
    expect(net.fresh.state.written).toEqual([]);
    net.sent.length = 0;
    net.clock.advance(pullMs - 1);
    await net.fresh.tick();
    expect(pulls(net.sent)).toEqual([]);

    net.clock.advance(1);
    await net.fresh.tick();
    const asked = pulls(net.sent);
    const others = groupOf(after, nae).filter((n) => !nameEquals(n, newcomer.name));
    expect(asked.map((s) => toHex(s.envelope.destination.nae)).sort()).toEqual(others.map(toHex).sort());
    for (const { envelope } of asked) {
      expect(envelope.scope).toBe('node');
      expect(accountPullCodec.decode(envelope.payload).records.map((r) => toHex(r.nae))).toEqual([toHex(nae)]);
    }
    expect(await net.transferVotes(net.fresh)).not.toContain(idOf(nae, KEY));

    // Each member that holds the record answers with it; the newcomer writes the value they agree on, once.
    net.sent.length = 0;
    for (const { envelope } of asked)
      expect(await net.replicas.get(toHex(envelope.destination.nae))?.receive(envelope)).toBe('transferred');
    const answers = net.transfers();
    expect(answers.length).toBe(others.length);
    for (const { envelope } of answers) await net.fresh.receive(envelope);
    expect(net.fresh.state.written).toEqual([`${idOf(nae, KEY)}=${recordValue(nae).toString()}`]);
    // Agreed: nothing is pulled again.
    net.sent.length = 0;
    net.clock.advance(pullMs);
    await net.fresh.tick();
    expect(pulls(net.sent)).toEqual([]);
  });

  it('a pull from outside the close group, for another persona, or malformed is rejected and queues nothing', async () => {
    const net = network(params);
    await net.join();
    const [nae] = joined as [Name];
    const member = members.find((m) => has(groupOf(after, nae), m)) as Identity;
    const outsider = members.find((m) => !has(groupOf(after, nae), m)) as Identity;
    const replica = net.replicaOf(member);
    await replica.tick();
    const pending = replica.pendingTransfers;
    net.sent.length = 0;
    rejectedWith(await replica.receive(pull(outsider, member, [nae])), SenderNotInGroupError);
    // One good reference and one bad: the bad one refuses the whole pull.
    rejectedWith(await replica.receive(pull(newcomer, member, [nae, Uint8Array.of(1, 2)])), MalformedPayloadError);
    rejectedWith(await replica.receive(pull(maidManagers[0] as Identity, member, [nae])), SenderNotInGroupError);
    expect(replica.pendingTransfers).toBe(pending);
    expect(net.transfers()).toEqual([]);
  });
});

describe('account transfer in the runtime: batches and churn', () => {
  const limited: GroupParameters = { ...baseParams, transferBatchRecords: 2, transferBatchesPerTick: 1 };
  const busiest = () => {
    const counts = members.map((m) => joined.filter((nae) => has(groupOf(before, nae), m)).length);
    const best = counts.indexOf(Math.max(...counts));
    return { member: members[best] as Identity, count: counts[best] as number };
  };

  it('sends at most the per-tick number of batches of the batch size, and drains the rest over later ticks', async () => {
    const { member, count } = busiest();
    expect(count).toBeGreaterThanOrEqual(5);
    const net = network(limited);
    const replica = net.replicaOf(member);
    await replica.updateRouting(after);
    const mine = () => net.transfers().filter((s) => nameEquals(s.from, member.name));
    expect(mine()).toHaveLength(1);
    expect(decode((mine()[0] as Sent).envelope).records).toHaveLength(2);
    expect(replica.pendingTransfers).toBeGreaterThan(0);
    // A record this member leaves is dropped only once it has been sent.
    const leaving = joined.filter((nae) => has(groupOf(before, nae), member) && !has(groupOf(after, nae), member));
    let ticks = 0;
    while (replica.pendingTransfers > 0) {
      const beforeTick = mine().length;
      await replica.tick();
      ticks++;
      expect(mine().length - beforeTick).toBeLessThanOrEqual(1);
      expect(decode((mine().at(-1) as Sent).envelope).records.length).toBeLessThanOrEqual(2);
      // Never dropped before it was sent.
      const sentSoFar = new Set(mine().flatMap((s) => decode(s.envelope).records.map((r) => toHex(r.nae))));
      for (const nae of leaving) if (!sentSoFar.has(toHex(nae))) expect(replica.state.records.has(idOf(nae, KEY))).toBe(true);
    }
    expect(ticks).toBe(Math.ceil(count / 2) - 1);
    expect(
      mine()
        .flatMap((s) => decode(s.envelope).records.map((r) => toHex(r.nae)))
        .sort(),
    ).toEqual(
      joined
        .filter((nae) => has(groupOf(before, nae), member))
        .map(toHex)
        .sort(),
    );
    for (const nae of leaving) expect(replica.state.records.has(idOf(nae, KEY))).toBe(false);
  });

  it('bounds a message by bytes too: large records travel a few (or one) a message, and one no message can carry is reported once', async () => {
    const { member, count } = busiest();
    const net = network();
    const replica = net.replicaOf(member);
    const mineJoined = joined.filter((nae) => has(groupOf(before, nae), member));
    // 1.5 MiB values (two fill a batch), and one over what any transfer message carries.
    const [huge, ...large] = mineJoined as [Name, ...Name[]];
    for (const nae of large) replica.state.records.set(idOf(nae, KEY), { nae, key: KEY, value: Buffer.alloc(1536 * 1024, 1) });
    replica.state.records.set(idOf(huge, KEY), { nae: huge, key: KEY, value: Buffer.alloc(TRANSFER_MESSAGE_BYTES, 2) });
    await replica.updateRouting(after);
    while (replica.pendingTransfers > 0) await replica.tick();
    const mine = net.transfers().filter((s) => nameEquals(s.from, member.name));
    expect(count).toBe(mineJoined.length);
    expect(mine.length).toBeGreaterThanOrEqual(Math.ceil(large.length / 2));
    for (const { envelope } of mine) {
      expect(envelope.payload.length).toBeLessThanOrEqual(TRANSFER_MESSAGE_BYTES);
      expect(decode(envelope).records.length).toBeLessThanOrEqual(2);
    }
    const sentNaes = mine.flatMap((s) => decode(s.envelope).records.map((r) => toHex(r.nae)));
    expect(sentNaes.sort()).toEqual(large.map(toHex).sort());
    expect(net.counted.get('safe_transfer_records_total{too-large}')).toBe(1);
  });

  it('coalesces: records queued for a newcomer that left again are not sent, and nothing is dropped', async () => {
    const { member } = busiest();
    const net = network(limited);
    const replica = net.replicaOf(member);
    const held = [...replica.state.records.keys()].sort();
    await replica.updateRouting(after);
    expect(replica.pendingTransfers).toBeGreaterThan(0);
    const toNewcomer = () => net.transfers().filter((s) => nameEquals(s.envelope.destination.nae, newcomer.name)).length;
    const sentBefore = toNewcomer();
    expect(sentBefore).toBe(1);
    await replica.updateRouting(before);
    while (replica.pendingTransfers > 0) await replica.tick();
    // (The members the join had displaced re-enter their groups and are sent those records.)
    expect(toNewcomer()).toBe(sentBefore);
    // Responsible again for what it was about to leave: it keeps every record it held (one batch may have gone out).
    expect([...replica.state.records.keys()].sort()).toEqual(held);
  });

  it('a member a join displaced, brought back by a leave before its next tick, still has the record', async () => {
    const net = network();
    const [nae] = joined as [Name];
    const displaced = groupOf(before, nae).find((m) => !groupOf(after, nae).some((n) => nameEquals(n, m))) as Name;
    const leaver = groupOf(after, nae).find((m) => !nameEquals(m, newcomer.name)) as Name;
    const afterLeave = after.without('data-manager', leaver);
    expect(groupOf(afterLeave, nae).some((m) => nameEquals(m, displaced))).toBe(true);
    await net.join();
    for (const replica of net.replicas.values()) if (!nameEquals(replica.name, leaver)) await replica.updateRouting(afterLeave);
    for (const replica of net.replicas.values())
      if (!nameEquals(replica.name, leaver)) while (replica.pendingTransfers > 0) await replica.tick();
    const back = net.replicas.get(toHex(displaced)) as Replica<State>;
    expect(back.state.records.get(idOf(nae, KEY))?.value).toEqual(recordValue(nae));
    expect(back.state.dropped).not.toContain(idOf(nae, KEY));
  });

  it('a leave: the remaining members hand each record to the node that now enters its close group', async () => {
    const net = network();
    const leaver = members[0] as Identity;
    const without = before.without('data-manager', leaver.name);
    const affected = NAES.filter((nae) => has(groupOf(before, nae), leaver));
    expect(affected.length).toBeGreaterThan(3);
    for (const member of members.slice(1)) await net.replicaOf(member).updateRouting(without);
    const expected = affected
      .flatMap((nae) => {
        const [entering] = groupOf(without, nae).filter((n) => !groupOf(before, nae).some((o) => nameEquals(o, n)));
        return groupOf(before, nae)
          .filter((m) => !nameEquals(m, leaver.name))
          .map((m) => `${toHex(m).slice(0, 8)}→${toHex(nae).slice(0, 8)}@${toHex(entering as Name).slice(0, 8)}`);
      })
      .sort();
    const got = net
      .transfers()
      .flatMap((s) =>
        decode(s.envelope).records.map(
          (r) => `${toHex(s.from).slice(0, 8)}→${toHex(r.nae).slice(0, 8)}@${toHex(s.envelope.destination.nae).slice(0, 8)}`,
        ),
      )
      .sort();
    expect(got).toEqual(expected);
    // Each entering node writes the record once (K−1 = 3 senders, 2 agree).
    for (const { envelope } of net.transfers()) {
      const target = net.replicas.get(toHex(envelope.destination.nae)) as Replica<State>;
      expect(await target.receive(envelope)).toBe('transferred');
    }
    for (const nae of affected) {
      for (const holder of groupOf(without, nae)) {
        const state = (net.replicas.get(toHex(holder)) as Replica<State>).state;
        expect(state.records.get(idOf(nae, KEY))?.value).toEqual(recordValue(nae));
        expect(state.written.filter((w) => w.startsWith(idOf(nae, KEY)))).toHaveLength(
          groupOf(before, nae).some((o) => nameEquals(o, holder)) ? 0 : 1,
        );
      }
    }
  });

  it('hands over unresolved sync entries: the newcomer adopts them, adds itself and applies the action once a majority has seen it', async () => {
    const net = network();
    const [nae] = joined as [Name];
    const copies = noteCopies(nae);
    // Every old member handles the Note and proposes it; their Sync messages are lost: unresolved everywhere.
    for (const m of groupOf(before, nae))
      for (const copy of copies.slice(0, K - 1)) await (net.replicas.get(toHex(m)) as Replica<State>).receive(copy);
    net.sent.splice(0, net.sent.length, ...net.sent.filter((s) => s.envelope.type !== SYNC_MESSAGE));
    await net.join();
    const toNewcomer = net.transfers().filter((s) => decode(s.envelope).records.some((r) => nameEquals(r.nae, nae)));
    expect(toNewcomer).toHaveLength(K);
    for (const s of toNewcomer) expect(decode(s.envelope).entries.filter((e) => nameEquals(e.nae, nae))).toHaveLength(1);
    for (const s of toNewcomer) await net.fresh.receive(s.envelope);
    expect(net.fresh.state.records.has(idOf(nae, KEY))).toBe(true);
    // The first copy arrives before the record is agreed (not adopted); the next ones bring the
    // members that saw it, up to floor(K/2)+1 with the newcomer itself: applied once.
    expect(net.fresh.state.notes).toEqual(['77']);
  });

  it("hands an NAE's unresolved entries to the newcomer on their own while the NAE has no record yet, and the newcomer's Sync completes a member that stayed", async () => {
    const net = network();
    const [nae] = joined as [Name];
    // The action being agreed is the one that would create the NAE's first record: none anywhere yet.
    for (const replica of net.replicas.values()) replica.state.records.delete(idOf(nae, KEY));
    const old = groupOf(before, nae);
    const stays = old.filter((m) => groupOf(after, nae).some((n) => nameEquals(n, m)));
    const [pushedOut] = old.filter((m) => !stays.some((n) => nameEquals(n, m))) as [Name];
    const [a, b] = stays as [Name, Name];
    const replica = (name: Name) => net.replicas.get(toHex(name)) as Replica<State>;
    // a, b and the member the join pushes out see the Note; only b's Sync reaches a, which is at 2 of 3.
    for (const m of [a, b, pushedOut]) for (const copy of noteCopies(nae).slice(0, K - 1)) await replica(m).receive(copy);
    const bToA = net.sent.find(
      (s) => s.envelope.type === SYNC_MESSAGE && nameEquals(s.from, b) && nameEquals(s.envelope.destination.nae, a),
    ) as Sent;
    await replica(a).receive(bToA.envelope);
    expect(replica(a).state.notes).toEqual([]);
    net.sent.length = 0;

    await net.join();
    const toNewcomer = net.transfers().filter((s) => nameEquals(s.envelope.destination.nae, newcomer.name));
    const carrying = toNewcomer.filter((s) => decode(s.envelope).entries.some((e) => nameEquals(e.nae, nae)));
    expect(carrying.map((s) => toHex(s.from)).sort()).toEqual([a, b, pushedOut].map(toHex).sort());
    for (const s of carrying) expect(decode(s.envelope).records.some((r) => nameEquals(r.nae, nae))).toBe(false);
    for (const s of toNewcomer) await net.fresh.receive(s.envelope);
    expect(net.fresh.state.notes).toEqual(['77']);

    // The newcomer has seen the action now: it tells the group, once, and a is at 3 of 3.
    const syncs = net.sent.filter((s) => s.envelope.type === SYNC_MESSAGE && nameEquals(s.from, newcomer.name));
    const others = groupOf(after, nae).filter((m) => !nameEquals(m, newcomer.name));
    expect(syncs.map((s) => toHex(s.envelope.destination.nae)).sort()).toEqual(others.map(toHex).sort());
    await replica(a).receive((syncs.find((s) => nameEquals(s.envelope.destination.nae, a)) as Sent).envelope);
    expect(replica(a).state.notes).toEqual(['77']);
  });

  it('a record whose agreeing senders had applied an action takes it as applied: the copy still unresolved at another sender is not applied on top, and what it owes is carried out once', async () => {
    const net = network();
    const [nae] = joined as [Name];
    const old = groupOf(before, nae);
    // m4 stays in the group; m1 is the member the join pushes out (it still hands its records over).
    const stays = old.filter((m) => groupOf(after, nae).some((n) => nameEquals(n, m)));
    const [m1] = old.filter((m) => !stays.includes(m)) as [Name];
    const [m2, m3, m4] = stays as [Name, Name, Name];
    const replica = (name: Name) => net.replicas.get(toHex(name)) as Replica<State>;
    const syncFrom = (from: Name, to: Name) =>
      (
        net.sent.find(
          (s) => s.envelope.type === SYNC_MESSAGE && nameEquals(s.from, from) && nameEquals(s.envelope.destination.nae, to),
        ) as Sent
      ).envelope;
    for (const m of old) for (const copy of noteCopies(nae).slice(0, K - 1)) await replica(m).receive(copy);
    // m1..m3 see each other's Syncs and apply the Note; m4 sees only m2's and is at 2 of 3.
    for (const to of [m1, m2, m3]) for (const from of [m1, m2, m3]) if (to !== from) await replica(to).receive(syncFrom(from, to));
    await replica(m4).receive(syncFrom(m2, m4));
    for (const m of [m1, m2, m3]) expect(replica(m).state.notes).toEqual(['77']);
    expect(replica(m4).state.notes).toEqual([]);
    net.sent.length = 0;

    await net.join();
    const batchFrom = (from: Name) =>
      net.transfers().find((s) => nameEquals(s.from, from) && decode(s.envelope).records.some((r) => nameEquals(r.nae, nae))) as Sent;
    expect(
      decode(batchFrom(m1).envelope)
        .records.find((r) => nameEquals(r.nae, nae))
        ?.applied?.map((a) => a.action),
    ).toEqual(['Note']);
    expect(decode(batchFrom(m4).envelope).entries.filter((e) => nameEquals(e.nae, nae))).toHaveLength(1);
    await net.fresh.receive(batchFrom(m1).envelope);
    await net.fresh.receive(batchFrom(m2).envelope);
    expect(net.fresh.state.records.has(idOf(nae, KEY))).toBe(true);
    // m4's entry (seen by m4 and m2, and now the newcomer) would resolve here: its effect is in the record already.
    await net.fresh.receive(batchFrom(m4).envelope);
    expect(net.fresh.state.notes).toEqual([]);
    // What the Note owes (its answers) is carried out once, when the record is written.
    expect(net.fresh.state.owed).toEqual(['77']);
    await net.fresh.receive(batchFrom(m3).envelope);
    expect(net.fresh.state.owed).toEqual(['77']);
  });

  it("the newcomer's own proposal, which the members only received, does not come back from them as a majority: never applied on top of the record", async () => {
    // Records drain over ticks, so the newcomer handles a request before its record arrives (as a
    // DataManager that proposes CreateRecord for a re-Put the others count with AddSubscriber).
    const net = network({ ...baseParams, transferBatchRecords: 1, transferBatchesPerTick: 1 });
    const nae = joined.at(-1) as Name;
    await net.join();
    const carries = (s: Sent) => decode(s.envelope).records.some((r) => nameEquals(r.nae, nae));
    expect(net.transfers().filter(carries)).toEqual([]);
    const stays = groupOf(after, nae).filter((m) => !nameEquals(m, newcomer.name));
    // Only the newcomer handles the Note; each member that stays gets its Sync.
    for (const copy of noteCopies(nae).slice(0, K - 1)) await net.fresh.receive(copy);
    const syncs = net.sent.filter((s) => s.envelope.type === SYNC_MESSAGE && nameEquals(s.from, newcomer.name));
    expect(syncs).toHaveLength(K - 1);
    for (const s of syncs) await (net.replicas.get(toHex(s.envelope.destination.nae)) as Replica<State>).receive(s.envelope);
    for (const m of stays) expect((net.replicas.get(toHex(m)) as Replica<State>).state.notes).toEqual([]);

    for (const member of members) while (net.replicaOf(member).pendingTransfers > 0) await net.replicaOf(member).tick();
    const toNewcomer = net.transfers().filter(carries);
    expect(toNewcomer).toHaveLength(K);
    // The members that stayed hand the entry over, vouching only for the newcomer's proposal.
    const handed = toNewcomer.flatMap((s) => decode(s.envelope).entries.filter((e) => nameEquals(e.nae, nae)));
    expect(handed).toHaveLength(K - 1);
    for (const entry of handed) expect(entry.seenBy.map(toHex)).toEqual([toHex(newcomer.name)]);
    for (const s of toNewcomer) await net.fresh.receive(s.envelope);
    expect(net.fresh.state.records.get(idOf(nae, KEY))?.value).toEqual(recordValue(nae));
    // One member (the newcomer) has seen the Note: not agreed, not applied.
    expect(net.fresh.state.notes).toEqual([]);
  });

  it('an action the newcomer applied before its record came, which the agreed value does not hold yet, is applied again on top of it', async () => {
    const net = network({ ...baseParams, transferBatchRecords: 1, transferBatchesPerTick: 1 });
    const nae = joined.at(-1) as Name;
    const replica = (name: Name) => net.replicas.get(toHex(name)) as Replica<State>;
    await net.join();
    // Every member hands its records over before the Tally: the values it sends do not hold it.
    for (const member of members) while (net.replicaOf(member).pendingTransfers > 0) await net.replicaOf(member).tick();
    const toNewcomer = net.transfers().filter((s) => decode(s.envelope).records.some((r) => nameEquals(r.nae, nae)));
    expect(toNewcomer).toHaveLength(K);
    net.sent.length = 0;
    const stays = groupOf(after, nae).filter((m) => !nameEquals(m, newcomer.name));
    for (const m of stays) for (const copy of noteCopies(nae, 'Tally').slice(0, K - 1)) await replica(m).receive(copy);
    const syncs = net.sent.filter((s) => s.envelope.type === SYNC_MESSAGE);
    // Two members' Syncs reach the newcomer first: agreed there (with itself), with no record to count into.
    for (const s of syncs.filter((s) => nameEquals(s.envelope.destination.nae, newcomer.name)).slice(0, 2))
      await net.fresh.receive(s.envelope);
    expect(net.fresh.state.records.has(idOf(nae, KEY))).toBe(false);
    for (const s of toNewcomer) await net.fresh.receive(s.envelope);
    // The members that stayed agree on it too.
    for (const s of syncs) await replica(s.envelope.destination.nae as Name).receive(s.envelope);
    const counted = `${recordValue(nae).toString()}+`;
    for (const m of stays) expect(Buffer.from(replica(m).state.records.get(idOf(nae, KEY))?.value ?? []).toString()).toBe(counted);
    expect(Buffer.from(net.fresh.state.records.get(idOf(nae, KEY))?.value ?? []).toString()).toBe(counted);
  });

  it('a record still queued for the newcomer when an agreed action deletes it is handed over first, with the action to apply: the newcomer deletes it too', async () => {
    const net = network({ ...baseParams, transferBatchRecords: 1, transferBatchesPerTick: 1 });
    const nae = joined.at(-1) as Name;
    const replica = (name: Name) => net.replicas.get(toHex(name)) as Replica<State>;
    const toNewcomer = () => net.transfers().filter((s) => decode(s.envelope).records.some((r) => nameEquals(r.nae, nae)));
    await net.join();
    // One batch each at the join: the NAE's record waits in every old member's queue.
    expect(toNewcomer()).toHaveLength(0);
    const stays = groupOf(after, nae).filter((m) => !nameEquals(m, newcomer.name));
    for (const m of stays) for (const copy of noteCopies(nae, 'Erase').slice(0, K - 1)) await replica(m).receive(copy);
    const syncs = net.sent.filter((s) => s.envelope.type === SYNC_MESSAGE);
    for (const s of syncs)
      if (!nameEquals(s.envelope.destination.nae, newcomer.name)) await replica(s.envelope.destination.nae as Name).receive(s.envelope);
    for (const m of stays) expect(replica(m).state.erased).toEqual([toHex(nae)]);
    // Each member that erased it sent the record first, as it was, with the Erase still to apply.
    const handed = toNewcomer();
    expect(handed.map((s) => toHex(s.from)).sort()).toEqual(stays.map(toHex).sort());
    for (const s of handed) {
      const sent = decode(s.envelope);
      expect(Buffer.from(sent.records.find((r) => nameEquals(r.nae, nae))?.value ?? []).toString()).toBe(recordValue(nae).toString());
      expect(sent.records.find((r) => nameEquals(r.nae, nae))?.applied ?? []).toEqual([]);
      expect(sent.entries.filter((e) => nameEquals(e.nae, nae)).map((e) => e.action)).toEqual(['Erase']);
    }
    for (const s of handed) await net.fresh.receive(s.envelope);
    for (const s of syncs) if (nameEquals(s.envelope.destination.nae, newcomer.name)) await net.fresh.receive(s.envelope);
    expect(net.fresh.state.erased).toEqual([toHex(nae)]);
    expect(net.fresh.state.records.has(idOf(nae, KEY))).toBe(false);
  });
});

describe('a request a newcomer cannot serve before its record comes', () => {
  const readResponses = (net: ReturnType<typeof network>, from: Name) =>
    net.sent
      .filter((s) => s.envelope.type === 'ReadResponse' && nameEquals(s.from, from))
      .map((s) => Buffer.from(s.envelope.payload).toString());
  const entered = async (net: ReturnType<typeof network>) => {
    // The newcomer sees the matrix change that put it in these close groups.
    await net.fresh.updateRouting(before);
    await net.fresh.updateRouting(after);
  };

  it('waits for the record account transfer brings, then is served as if the record had been there', async () => {
    const net = network();
    await entered(net);
    const nae = joined[0] as Name;
    for (const copy of noteCopies(nae, 'Read').slice(0, K - 1)) await net.fresh.receive(copy);
    expect(readResponses(net, newcomer.name)).toEqual([]);
    await net.join();
    for (const { envelope } of net.transfers().filter((s) => decode(s.envelope).records.some((r) => nameEquals(r.nae, nae))))
      await net.fresh.receive(envelope);
    expect(readResponses(net, newcomer.name)).toEqual([recordValue(nae).toString()]);
    // Served once: a tick past the wait sends nothing more.
    net.clock.advance(10_000);
    await net.fresh.tick();
    expect(readResponses(net, newcomer.name)).toHaveLength(1);
    expect(net.counted.get('safe_record_awaits_total{held}')).toBe(1);
    expect(net.counted.get('safe_record_awaits_total{record-written}')).toBe(1);
    expect(net.counted.has('safe_record_awaits_total{expired}')).toBe(false);
  });

  it('is refused once the wait is over without the record, and at once by a member that was in the group all along', async () => {
    const net = network({ ...baseParams, awaitRecordMs: 2_000 });
    await entered(net);
    const nae = sha512(Uint8Array.of(200)) as Name;
    expect(has(groupOf(after, nae), newcomer)).toBe(true);
    for (const copy of noteCopies(nae, 'Read').slice(0, K - 1)) expect(await net.fresh.receive(copy)).not.toBe('handled');
    net.clock.advance(1_000);
    await net.fresh.tick();
    expect(net.sent.filter((s) => nameEquals(s.from, newcomer.name) && s.envelope.type !== ACCOUNT_TRANSFER_MESSAGE)).toEqual([]);
    net.clock.advance(1_500);
    await net.fresh.tick();
    // The requester was a group: a refusal is logged, nothing is sent, and the request is gone.
    expect(readResponses(net, newcomer.name)).toEqual([]);
    expect(net.counted.get('safe_record_awaits_total{expired}')).toBe(1);
    await net.join();
    const old = groupOf(before, nae).find((m) => has(groupOf(after, nae), { name: m } as Identity)) as Name;
    const member = net.replicas.get(toHex(old)) as Replica<State>;
    const copies = noteCopies(nae, 'Read').slice(0, K - 1);
    const results = [];
    for (const copy of copies) results.push(await member.receive(copy));
    expect(results.at(-1)).toBe('handled');
  });

  it('is refused at once with the wait turned off, or past the most requests held', async () => {
    for (const params of [{ awaitRecordMs: 0 }, { awaitRecordRequests: 0 }]) {
      const net = network({ ...baseParams, ...params });
      await entered(net);
      const copies = noteCopies(joined[0] as Name, 'Read').slice(0, K - 1);
      const results = [];
      for (const copy of copies) results.push(await net.fresh.receive(copy));
      expect(results.at(-1)).toBe('handled');
    }
  });
});

/** The K copies of a Note (or another request) from the first MaidManager's close group to `nae`. */
function noteCopies(nae: Name, type = 'Note'): Envelope[] {
  const source = maidManagers[0] as Identity;
  return before
    .view('maid-manager')
    .closeGroup(source.name, K)
    .map((n) =>
      sealEnvelope(
        {
          type,
          source: { persona: 'maid-manager', nae: source.name },
          authority: 'group',
          destination: { persona: 'data-manager', nae },
          scope: 'close-group',
          payload: nonceCodec.encode({ nonce: Uint8Array.of(0x77) }),
          correlation: new Uint8Array(0),
        },
        maidManagers.find((m) => nameEquals(m.name, n)) as Identity,
      ),
    );
}
