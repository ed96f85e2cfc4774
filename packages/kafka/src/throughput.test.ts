import { randomBytes } from 'node:crypto';
import { type Envelope, generateIdentity, nameOf, sealEnvelope, toHex } from '@safe/core';
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { brokersFromEnv, checkKafka, createKafka } from './connect.js';
import { KafkaGroupConsumer } from './consumer.js';
import { KafkaProducerTransport } from './producer.js';
import { DEFAULT_PARTITIONS, ensureTopics, topicFor } from './topics.js';

// A measurement more than a test: 2 000 copies of 1 KiB through the real broker, produced with
// acks -1 and consumed by one replica that commits after every copy. Prints the numbers.
const brokers = brokersFromEnv();
const persona = `t${randomBytes(3).toString('hex')}-throughput`;
const COPIES = 2_000;
const PAYLOAD_BYTES = 1_024;
let admin: Admin;

beforeAll(async () => {
  const kafka = createKafka({ brokers, clientId: 'safe-kafka-throughput' });
  await checkKafka(kafka, brokers).catch((error: Error) => {
    throw new Error(
      `${error.message}\nThe Kafka adapter tests need a broker: run 'bash scripts/stack/stack.sh up' or set SAFE_KAFKA_BROKERS.`,
    );
  });
  admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [persona], DEFAULT_PARTITIONS);
}, 30_000);

afterAll(async () => {
  await admin?.deleteTopics({ topics: [topicFor(persona)] }).catch(() => {});
  await admin?.disconnect();
});

async function measure(transport: KafkaProducerTransport, commit: 'each' | 'coalesced', round: number) {
  const identity = generateIdentity();
  const keys = Array.from({ length: 64 }, (_, i) => nameOf(new TextEncoder().encode(`${persona}-${round}-${i}`)));
  const copies: Envelope[] = Array.from({ length: COPIES }, (_, i) => {
    const payload = new Uint8Array(PAYLOAD_BYTES);
    new DataView(payload.buffer).setUint32(0, i);
    return sealEnvelope(
      {
        type: 'test.load',
        source: { persona: 'data-manager', nae: identity.name },
        authority: 'single',
        destination: { persona, nae: keys[i % keys.length] ?? identity.name },
        scope: 'close-group',
        payload,
        correlation: new Uint8Array(0),
      },
      identity,
    );
  });
  const seq = (e: Envelope) => new DataView(e.payload.buffer, e.payload.byteOffset).getUint32(0);

  const got: Envelope[] = [];
  let lastAt = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => {
    done = resolve;
  });
  // A new group at the end of the topic (the default): it sees this round's copies only.
  const consumer = new KafkaGroupConsumer({ brokers, persona, nodeName: generateIdentity().name, commit, maxWaitTimeMs: 500 });
  await consumer.start(async (envelope) => {
    got.push(envelope);
    if (got.length === COPIES) {
      lastAt = performance.now();
      done();
    }
  });
  try {
    const t0 = performance.now();
    await Promise.all(copies.map((e) => transport.send(e)));
    const produced = performance.now() - t0;
    await Promise.race([all, new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${got.length} copies arrived`)), 40_000))]);
    const endToEnd = lastAt - t0;

    for (const key of keys.map(toHex)) {
      const order = got.filter((e) => toHex(e.destination.nae) === key).map(seq);
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
    expect(new Set(got.map(seq)).size).toBe(COPIES);
    return { produced, endToEnd };
  } finally {
    await consumer.stop();
  }
}

const rate = (n: number, ms: number) => `${((n / ms) * 1000).toFixed(0)}/s`;

it(`moves ${COPIES} copies of 1 KiB producer → broker → one replica, in order per key`, async () => {
  const transport = new KafkaProducerTransport({ brokers, clientId: 'safe-kafka-throughput' });
  await transport.start();
  try {
    // A first round warms up (producer metadata, JIT) and is not reported.
    await measure(transport, 'coalesced', 0);
    const each = await measure(transport, 'each', 1);
    const coalesced = await measure(transport, 'coalesced', 2);

    // The runtime awaits each send: the latency of one acknowledged copy.
    const identity = generateIdentity();
    const one = sealEnvelope(
      {
        type: 'test.load',
        source: { persona: 'data-manager', nae: identity.name },
        authority: 'single',
        destination: { persona, nae: identity.name },
        scope: 'close-group',
        payload: new Uint8Array(PAYLOAD_BYTES),
        correlation: new Uint8Array(0),
      },
      identity,
    );
    const t1 = performance.now();
    for (let i = 0; i < 100; i++) await transport.send(one);
    const sequential = (performance.now() - t1) / 100;

    console.log(
      `[kafka throughput] ${COPIES} x ${PAYLOAD_BYTES} B, ${DEFAULT_PARTITIONS} partitions, acks -1, idempotent:\n` +
        `  produce (concurrent sends)            ${each.produced.toFixed(0)} ms / ${coalesced.produced.toFixed(0)} ms (${rate(COPIES, each.produced)})\n` +
        `  end-to-end to one replica, commit=each      ${each.endToEnd.toFixed(0)} ms (${rate(COPIES, each.endToEnd)})\n` +
        `  end-to-end to one replica, commit=coalesced ${coalesced.endToEnd.toFixed(0)} ms (${rate(COPIES, coalesced.endToEnd)})\n` +
        `  one awaited send                      ${sequential.toFixed(1)} ms`,
    );
  } finally {
    await transport.stop();
  }
}, 60_000);
