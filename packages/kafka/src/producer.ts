import {
  type Envelope,
  FailedPreconditionError,
  type Logger,
  noTelemetry,
  SafeError,
  silentLogger,
  type Telemetry,
  type Transport,
  UnavailableError,
} from '@safe/core';
import type { Kafka, Message, Producer, TopicMessages } from 'kafkajs';
import {
  BOUNDED_RETRY,
  checkKafka,
  createKafka,
  describeKafkaError,
  type KafkaConnectOptions,
  kafkaUnavailable,
  parseBrokers,
} from './connect.js';
import { NaeRangePartitioner } from './partitioner.js';
import { toKafkaMessage } from './record.js';
import { messageBytes, recordBytes } from './record-bytes.js';
import { DeadlineError, withDeadline } from './timing.js';
import { topicFor } from './topics.js';

export interface KafkaProducerTransportOptions extends KafkaConnectOptions {
  /** Share a client built by createKafka; else one is built from the options. */
  readonly kafka?: Kafka;
  readonly telemetry?: Telemetry;
  /** Longest one send may take, reconnects and kafkajs' retries included, before it rejects (default 10 000 ms). */
  readonly sendTimeoutMs?: number;
  /** How long the partition leader waits for every in-sync replica (acks -1) per request (default 5 000 ms). */
  readonly ackTimeoutMs?: number;
  /** Most copies in one produce request (default 500). */
  readonly maxBatch?: number;
  /**
   * Most bytes of copies (keys and values) in one produce request (default 4 MiB; one copy over
   * it goes alone). Copies for one NAE share a partition, and a partition's part of a request is
   * one record batch, which the broker refuses whole above the topic's max.message.bytes (8 MiB
   * on the persona topics): a group's copies of several chunks queued at once must not add up to that.
   */
  readonly maxBatchBytes?: number;
  /** The network's name, if any: its topics are `safe.<network>.<persona>` (see topicFor). */
  readonly network?: string;
}

export const DEFAULT_PRODUCE_BATCH_BYTES = 4 * 1024 * 1024;

/**
 * How many copies from the head of `queue` go in the next produce request: at most `maxCopies`,
 * and no more than `maxBytes` of them, but always at least one (a copy larger than `maxBytes`
 * goes alone; the broker judges it against the topic's limit).
 */
export function batchLength(queue: readonly { readonly message: Message }[], maxCopies: number, maxBytes: number): number {
  let bytes = 0;
  let count = 0;
  for (const { message } of queue) {
    if (count >= maxCopies) break;
    bytes += messageBytes(message);
    if (count > 0 && bytes > maxBytes) break;
    count++;
  }
  return count;
}

interface Pending {
  readonly topic: string;
  readonly message: Message;
  readonly deadline: number;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Puts signed copies on the group bus: topic `safe.<destination persona>`, key = destination
 * NAE (hex), value = the encoded envelope, trace context also in headers. Idempotent producer,
 * acks -1 (every in-sync replica), one request in flight; copies go out in the order `send`
 * was called (concurrent sends are batched into one request), so copies for one NAE keep their
 * order. A send resolves once the copy is acknowledged, and rejects with UnavailableError when
 * Kafka did not acknowledge it within `sendTimeoutMs` (the copy may still have been written:
 * receivers count copies by sender and firewall repeats, so a retry is harmless). After a
 * failure the producer is replaced, so a fresh producer id restarts the sequence numbers.
 */
export class KafkaProducerTransport implements Transport {
  readonly #kafka: Kafka;
  readonly #brokers: string[];
  readonly #log: Logger;
  readonly #telemetry: Telemetry;
  readonly #sendTimeoutMs: number;
  readonly #ackTimeoutMs: number;
  readonly #maxBatch: number;
  readonly #maxBatchBytes: number;
  #state: 'new' | 'starting' | 'started' | 'stopped' = 'new';
  #producer: Producer | undefined;
  #connecting: Promise<Producer> | undefined;
  readonly #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;

  readonly #network: string;

  constructor(options: KafkaProducerTransportOptions) {
    this.#brokers = parseBrokers(options.brokers);
    this.#log = (options.logger ?? silentLogger).child({ component: 'kafka-producer' });
    this.#kafka = options.kafka ?? createKafka({ ...options, logger: this.#log });
    this.#telemetry = options.telemetry ?? noTelemetry;
    this.#sendTimeoutMs = options.sendTimeoutMs ?? 10_000;
    this.#network = options.network ?? '';
    this.#ackTimeoutMs = options.ackTimeoutMs ?? 5_000;
    this.#maxBatch = options.maxBatch ?? 500;
    this.#maxBatchBytes = options.maxBatchBytes ?? DEFAULT_PRODUCE_BATCH_BYTES;
  }

  /** Checks that Kafka answers and connects the producer; rejects with UnavailableError naming the brokers. */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new FailedPreconditionError(`Kafka producer cannot start: it is ${this.#state}`);
    this.#state = 'starting';
    try {
      await checkKafka(this.#kafka, this.#brokers);
      const deadline = Date.now() + this.#sendTimeoutMs;
      await withDeadline(this.#producerReady(), deadline, this.#sendTimeoutMs).catch((error: unknown) => {
        throw kafkaUnavailable(this.#brokers, 'connecting the producer', error);
      });
      this.#state = 'started';
      this.#log.info({ brokers: this.#brokers }, 'Kafka producer connected');
    } catch (error) {
      this.#state = 'new';
      throw error;
    }
  }

  send(envelope: Envelope): Promise<void> {
    if (this.#state !== 'started') {
      return Promise.reject(new UnavailableError(`Kafka producer is ${this.#state === 'stopped' ? 'stopped' : 'not started'}`));
    }
    let topic: string;
    let message: Message;
    try {
      topic = topicFor(envelope.destination.persona, this.#network);
      message = toKafkaMessage(envelope);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ topic, message, deadline: Date.now() + this.#sendTimeoutMs, resolve, reject });
      this.#kick();
    });
  }

  /** Waits for copies already handed to `send`, then disconnects. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    while (this.#flushing) await this.#flushing;
    const connecting = this.#connecting;
    if (connecting) await connecting.catch(() => undefined);
    const producer = this.#producer;
    this.#producer = undefined;
    if (producer)
      await producer
        .disconnect()
        .catch((error: unknown) => this.#log.warn({ error: describeKafkaError(error) }, 'Kafka producer disconnect failed'));
  }

  #kick(): void {
    if (this.#flushing) return;
    this.#flushing = this.#flush().finally(() => {
      this.#flushing = undefined;
      if (this.#queue.length > 0) this.#kick();
    });
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, batchLength(this.#queue, this.#maxBatch, this.#maxBatchBytes));
      const deadline = Math.min(...batch.map((p) => p.deadline));
      let attempted = false;
      try {
        const producer = await withDeadline(this.#producerReady(), deadline, this.#sendTimeoutMs);
        attempted = true;
        await withDeadline(
          producer.sendBatch({ acks: -1, timeout: this.#ackTimeoutMs, topicMessages: byTopic(batch) }),
          deadline,
          this.#sendTimeoutMs,
        );
        for (const p of batch) p.resolve();
        this.#countByTopic('safe_bus_published_total', batch);
        this.#countByTopic('safe_bus_published_bytes_total', batch, (p) => recordBytes(p.message));
      } catch (error) {
        // A produce that failed or timed out may still be written; a fresh producer id keeps the
        // next copies from being mistaken for retries of it (same sequence number) and dropped.
        if (attempted) this.#discardProducer();
        const failure = publishFailure(this.#brokers, error);
        this.#log.warn({ copies: batch.length, error: describeKafkaError(error) }, 'publishing to the group bus failed');
        this.#countByTopic('safe_bus_publish_errors_total', batch);
        for (const p of batch) p.reject(failure);
      }
    }
  }

  #countByTopic(metric: string, batch: readonly Pending[], measure: (p: Pending) => number = () => 1): void {
    const counts = new Map<string, number>();
    for (const p of batch) counts.set(p.topic, (counts.get(p.topic) ?? 0) + measure(p));
    for (const [topic, n] of counts) this.#telemetry.count(metric, { topic }, n);
  }

  #producerReady(): Promise<Producer> {
    if (this.#producer) return Promise.resolve(this.#producer);
    if (this.#connecting) return this.#connecting;
    const producer = this.#kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // A copy goes to the partition of its destination NAE's range: see partitioner.ts.
      createPartitioner: NaeRangePartitioner,
      retry: BOUNDED_RETRY,
    });
    const connecting = producer.connect().then(
      () => {
        this.#producer = producer;
        return producer;
      },
      (error: unknown) => {
        void producer.disconnect().catch(() => {});
        throw error;
      },
    );
    this.#connecting = connecting;
    void connecting.then(
      () => {
        if (this.#connecting === connecting) this.#connecting = undefined;
      },
      () => {
        if (this.#connecting === connecting) this.#connecting = undefined;
      },
    );
    return connecting;
  }

  #discardProducer(): void {
    const old = this.#producer;
    this.#producer = undefined;
    if (old) void old.disconnect().catch(() => {});
  }
}

function byTopic(batch: readonly Pending[]): TopicMessages[] {
  const topics = new Map<string, Message[]>();
  for (const p of batch) {
    const list = topics.get(p.topic);
    if (list) list.push(p.message);
    else topics.set(p.topic, [p.message]);
  }
  return [...topics].map(([topic, messages]) => ({ topic, messages }));
}

function isKafkaError(error: unknown): boolean {
  return error instanceof Error && error.name.startsWith('KafkaJS');
}

/** Broker answers that refuse the copies themselves: sending them again, later, changes nothing. */
const REFUSED_FOR_GOOD = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'INVALID_TOPIC_EXCEPTION',
  'TOPIC_AUTHORIZATION_FAILED',
]);

/**
 * What a failed publish means to the sender: the broker refused the copies themselves (resource
 * exhausted, told at once), or Kafka is unreachable or still electing leaders (unavailable: the
 * runtime owes the copies and sends them again once it is back).
 */
export function publishFailure(brokers: readonly string[], error: unknown): unknown {
  const type = (error as { type?: unknown }).type ?? (error as { originalError?: { type?: unknown } }).originalError?.type;
  if (typeof type === 'string' && REFUSED_FOR_GOOD.has(type)) {
    return new SafeError('resource-exhausted', `Kafka at ${brokers.join(',')} refused the copies: ${describeKafkaError(error)}`, {
      cause: error,
    });
  }
  return isKafkaError(error) || error instanceof DeadlineError ? kafkaUnavailable(brokers, 'publishing', error) : error;
}
