// The baseline: plain kafkajs produce and consume of 1 MiB records on the stack's broker, to
// compare the testnet's put and get with.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { atExit, withTimeout } from './child-processes.mjs';
import { cpuDelta, cpuSnapshot } from './proc-cpu.mjs';
import { built, MIB } from './repo.mjs';

export const PLAIN_RECORDS = 100;

/** 100 records of 1 MiB produced one at a time (acks from all in-sync replicas), then consumed, on a throwaway topic. */
export async function plainKafka(stack, kafkaPid) {
  const { kafka } = await built();
  const client = kafka.createKafka({ brokers: stack.kafkaBrokers, clientId: 'bench-plain', requestTimeoutMs: 30_000 });
  const id = randomBytes(4).toString('hex');
  const topic = `bench.plain.${id}`;
  const groupId = `bench-plain-${id}`;
  const admin = client.admin();
  const producer = client.producer();
  const consumer = client.consumer({ groupId, maxBytesPerPartition: 16 * MIB, maxBytes: 64 * MIB });
  const cleanup = async () => {
    await producer.disconnect().catch(() => {});
    await consumer.disconnect().catch(() => {});
    await admin.deleteTopics({ topics: [topic], timeout: 30_000 }).catch(() => {});
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.disconnect().catch(() => {});
  };
  const unregister = atExit(cleanup);
  try {
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: String(8 * MIB) }] }],
      waitForLeaders: true,
    });
    await producer.connect();
    const value = randomBytes(MIB);
    // A new topic's partition may not be served yet on a busy broker: one untimed record first, retried until it is.
    for (const deadline = Date.now() + 60_000; ; await sleep(500)) {
      try {
        await producer.send({ topic, messages: [{ key: 'first', value }] });
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
    }
    const cpuBefore = await cpuSnapshot({ kafka: [kafkaPid] });
    let started = performance.now();
    for (let i = 0; i < PLAIN_RECORDS; i++) await producer.send({ topic, messages: [{ key: String(i), value }] });
    const produceSeconds = (performance.now() - started) / 1000;
    const kafkaCpu = cpuDelta(cpuBefore, await cpuSnapshot({ kafka: [kafkaPid] })).kafka;
    let joinedAt;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joinedAt = performance.now();
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    started = performance.now();
    let received = 0;
    let bytes = 0;
    const consumeSeconds = await withTimeout(
      new Promise((done) => {
        void consumer.run({
          eachMessage: async ({ message }) => {
            bytes += message.value?.length ?? 0;
            if (++received === PLAIN_RECORDS + 1) done((performance.now() - (joinedAt ?? started)) / 1000);
          },
        });
      }),
      120_000,
      `consuming ${PLAIN_RECORDS + 1} records (got ${received})`,
    );
    const mib = bytes / MIB;
    return {
      records: PLAIN_RECORDS,
      recordBytes: MIB,
      how: 'one partition, one record per send awaited in turn (acks=all); consumed (with one more record sent first, untimed) from the group join to the last record',
      produceSeconds,
      produceMiBps: PLAIN_RECORDS / produceSeconds,
      consumeSeconds,
      consumeMiBps: mib / consumeSeconds,
      kafkaCpuPerMiBProduced: kafkaCpu === undefined ? undefined : kafkaCpu / PLAIN_RECORDS,
    };
  } finally {
    await cleanup();
    unregister();
  }
}
