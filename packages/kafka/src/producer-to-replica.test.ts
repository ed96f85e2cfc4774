import { randomBytes } from 'node:crypto';
import { type Envelope, generateIdentity, type Name, nameOf, toHex } from '@safe/core';
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { brokersFromEnv, checkKafka, createKafka } from './connect.js';
import { KafkaGroupConsumer } from './consumer.js';
import { KafkaProducerTransport } from './producer.js';
import { seqCopy, seqOf } from './test-support.js';
import { deferred } from './timing.js';
import { DEFAULT_PARTITIONS, ensureTopics, topicFor } from './topics.js';

// Copies through the real broker (concurrent sends, acks -1, idempotent producer) to one replica
// that stops part-way and starts again: every copy is handled once, in produce order per key.
const brokers = brokersFromEnv();
const persona = `t${randomBytes(3).toString('hex')}-to-replica`;
/** Copies per batch; a run produces two batches, the second while the replica is stopped. */
const COPIES = 100;
/** The first start of the replica handles this many copies of the first batch, then stops. */
const HANDLED_BEFORE_STOP = 40;
const KEYS = 8;
let admin: Admin;
const groups: string[] = [];

beforeAll(async () => {
  const kafka = createKafka({ brokers, clientId: 'safe-kafka-to-replica' });
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
  await admin?.deleteGroups(groups).catch(() => {});
  await admin?.deleteTopics({ topics: [topicFor(persona)] }).catch(() => {});
  await admin?.disconnect();
});

describe.each(['each', 'coalesced'] as const)('one replica, commit=%s', (commit) => {
  it('handles every copy exactly once, in produce order per key, and resumes after its last commit when it starts again', async () => {
    const identity = generateIdentity();
    const keys = Array.from({ length: KEYS }, (_, i) => nameOf(new TextEncoder().encode(`${persona}-${commit}-${i}`)));
    const transport = new KafkaProducerTransport({ brokers, clientId: 'safe-kafka-to-replica' });
    const produce = (from: number) =>
      Promise.all(
        Array.from({ length: COPIES }, (_, i) => transport.send(seqCopy(identity, persona, keys[(from + i) % KEYS] as Name, from + i))),
      );
    const nodeName = generateIdentity().name;
    const replica = () => new KafkaGroupConsumer({ brokers, persona, nodeName, commit, maxWaitTimeMs: 500 });
    await transport.start();
    const handled: Envelope[] = [];
    try {
      // First start (a new group, at the end of the topic): it holds the HANDLED_BEFORE_STOP-th
      // copy until stop() began, so exactly that many are handled (and committed) before it stops.
      const first = replica();
      groups.push(first.groupId);
      const held = deferred();
      await first.start(async (envelope) => {
        handled.push(envelope);
        if (handled.length === HANDLED_BEFORE_STOP) await held.promise;
      });
      let stopped: Promise<void> | undefined;
      try {
        await produce(0);
        await vi.waitFor(() => expect(handled).toHaveLength(HANDLED_BEFORE_STOP), { timeout: 30_000, interval: 50 });
        stopped = first.stop();
        held.resolve();
        await stopped;
      } finally {
        held.resolve();
        if (stopped === undefined) await first.stop();
      }
      expect(handled).toHaveLength(HANDLED_BEFORE_STOP);

      // A second batch while it is stopped; started again (same node, same group), it reads from its commits on.
      await produce(COPIES);
      const second = replica();
      await second.start(async (envelope) => {
        handled.push(envelope);
      });
      try {
        await vi.waitFor(() => expect(new Set(handled.map(seqOf)).size).toBe(2 * COPIES), { timeout: 30_000, interval: 50 });
      } finally {
        await second.stop();
      }
    } finally {
      await transport.stop();
    }

    const seqs = handled.map(seqOf);
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 2 * COPIES }, (_, i) => i));
    for (const key of keys.map(toHex)) {
      const order = handled.filter((e) => toHex(e.destination.nae) === key).map(seqOf);
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
  }, 60_000);
});
