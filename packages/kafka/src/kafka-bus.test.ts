import { randomBytes } from 'node:crypto';
import {
  CountingTelemetry,
  type Envelope,
  generateIdentity,
  type Logger,
  type Name,
  nameOf,
  partitionOf,
  servedPartitions,
  silentLogger,
  toHex,
} from '@safe/core';
import kafkajs, { type Admin, type Kafka, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokersFromEnv, checkKafka, createKafka } from './connect.js';
import { KafkaGroupConsumer } from './consumer.js';
import type { KafkaGroupConsumerOptions } from './consumer-options.js';
import { batchLength, KafkaProducerTransport } from './producer.js';
import { toKafkaMessage } from './record.js';
import { seqCopy, seqOf } from './test-support.js';
import { ensureTopics, topicFor } from './topics.js';

const { Partitioners } = kafkajs;

// Runs against the real broker (SAFE_KAFKA_BROKERS, default the local stack's 127.0.0.1:19092).
const brokers = brokersFromEnv();
const run = randomBytes(3).toString('hex');
const sender = generateIdentity();
let kafka: Kafka;
let admin: Admin;
let transport: KafkaProducerTransport;
const personas: string[] = [];
const consumers: KafkaGroupConsumer[] = [];

/** A persona-like name of its own for each test, so topics and groups never meet across runs. */
async function freshPersona(label: string, partitions = 3, maxMessageBytes?: number): Promise<string> {
  const persona = `t${run}-${label}`;
  personas.push(persona);
  await ensureTopics(
    admin,
    [persona],
    partitions,
    maxMessageBytes === undefined ? {} : { configEntries: [{ name: 'max.message.bytes', value: String(maxMessageBytes) }] },
  );
  return persona;
}

const keyOf = (e: Envelope) => toHex(e.destination.nae);

const copy = (persona: string, nae: Name, seq: number, trace: Record<string, string> = {}, size = 8): Envelope =>
  seqCopy(sender, persona, nae, seq, trace, size);

const naeOf = (label: string) => nameOf(new TextEncoder().encode(`${run}-${label}`));

interface Collector {
  readonly consumer: KafkaGroupConsumer;
  readonly got: Envelope[];
  /** Resolves once `n` copies arrived in all; rejects after `ms`. */
  until(n: number, ms?: number): Promise<void>;
}

async function collect(
  persona: string,
  nodeName: Uint8Array,
  options: Partial<KafkaGroupConsumerOptions> & { deliver?: (e: Envelope, got: Envelope[]) => Promise<void> } = {},
): Promise<Collector> {
  const got: Envelope[] = [];
  const waiters: (() => void)[] = [];
  const consumer = new KafkaGroupConsumer({ brokers, persona, nodeName, fromBeginning: true, maxWaitTimeMs: 500, ...options });
  consumers.push(consumer);
  await consumer.start(async (envelope) => {
    if (options.deliver) await options.deliver(envelope, got);
    got.push(envelope);
    for (const wake of waiters.splice(0)) wake();
  });
  const until = async (n: number, ms = 20_000) => {
    const deadline = Date.now() + ms;
    while (got.length < n) {
      if (Date.now() > deadline) throw new Error(`expected ${n} copies, got ${got.length} within ${ms} ms`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  };
  return { consumer, got, until };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  kafka = createKafka({ brokers, clientId: 'safe-kafka-tests' });
  await checkKafka(kafka, brokers).catch((error: Error) => {
    throw new Error(
      `${error.message}\nThe Kafka adapter tests need a broker: run 'bash scripts/stack/stack.sh up' or set SAFE_KAFKA_BROKERS.`,
    );
  });
  admin = kafka.admin();
  await admin.connect();
  transport = new KafkaProducerTransport({ brokers, clientId: 'safe-kafka-tests' });
  await transport.start();
}, 30_000);

afterAll(async () => {
  await Promise.all(consumers.map((c) => c.stop()));
  await transport?.stop();
  if (admin) {
    if (personas.length > 0) await admin.deleteTopics({ topics: personas.map((persona) => topicFor(persona)) }).catch(() => {});
    await admin.disconnect();
  }
}, 30_000);

describe('batchLength: what one produce request takes from the queue', () => {
  const queued = (...sizes: number[]) => sizes.map((size) => ({ message: { key: null, value: Buffer.alloc(size) } }));
  it('stops before the copy that would go over the bytes, or at the most copies', () => {
    expect(batchLength(queued(3, 3, 3, 3), 10, 7)).toBe(2);
    expect(batchLength(queued(3, 3, 3, 3), 3, 100)).toBe(3);
    expect(batchLength(queued(3, 4), 10, 7)).toBe(2);
    expect(batchLength([], 10, 7)).toBe(0);
  });
  it('always takes at least one copy, however large (the broker judges it)', () => {
    expect(batchLength(queued(50, 1), 10, 7)).toBe(1);
  });
});

describe('KafkaGroupConsumer with KafkaProducerTransport on the real broker', () => {
  it('keeps send order per key: 200 copies for 3 interleaved keys', async () => {
    const persona = await freshPersona('order');
    const keys = [naeOf('a'), naeOf('b'), naeOf('c')];
    const trace = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
    const sent = Array.from({ length: 200 }, (_, i) => copy(persona, keys[i % 3] as Name, i, trace));
    const c = await collect(persona, generateIdentity().name);
    // Concurrent sends: the transport must still put them on the wire in call order.
    await Promise.all(sent.map((e) => transport.send(e)));
    await c.until(200);
    for (const key of keys.map(toHex)) {
      const want = sent.filter((e) => keyOf(e) === key).map(seqOf);
      expect(c.got.filter((e) => keyOf(e) === key).map(seqOf)).toEqual(want);
    }
    expect(c.got[0]?.trace).toEqual(trace);
    expect(c.got[0]?.id).toEqual(sent.find((e) => seqOf(e) === seqOf(c.got[0] as Envelope))?.id);
    await c.consumer.stop();
  });

  it("sends a burst of chunk-sized copies for one NAE that together exceed the topic's max.message.bytes, in order", async () => {
    // The persona topics take at most 8 MiB per record batch; one partition's part of a produce request is one batch.
    const burst = (persona: string) => Array.from({ length: 12 }, (_, i) => copy(persona, naeOf('large'), i, {}, 1024 * 1024));
    const unbounded = new KafkaProducerTransport({
      brokers,
      clientId: 'safe-kafka-tests-unbounded',
      maxBatchBytes: Number.MAX_SAFE_INTEGER,
    });
    await unbounded.start();
    try {
      // Without the bound the copies queued behind the first go as one 11 MiB batch, which the broker refuses whole.
      // Refused for good, not unavailable: the runtime would otherwise owe the copies and send them again and again.
      await expect(
        Promise.all(burst(await freshPersona('large-unbounded', 1, 8 * 1024 * 1024)).map((e) => unbounded.send(e))),
      ).rejects.toMatchObject({ kind: 'resource-exhausted' });
    } finally {
      await unbounded.stop();
    }
    const persona = await freshPersona('large', 1, 8 * 1024 * 1024);
    const sent = burst(persona);
    const c = await collect(persona, generateIdentity().name);
    await Promise.all(sent.map((e) => transport.send(e)));
    await c.until(12, 60_000);
    expect(c.got.map(seqOf)).toEqual(sent.map(seqOf));
    await c.consumer.stop();
  }, 120_000);

  it('skips, logs and counts an undecodable record, and the next good copy still arrives', async () => {
    const persona = await freshPersona('garbage', 1);
    const topic = topicFor(persona);
    const nae = naeOf('g');
    const node = generateIdentity().name;
    const warnings: { obj: object; msg: string | undefined }[] = [];
    const logger: Logger = { ...silentLogger, warn: (obj, msg) => warnings.push({ obj, msg }), child: () => logger };
    const telemetry = new CountingTelemetry();

    const raw: Producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await raw.connect();
    await transport.send(copy(persona, nae, 1));
    await raw.send({ topic, messages: [{ key: toHex(nae), value: Buffer.from('definitely not an envelope') }] });
    await raw.send({ topic, messages: [{ key: toHex(nae), value: null }] });
    await transport.send(copy(persona, nae, 2));
    await raw.disconnect();

    const c = await collect(persona, node, { logger, telemetry });
    await c.until(2);
    expect(c.got.map(seqOf)).toEqual([1, 2]);
    expect(telemetry.total('safe_bus_undecodable_total', { topic })).toBe(2);
    const skipped = warnings.filter((w) => w.msg?.includes('undecodable'));
    expect(skipped.map((w) => w.obj)).toEqual([
      expect.objectContaining({ topic, partition: 0, offset: '1' }),
      expect.objectContaining({ topic, partition: 0, offset: '2' }),
    ]);
    await c.consumer.stop();

    // Committed past: a restart sees neither the garbage nor the good copies again.
    const again = await collect(persona, node, { telemetry });
    await transport.send(copy(persona, nae, 3));
    await again.until(1);
    expect(again.got.map(seqOf)).toEqual([3]);
    expect(telemetry.total('safe_bus_undecodable_total', { topic })).toBe(2);
    await again.consumer.stop();
  });

  it('gives every copy to each replica: two node names, two groups', async () => {
    const persona = await freshPersona('fanout');
    const a = await collect(persona, generateIdentity().name);
    const b = await collect(persona, generateIdentity().name);
    expect(a.consumer.groupId).not.toBe(b.consumer.groupId);
    const sent = Array.from({ length: 60 }, (_, i) => copy(persona, naeOf(`f${i % 7}`), i));
    await Promise.all(sent.map((e) => transport.send(e)));
    await Promise.all([a.until(60), b.until(60)]);
    const sorted = (c: Collector) => c.got.map(seqOf).sort((x, y) => x - y);
    expect(sorted(a)).toEqual(sent.map(seqOf));
    expect(sorted(b)).toEqual(sent.map(seqOf));
    await Promise.all([a.consumer.stop(), b.consumer.stop()]);
  });

  it('starts a new group at the end by default, and a restart still gets what came while it was down', async () => {
    const persona = await freshPersona('latest');
    const node = generateIdentity().name;
    const nae = naeOf('l');
    for (let i = 1; i <= 5; i++) await transport.send(copy(persona, nae, i)); // history, before the node existed

    const first = await collect(persona, node, { fromBeginning: false });
    for (let i = 6; i <= 8; i++) await transport.send(copy(persona, nae, i));
    await first.until(3);
    await pause(300);
    expect(first.got.map(seqOf)).toEqual([6, 7, 8]);
    await first.consumer.stop();

    // While the node is down; partitions that never had a copy for it were pinned at its first start.
    for (let i = 9; i <= 11; i++) await transport.send(copy(persona, naeOf(`other-${i}`), i));
    const second = await collect(persona, node, { fromBeginning: false });
    await second.until(3);
    expect(second.got.map(seqOf).sort((x, y) => x - y)).toEqual([9, 10, 11]);
    await second.consumer.stop();
  });

  it('tries a copy again when deliver rejects, without skipping or reordering', async () => {
    const persona = await freshPersona('retry', 1);
    const nae = naeOf('r');
    const telemetry = new CountingTelemetry();
    let failures = 0;
    const c = await collect(persona, generateIdentity().name, {
      telemetry,
      deliverRetry: { initialMs: 20, maxMs: 100 },
      deliver: async (envelope) => {
        if (seqOf(envelope) === 2 && failures < 3) {
          failures++;
          throw new Error('database briefly unavailable');
        }
      },
    });
    for (let i = 1; i <= 4; i++) await transport.send(copy(persona, nae, i));
    await c.until(4);
    expect(c.got.map(seqOf)).toEqual([1, 2, 3, 4]);
    expect(telemetry.total('safe_bus_deliver_errors_total')).toBe(3);
    await c.consumer.stop();
  });

  it('refuses to start on a topic that does not exist', async () => {
    const consumer = new KafkaGroupConsumer({ brokers, persona: `t${run}-missing`, nodeName: generateIdentity().name });
    await expect(consumer.start(async () => {})).rejects.toThrow(/does not exist.*ensureTopics/);
  });

  it('ensureTopics is idempotent and keeps an existing topic as it is', async () => {
    const persona = `t${run}-ensure`;
    personas.push(persona);
    const first = await ensureTopics(admin, [persona, persona], 4);
    expect(first).toEqual({ created: [topicFor(persona)], existing: [] });
    const second = await ensureTopics(admin, [persona], 6);
    expect(second).toEqual({ created: [], existing: [topicFor(persona)] });
    const [meta] = (await admin.fetchTopicMetadata({ topics: [topicFor(persona)] })).topics;
    expect(meta?.partitions.length).toBe(4);
  });

  it('keeps trace context in Kafka headers for tools', () => {
    const message = toKafkaMessage(copy('data-manager', naeOf('h'), 1, { traceparent: 'tp', tracestate: 'ts' }));
    expect(message.headers).toEqual({ traceparent: 'tp', tracestate: 'ts' });
  });
});

describe.each(['each', 'coalesced'] as const)('commit=%s: restarts with the same node name', (commit) => {
  it('redelivers exactly the copy that was being handled when the consumer stopped, and nothing before it', async () => {
    const persona = await freshPersona(`crash-${commit}`);
    const node = generateIdentity().name;
    const nae = naeOf('one-key');
    const M = 80;
    await Promise.all(Array.from({ length: M }, (_, i) => transport.send(copy(persona, nae, i + 1))));

    let inFlight: Envelope | undefined;
    const first = await collect(persona, node, {
      commit,
      stopGraceMs: 200,
      deliver: async (envelope, got) => {
        if (got.length === 50) {
          inFlight = envelope;
          await new Promise(() => {}); // the 51st never finishes: the process "dies" here
        }
      },
    });
    await first.until(50);
    while (inFlight === undefined) await pause(20);
    expect(seqOf(inFlight)).toBe(51);
    await first.consumer.stop();
    expect(first.got.map(seqOf)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));

    const second = await collect(persona, node, { commit });
    await second.until(M - 50);
    await pause(500); // nothing more may arrive
    expect(second.got.map(seqOf)).toEqual(Array.from({ length: M - 50 }, (_, i) => i + 51));
    await second.consumer.stop();
  });

  it('loses nothing committed: 300 copies with acks -1, all consumed, nothing again after a restart', async () => {
    const persona = await freshPersona(`noloss-${commit}`, 12);
    const node = generateIdentity().name;
    const keys = Array.from({ length: 20 }, (_, i) => naeOf(`k${i}`));
    const sent = Array.from({ length: 300 }, (_, i) => copy(persona, keys[i % keys.length] as Name, i));
    await Promise.all(sent.map((e) => transport.send(e)));

    const first = await collect(persona, node, { commit });
    await first.until(300);
    await pause(300);
    const seqs = first.got.map(seqOf);
    expect(new Set(seqs).size).toBe(300);
    expect([...seqs].sort((a, b) => a - b)).toEqual(sent.map(seqOf));
    await first.consumer.stop();

    const second = await collect(persona, node, { commit });
    // A copy sent now must arrive, and be the only one: everything before it was committed.
    await transport.send(copy(persona, keys[0] as Name, 1000));
    await second.until(1);
    await pause(500);
    expect(second.got.map(seqOf)).toEqual([1000]);
    await second.consumer.stop();
  });
});

/** A name whose first 32 bits are `prefix` (big-endian), the rest random. */
function nameWithPrefix(prefix: number): Name {
  const name = new Uint8Array(randomBytes(64));
  new DataView(name.buffer).setUint32(0, prefix >>> 0);
  return name as Name;
}

/** An NAE in the middle of partition `p` of `partitions`, the rest random. */
const naeIn = (p: number, partitions: number) => nameWithPrefix(Math.floor(((p + 0.5) * 2 ** 32) / partitions));

describe('addressed delivery: copies partitioned by NAE range, each replica reading its neighbourhood', () => {
  const P = 16;

  it('puts each copy in the partition of its destination NAE’s range, and counts the bytes published', async () => {
    const persona = await freshPersona('ranges', P);
    const telemetry = new CountingTelemetry();
    const counted = new KafkaProducerTransport({ brokers, clientId: 'safe-kafka-tests-ranges', telemetry });
    await counted.start();
    const naes = Array.from({ length: 40 }, (_, i) => naeOf(`range-${i}`));
    const sent = naes.map((nae, i) => copy(persona, nae, i));
    try {
      await Promise.all(sent.map((e) => counted.send(e)));
    } finally {
      await counted.stop();
    }
    const want = new Map<number, number>();
    for (const nae of naes) want.set(partitionOf(nae, P), (want.get(partitionOf(nae, P)) ?? 0) + 1);
    const offsets = await admin.fetchTopicOffsets(topicFor(persona));
    for (const { partition, high } of offsets) expect([partition, Number(high)]).toEqual([partition, want.get(partition) ?? 0]);
    const topic = topicFor(persona);
    const bytes = sent.reduce((sum, e) => {
      const m = toKafkaMessage(e);
      return sum + Buffer.byteLength(m.key as string) + (m.value as Buffer).length;
    }, 0);
    expect(telemetry.total('safe_bus_published_total', { topic })).toBe(40);
    expect(telemetry.total('safe_bus_published_bytes_total', { topic })).toBe(bytes);
  });

  it('each follower receives only the copies of the partitions it serves; a partition it gains is read from catchUpMs before', async () => {
    const persona = await freshPersona('follow', P);
    const topic = topicFor(persona);
    // Four members at the quarters of the name space, K = 2: A and C share the lower half, B and D the upper.
    const [a, b, c, d] = [0x1000_0000, 0x9000_0000, 0x5000_0000, 0xd000_0000].map(nameWithPrefix) as [Name, Name, Name, Name];
    const view = [a, b, c, d];
    const servedByA = servedPartitions(view, a, 2, P);
    const servedByB = servedPartitions(view, b, 2, P);
    expect(servedByA).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(servedByB).toEqual([8, 9, 10, 11, 12, 13, 14, 15]);

    const telemetryA = new CountingTelemetry();
    const telemetryB = new CountingTelemetry();
    const A = await collect(persona, a, { closeGroupSize: 2, catchUpMs: 2_000, telemetry: telemetryA });
    const B = await collect(persona, b, { closeGroupSize: 2, catchUpMs: 2_000, telemetry: telemetryB });
    A.consumer.follow(view);
    B.consumer.follow(view);
    expect(A.consumer.served).toEqual(servedByA);
    expect(B.consumer.served).toEqual(servedByB);

    const round = (from: number, partitions: readonly number[], perPartition: number) =>
      partitions.flatMap((p) => Array.from({ length: perPartition }, (_, i) => copy(persona, naeIn(p, P), from + p * perPartition + i)));
    const seqs = (envelopes: readonly Envelope[]) => envelopes.map(seqOf).sort((x, y) => x - y);
    const inPartitions = (envelopes: readonly Envelope[], partitions: readonly number[]) =>
      envelopes.filter((e) => partitions.includes(partitionOf(e.destination.nae, P)));

    const first = round(0, allOf(P), 3);
    await Promise.all(first.map((e) => transport.send(e)));
    await Promise.all([A.until(24), B.until(24)]);
    await pause(500); // nothing more may arrive
    expect(seqs(A.got)).toEqual(seqs(inPartitions(first, servedByA)));
    expect(seqs(B.got)).toEqual(seqs(inPartitions(first, servedByB)));
    // Bytes read are those of its own partitions only.
    expect(telemetryA.total('safe_bus_consumed_total', { topic })).toBe(24);
    expect(telemetryB.total('safe_bus_consumed_total', { topic })).toBe(24);
    const bytesOf = (envelopes: readonly Envelope[]) =>
      envelopes.reduce(
        (sum, e) => sum + Buffer.byteLength(toKafkaMessage(e).key as string) + (toKafkaMessage(e).value as Buffer).length,
        0,
      );
    expect(telemetryB.total('safe_bus_consumed_bytes_total', { topic })).toBe(bytesOf(B.got));

    // C and D leave A's view: alone with B (K = 2), A now serves every partition. What was
    // published to B's half well before the change stays unread by A; what came within catchUpMs
    // before it, and everything after it, A reads.
    await pause(3_000);
    const justBefore = round(1000, servedByB, 1);
    await Promise.all(justBefore.map((e) => transport.send(e)));
    A.consumer.follow([a, b]);
    const after = round(2000, allOf(P), 1);
    // follow() looks up where to read from before it resumes: sends made now are after it either way.
    await Promise.all(after.map((e) => transport.send(e)));
    await A.until(24 + 8 + 16);
    await B.until(24 + 8 + 8);
    await pause(500);
    expect(A.consumer.served).toEqual(allOf(P));
    expect(seqs(A.got)).toEqual(seqs([...inPartitions(first, servedByA), ...justBefore, ...after]));
    expect(seqs(B.got)).toEqual(seqs([...inPartitions(first, servedByB), ...justBefore, ...inPartitions(after, servedByB)]));

    // And back: C and D return, A stops reading B's half at once.
    A.consumer.follow(view);
    expect(A.consumer.served).toEqual(servedByA);
    const later = round(3000, allOf(P), 1);
    await Promise.all(later.map((e) => transport.send(e)));
    await Promise.all([A.until(48 + 8), B.until(40 + 8)]);
    await pause(500);
    expect(seqs(inPartitions(A.got, servedByB)).filter((seq) => seq >= 3000)).toEqual([]);
    await Promise.all([A.consumer.stop(), B.consumer.stop()]);
  }, 60_000);

  it('at start, reads no partition from further back than replayWindowMs, whatever its committed offset', async () => {
    const persona = await freshPersona('replay', 4);
    const node = generateIdentity().name;
    const nae = naeOf('replay');
    const first = await collect(persona, node, { replayWindowMs: 1_500 });
    await transport.send(copy(persona, nae, 1));
    await first.until(1);
    await first.consumer.stop();

    await transport.send(copy(persona, nae, 2)); // while it is down, long enough ago at its restart
    await pause(2_500);
    await transport.send(copy(persona, nae, 3)); // while it is down, within the window
    const second = await collect(persona, node, { replayWindowMs: 1_500 });
    await second.until(1);
    await pause(500);
    expect(second.got.map(seqOf)).toEqual([3]);
    await second.consumer.stop();
  });
});

function allOf(partitions: number): number[] {
  return Array.from({ length: partitions }, (_, p) => p);
}
