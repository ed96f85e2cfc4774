import { randomBytes } from 'node:crypto';
import {
  CountingTelemetry,
  type Envelope,
  generateIdentity,
  type Logger,
  type Name,
  nameOf,
  sealEnvelope,
  silentLogger,
  toHex,
} from '@safe/core';
import kafkajs, { type Admin, type Kafka, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokersFromEnv, checkKafka, createKafka } from './connect.js';
import { batchLength, KafkaGroupConsumer, type KafkaGroupConsumerOptions, KafkaProducerTransport, toKafkaMessage } from './kafka-bus.js';
import { ensureTopics, topicFor } from './topics.js';

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

const seqOf = (e: Envelope) => new DataView(e.payload.buffer, e.payload.byteOffset, e.payload.byteLength).getUint32(0);
const keyOf = (e: Envelope) => toHex(e.destination.nae);

function copy(persona: string, nae: Name, seq: number, trace: Record<string, string> = {}, size = 8): Envelope {
  const payload = new Uint8Array(size);
  new DataView(payload.buffer).setUint32(0, seq);
  return sealEnvelope(
    {
      type: 'test.seq',
      source: { persona: 'data-manager', nae: sender.name },
      authority: 'single',
      destination: { persona, nae },
      scope: 'close-group',
      payload,
      correlation: new Uint8Array(0),
    },
    sender,
    trace,
  );
}

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
      await expect(
        Promise.all(burst(await freshPersona('large-unbounded', 1, 8 * 1024 * 1024)).map((e) => unbounded.send(e))),
      ).rejects.toThrow();
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

    const raw: Producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
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
