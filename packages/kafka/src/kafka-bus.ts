import {
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  FailedPreconditionError,
  type GroupBusConsumer,
  type Logger,
  MalformedEnvelopeError,
  type Name,
  noTelemetry,
  SafeError,
  servedPartitions,
  silentLogger,
  type Telemetry,
  type Transport,
  toHex,
  UnavailableError,
} from '@safe/core';
import type { Admin, Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage, Message, Producer, TopicMessages } from 'kafkajs';
import {
  BOUNDED_RETRY,
  checkKafka,
  createKafka,
  describeKafkaError,
  isLeaderlessError,
  type KafkaConnectOptions,
  kafkaUnavailable,
  parseBrokers,
} from './connect.js';
import { NaeRangePartitioner } from './partitioner.js';
import { groupIdFor, topicFor } from './topics.js';

/** W3C trace context keys copied into Kafka headers so that tools (kcat, UIs) see them. */
export const TRACE_HEADERS = ['traceparent', 'tracestate'] as const;

/** A copy as it goes on the wire: key = hex of the destination NAE, value = the encoded envelope. */
export function toKafkaMessage(envelope: Envelope): Message {
  const headers: IHeaders = {};
  for (const name of TRACE_HEADERS) {
    const value = envelope.trace[name];
    if (value) headers[name] = value;
  }
  const bytes = encodeEnvelope(envelope);
  return {
    key: toHex(envelope.destination.nae),
    value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    headers,
  };
}

function headerText(value: IHeaders[string]): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined) return undefined;
  return typeof first === 'string' ? first : first.toString('utf8');
}

/** Decodes a record's value; the trace context in headers fills in when the envelope carries none. */
export function fromKafkaMessage(message: Pick<KafkaMessage, 'value' | 'headers'>): Envelope {
  if (message.value === null || message.value.length === 0) throw new MalformedEnvelopeError('the record has no value');
  const envelope = decodeEnvelope(message.value);
  if (envelope.trace.traceparent || !message.headers) return envelope;
  const traceparent = headerText(message.headers.traceparent);
  if (!traceparent) return envelope;
  const tracestate = headerText(message.headers.tracestate);
  return { ...envelope, trace: { ...envelope.trace, traceparent, ...(tracestate ? { tracestate } : {}) } };
}

function isKafkaError(error: unknown): boolean {
  return error instanceof Error && error.name.startsWith('KafkaJS');
}

class DeadlineError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'DeadlineError';
  }
}

/** Rejects with DeadlineError at `deadline` (epoch ms) unless `promise` settles first. */
function withDeadline<T>(promise: Promise<T>, deadline: number, budgetMs: number): Promise<T> {
  const left = deadline - Date.now();
  if (left <= 0) {
    promise.catch(() => {});
    return Promise.reject(new DeadlineError(budgetMs));
  }
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(budgetMs)), left);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

// ---------------------------------------------------------------------------------------------
// Producer

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

/** A record's key and value bytes: what `safe_bus_published_bytes_total` and `safe_bus_consumed_bytes_total` count. */
function recordBytes(message: { readonly key?: Buffer | string | null; readonly value: Buffer | string | null }): number {
  const size = (part: Buffer | string | null | undefined) =>
    part === null || part === undefined ? 0 : typeof part === 'string' ? Buffer.byteLength(part) : part.length;
  return size(message.key) + size(message.value);
}

/** The bytes a copy puts in a record batch, near enough: key, value and headers. */
function messageBytes(message: Message): number {
  let bytes = (message.key?.length ?? 0) + (message.value?.length ?? 0);
  for (const [name, value] of Object.entries(message.headers ?? {})) bytes += name.length + String(value ?? '').length;
  return bytes;
}

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
        const failure =
          isKafkaError(error) || error instanceof DeadlineError ? kafkaUnavailable(this.#brokers, 'publishing', error) : error;
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

// ---------------------------------------------------------------------------------------------
// Consumer

/** At most one offset commit in flight; offers made meanwhile collapse into the newest. */
class CommitCoalescer {
  readonly #commit: (offset: string) => Promise<void>;
  #pending: string | undefined;
  #running: Promise<void> | undefined;
  #failed: { error: unknown } | undefined;

  constructor(commit: (offset: string) => Promise<void>) {
    this.#commit = commit;
  }

  offer(offset: string): void {
    if (this.#failed) throw this.#failed.error;
    this.#pending = offset;
    this.#running ??= this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending !== undefined) {
        const offset = this.#pending;
        this.#pending = undefined;
        await this.#commit(offset);
      }
    } catch (error) {
      this.#failed = { error };
    } finally {
      this.#running = undefined;
    }
  }

  /** Waits until everything offered is committed; throws the commit error, if any. */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
    if (this.#failed) throw this.#failed.error;
  }
}

export interface KafkaGroupConsumerOptions extends KafkaConnectOptions {
  readonly kafka?: Kafka;
  /** The persona this replica runs; it reads `safe.<persona>`. */
  readonly persona: string;
  /** This replica's node name; its consumer group is `safe.<persona>.<first 32 hex digits>`. */
  readonly nodeName: Uint8Array;
  /** The network's name, if any: it reads `safe.<network>.<persona>` (see topicFor). */
  readonly network?: string;
  readonly telemetry?: Telemetry;
  /**
   * Where a NEW group (no committed offset) starts: false (default) = the end of each partition,
   * since a new node gets its records by account transfer, not by replaying history;
   * true = the earliest offset still kept. Either way the start point is committed at once, so
   * a restart before the first copy arrives still resumes there.
   */
  readonly fromBeginning?: boolean;
  /** On stop, how long the copy being handled may take to finish (and be committed) before it is abandoned (default 5 000 ms). */
  readonly stopGraceMs?: number;
  /** How long an idle fetch waits at the broker; bounds how long stop() waits for it (default 1 000 ms). */
  readonly maxWaitTimeMs?: number;
  /**
   * Most bytes one fetch takes from one partition (default 8 MiB, the largest record a persona
   * topic takes). kafkajs' own default, 1 MiB, is just below one copy carrying a whole chunk: the
   * broker then returns at most one such copy per fetch, and only from the first partition it
   * reads, so each chunk-carrying copy cost every replica a fetch round trip of its own.
   */
  readonly maxBytesPerPartition?: number;
  /** Most bytes one fetch takes over all partitions (default 16 MiB; kafkajs' default is 10 MiB). */
  readonly maxBytes?: number;
  /**
   * How long the coordinator waits for a silent member (default 10 000 ms; the broker's minimum
   * is 6 000). A replica that died without leaving holds its partitions this long, so a restart
   * of the same node waits up to this before it reads again.
   */
  readonly sessionTimeoutMs?: number;
  /** Default 3 000 ms; also sent while one copy takes long in `deliver`. */
  readonly heartbeatIntervalMs?: number;
  /** Backoff between attempts when `deliver` rejects: doubles from `initialMs` up to `maxMs` (default 200 / 5 000 ms). */
  readonly deliverRetry?: { readonly initialMs: number; readonly maxMs: number };
  /**
   * `each` (default): the offset of every copy is committed, and awaited, before the next copy is
   * handled: a crash redelivers at most the copy that was being handled. `coalesced`: commits are
   * still made only for handled copies and in order, but the next copy is handled while the
   * previous commit is in flight (at most one per partition, the newest offset wins); a graceful
   * stop commits everything handled, a crash may redeliver the copies of one commit round trip
   * (receivers count copies by sender and firewall repeats, so that costs work, not correctness).
   */
  readonly commit?: 'each' | 'coalesced';
  /** Called when kafkajs gives up on the consumer for good (a crash it does not restart from). */
  readonly onFatal?: (error: SafeError) => void;
  /**
   * K, the close group size: once `follow` gave it a view, the consumer reads only the partitions
   * that hold an NAE whose K closest members include this replica (default 4).
   */
  readonly closeGroupSize?: number;
  /**
   * A partition that becomes this replica's (its view changed) is read from the copies published
   * this long before the change (default 10 000 ms): senders whose views changed first addressed
   * copies to it before its own view did. Never from before where it stopped reading it.
   */
  readonly catchUpMs?: number;
  /**
   * At start no partition is read from further back than this (default 300 000 ms, what the
   * firewall remembers), so a partition this replica stopped reading long ago does not replay
   * copies the group dealt with hours ago. Infinity: from the committed offset, however old. A new
   * group with `fromBeginning` is not held to it.
   */
  readonly replayWindowMs?: number;
}

/** Where a start reads each partition from, and the offsets to commit first. */
interface StartOffsets {
  readonly partitions: number;
  readonly pins: { partition: number; offset: string }[];
  readonly positions: Map<number, bigint>;
}

const allPartitions = (count: number) => Array.from({ length: count }, (_, p) => p);

function offsetsByPartition(offsets: readonly { partition: number; offset: string }[]): Map<number, bigint> {
  return new Map(offsets.map(({ partition, offset }) => [partition, BigInt(offset)]));
}

/** A fetch's share of one partition: a record of the largest size a persona topic takes (see KafkaGroupConsumerOptions). */
export const DEFAULT_FETCH_BYTES_PER_PARTITION = 8 * 1024 * 1024;
/** A fetch's total, over all partitions. */
export const DEFAULT_FETCH_BYTES = 16 * 1024 * 1024;

const DONE = Symbol('done');
const ABANDONED = Symbol('abandoned');

/**
 * One replica's reader of its persona's topic, in a consumer group of its own. Copies are handed
 * to `deliver` one at a time, in partition order; an offset is committed only after `deliver`
 * resolved for that copy, so a restart with the same node name resumes exactly after the last
 * handled copy. A record that does not decode is logged, counted
 * (`safe_bus_undecodable_total`) and committed past. When `deliver` rejects, the same copy is
 * tried again with backoff (it is never skipped); `deliver` should therefore resolve for every
 * copy it has decided about (rejected copies included) and reject only on transient trouble.
 *
 * Addressed delivery (see the README): copies are partitioned by the range of their destination
 * NAE, and once `follow` gave it its persona's members the consumer reads only the partitions
 * where this replica can be in a close group, pausing the others. Until then it reads them all.
 */
export class KafkaGroupConsumer implements GroupBusConsumer {
  readonly #kafka: Kafka;
  readonly #brokers: string[];
  readonly #log: Logger;
  readonly #telemetry: Telemetry;
  readonly #topic: string;
  readonly #groupId: string;
  readonly #fromBeginning: boolean;
  readonly #stopGraceMs: number;
  readonly #maxWaitTimeMs: number;
  readonly #maxBytesPerPartition: number;
  readonly #maxBytes: number;
  readonly #sessionTimeoutMs: number;
  readonly #heartbeatIntervalMs: number;
  readonly #deliverRetry: { readonly initialMs: number; readonly maxMs: number };
  readonly #onFatal: ((error: SafeError) => void) | undefined;
  readonly #commit: 'each' | 'coalesced';
  readonly #nodeName: Name;
  readonly #closeGroupSize: number;
  readonly #catchUpMs: number;
  readonly #replayWindowMs: number;
  #consumer: Consumer | undefined;
  /** start() is done: follow() acts at once. */
  #running = false;
  /** The topic's partition count, as found at start (or at a later join). */
  #partitions = 0;
  /** The partitions read; undefined = every one (no view yet). */
  #served: Set<number> | undefined;
  /** The members last given to follow(). */
  #view: readonly Uint8Array[] | undefined;
  /** Per partition, the offset of the next copy to read, as far as this consumer knows. */
  readonly #positions = new Map<number, bigint>();
  #following: Promise<void> | undefined;
  #followAgain = false;
  #stopping = false;
  #stopRequested = deferred();
  #abandon = deferred();

  constructor(options: KafkaGroupConsumerOptions) {
    this.#brokers = parseBrokers(options.brokers);
    this.#topic = topicFor(options.persona, options.network);
    this.#groupId = groupIdFor(options.persona, options.nodeName, options.network);
    this.#log = (options.logger ?? silentLogger).child({ component: 'kafka-consumer', topic: this.#topic, groupId: this.#groupId });
    this.#kafka = options.kafka ?? createKafka({ ...options, logger: this.#log });
    this.#telemetry = options.telemetry ?? noTelemetry;
    this.#fromBeginning = options.fromBeginning ?? false;
    this.#stopGraceMs = options.stopGraceMs ?? 5_000;
    this.#maxWaitTimeMs = options.maxWaitTimeMs ?? 1_000;
    this.#maxBytesPerPartition = options.maxBytesPerPartition ?? DEFAULT_FETCH_BYTES_PER_PARTITION;
    this.#maxBytes = options.maxBytes ?? DEFAULT_FETCH_BYTES;
    this.#sessionTimeoutMs = options.sessionTimeoutMs ?? 10_000;
    this.#heartbeatIntervalMs = options.heartbeatIntervalMs ?? 3_000;
    this.#deliverRetry = options.deliverRetry ?? { initialMs: 200, maxMs: 5_000 };
    this.#onFatal = options.onFatal;
    this.#commit = options.commit ?? 'each';
    this.#nodeName = options.nodeName as Name;
    this.#closeGroupSize = options.closeGroupSize ?? 4;
    this.#catchUpMs = options.catchUpMs ?? 10_000;
    this.#replayWindowMs = options.replayWindowMs ?? 300_000;
  }

  /** The partitions this consumer reads now, ascending (every one until `follow` gave it a view). */
  get served(): number[] {
    const served = this.#served;
    return allPartitions(this.#partitions).filter((p) => served === undefined || served.has(p));
  }

  /**
   * Reads, from now on, only the partitions where this replica can be in a close group among
   * `names` (its persona's members as its routing view has them, itself included or not):
   * servedPartitions with K = closeGroupSize. A partition no longer served is paused at once; one
   * newly served is read from `catchUpMs` before this call (or from where it stopped, if later).
   * Called before start, it applies once the consumer started.
   */
  follow(names: readonly Uint8Array[]): void {
    this.#view = [...names];
    if (this.#running) this.#kickFollow();
  }

  get topic(): string {
    return this.#topic;
  }

  get groupId(): string {
    return this.#groupId;
  }

  /**
   * Resolves once the consumer joined its group and its start offsets are fixed: every copy
   * published after that is delivered. Rejects with UnavailableError (naming Kafka and the
   * brokers) when Kafka cannot be reached, FailedPreconditionError when the topic is missing.
   */
  async start(deliver: (envelope: Envelope) => Promise<void>): Promise<void> {
    if (this.#consumer) throw new FailedPreconditionError(`Kafka consumer ${this.#groupId} is already started`);
    this.#stopping = false;
    this.#running = false;
    this.#served = undefined;
    this.#stopRequested = deferred();
    this.#abandon = deferred();

    const { partitions, pins, positions } = await this.#startOffsetsOnceLed();
    this.#partitions = partitions;
    this.#positions.clear();
    for (const [partition, offset] of positions) this.#positions.set(partition, offset);

    const consumer = this.#kafka.consumer({
      groupId: this.#groupId,
      sessionTimeout: this.#sessionTimeoutMs,
      heartbeatInterval: this.#heartbeatIntervalMs,
      maxWaitTimeInMs: this.#maxWaitTimeMs,
      maxBytesPerPartition: this.#maxBytesPerPartition,
      maxBytes: this.#maxBytes,
      allowAutoTopicCreation: false,
      retry: { ...BOUNDED_RETRY, restartOnFailure: async () => true },
    });
    this.#consumer = consumer;
    let joined = false;
    let crash: unknown;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      joined = true;
      if (this.#running && this.#consumer === consumer) this.#rejoined(consumer, payload.memberAssignment);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      crash = payload.error;
      this.#telemetry.count('safe_bus_consumer_crashes_total', { topic: this.#topic });
      this.#log.error({ error: describeKafkaError(payload.error), restart: payload.restart }, 'Kafka consumer crashed');
      if (!payload.restart && joined && !this.#stopping) {
        this.#onFatal?.(kafkaUnavailable(this.#brokers, `consumer ${this.#groupId} stopped for good`, payload.error));
      }
    });

    try {
      await consumer.connect();
      await consumer.subscribe({ topic: this.#topic, fromBeginning: this.#fromBeginning });
      const running = consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: (payload) => this.#eachBatch(payload, deliver),
      });
      // Hold every partition until the start offsets are committed (the group exists from here on).
      const every = [{ topic: this.#topic, partitions: allPartitions(partitions) }];
      if (pins.length > 0) consumer.pause(every);
      await running;
      if (!joined) throw crash ?? new Error('the consumer did not join its group');
      if (pins.length > 0) {
        await consumer.commitOffsets(pins.map((p) => ({ topic: this.#topic, ...p })));
        consumer.resume(every);
      }
    } catch (error) {
      this.#consumer = undefined;
      await consumer.disconnect().catch(() => {});
      throw error instanceof SafeError ? error : kafkaUnavailable(this.#brokers, `starting consumer ${this.#groupId}`, error);
    }
    this.#running = true;
    this.#log.info({ pinned: pins.length, partitions, fromBeginning: this.#fromBeginning }, 'Kafka consumer started');
    if (this.#view !== undefined) this.#kickFollow();
  }

  /**
   * Stops at a clean offset: no new copy is started, the one in `deliver` gets `stopGraceMs` to
   * finish (and is then committed); if it does not finish it is abandoned uncommitted and comes
   * again on the next start. Leaves the group and disconnects.
   */
  async stop(): Promise<void> {
    const consumer = this.#consumer;
    if (!consumer) return;
    this.#stopping = true;
    this.#running = false;
    this.#stopRequested.resolve();
    const grace = setTimeout(() => this.#abandon.resolve(), this.#stopGraceMs);
    try {
      await consumer.disconnect();
    } catch (error) {
      this.#log.warn({ error: describeKafkaError(error) }, 'Kafka consumer disconnect failed');
    } finally {
      clearTimeout(grace);
      this.#abandon.resolve();
      this.#consumer = undefined;
    }
  }

  async #withAdmin<T>(use: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = this.#kafka.admin();
    try {
      await admin.connect();
      return await use(admin);
    } catch (error) {
      throw error instanceof SafeError ? error : kafkaUnavailable(this.#brokers, `preparing consumer ${this.#groupId}`, error);
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /**
   * #startOffsets, tried again for a few seconds while a topic just created has partitions without
   * a leader yet (kafkajs' admin gives up on those at once; the more partitions, the likelier).
   */
  async #startOffsetsOnceLed(): Promise<StartOffsets> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#withAdmin((admin) => this.#startOffsets(admin));
      } catch (error) {
        if (attempt >= 8 || !isLeaderlessError(error)) throw error;
        this.#log.debug({ attempt, error: describeKafkaError(error) }, 'partitions without a leader yet; trying again');
        await sleep(Math.min(100 * 2 ** attempt, 1_000));
      }
    }
  }

  /**
   * Where each partition is read from: the committed offset, or for a partition with none the
   * end (a new group, by default) or the start (a new group with `fromBeginning`, or partitions
   * added to a group that has offsets); never from before `replayWindowMs` ago (but for a new
   * group with `fromBeginning`). Offsets that differ from the committed ones are committed first.
   */
  async #startOffsets(admin: Admin): Promise<StartOffsets> {
    const topics = await admin.listTopics();
    if (!topics.includes(this.#topic)) {
      throw new FailedPreconditionError(
        `Kafka topic ${this.#topic} does not exist at ${this.#brokers.join(',')} (auto-creation is off; create it with ensureTopics)`,
      );
    }
    const [committed] = await admin.fetchOffsets({ groupId: this.#groupId, topics: [this.#topic] });
    const partitions = committed?.partitions ?? [];
    const missing = partitions.filter((p) => BigInt(p.offset) < 0n);
    const newGroup = missing.length === partitions.length;
    // A group with some offsets already (e.g. partitions added later) reads the rest from the start:
    // those copies were published after this replica first joined.
    const earliest = newGroup ? this.#fromBeginning : true;
    const ends = missing.length > 0 ? await admin.fetchTopicOffsets(this.#topic) : [];
    const floor =
      Number.isFinite(this.#replayWindowMs) && !(newGroup && this.#fromBeginning)
        ? offsetsByPartition(await admin.fetchTopicOffsetsByTimestamp(this.#topic, Date.now() - this.#replayWindowMs))
        : new Map<number, bigint>();
    const pins: { partition: number; offset: string }[] = [];
    const positions = new Map<number, bigint>();
    for (const { partition, offset } of partitions) {
      let from = BigInt(offset);
      if (from < 0n) {
        const end = ends.find((e) => e.partition === partition);
        if (!end) throw new UnavailableError(`Kafka has no offsets for ${this.#topic}[${partition}]`);
        from = BigInt(earliest ? end.low : end.high);
      }
      const oldest = floor.get(partition);
      if (oldest !== undefined && oldest > from) from = oldest;
      if (from !== BigInt(offset)) pins.push({ partition, offset: from.toString() });
      positions.set(partition, from);
    }
    return { partitions: partitions.length, pins, positions };
  }

  #serves(partition: number): boolean {
    return this.#served === undefined || this.#served.has(partition);
  }

  /** Runs #applyFollow for the newest view, one at a time. */
  #kickFollow(): void {
    if (this.#following) {
      this.#followAgain = true;
      return;
    }
    this.#following = this.#applyFollow()
      .catch((error: unknown) => {
        // E.g. kafkajs between a crash and its restart: try the newest view again shortly.
        this.#log.warn({ error: describeKafkaError(error) }, 'following the view failed; trying again');
        setTimeout(() => {
          if (this.#running) this.#kickFollow();
        }, 1_000).unref();
      })
      .finally(() => {
        this.#following = undefined;
        if (this.#followAgain && this.#running) {
          this.#followAgain = false;
          this.#kickFollow();
        }
      });
  }

  async #applyFollow(): Promise<void> {
    const consumer = this.#consumer;
    const view = this.#view;
    if (!consumer || !this.#running || view === undefined) return;
    const all = allPartitions(this.#partitions);
    const wanted = new Set(servedPartitions(view as readonly Name[], this.#nodeName, this.#closeGroupSize, this.#partitions));
    const current = this.#served ?? new Set(all);
    const dropped = all.filter((p) => current.has(p) && !wanted.has(p));
    const added = all.filter((p) => wanted.has(p) && !current.has(p));
    if (dropped.length > 0) consumer.pause([{ topic: this.#topic, partitions: dropped }]);
    const served = new Set(all.filter((p) => current.has(p) && wanted.has(p)));
    this.#served = served;
    if (added.length > 0) {
      const since = await this.#offsetsSince(Date.now() - this.#catchUpMs);
      if (since === undefined || this.#consumer !== consumer || this.#served !== served) return;
      for (const partition of added) {
        const stopped = this.#positions.get(partition);
        const recent = since.get(partition);
        const from = stopped === undefined || (recent !== undefined && recent > stopped) ? recent : stopped;
        if (from !== undefined) {
          consumer.seek({ topic: this.#topic, partition, offset: from.toString() });
          this.#positions.set(partition, from);
        }
        served.add(partition);
      }
      consumer.resume([{ topic: this.#topic, partitions: added }]);
    }
    if (dropped.length + added.length > 0) {
      this.#log.info(
        { served: served.size, partitions: all.length, added, dropped },
        "reading the partitions of this replica's neighbourhood",
      );
    }
  }

  /** The offset of the first copy published at or after `timestamp` in each partition; tries until it gets it or the consumer stops. */
  async #offsetsSince(timestamp: number): Promise<Map<number, bigint> | undefined> {
    for (let attempt = 1; ; attempt++) {
      if (this.#stopping) return undefined;
      try {
        return await this.#withAdmin(async (admin) => offsetsByPartition(await admin.fetchTopicOffsetsByTimestamp(this.#topic, timestamp)));
      } catch (error) {
        this.#log.warn({ attempt, error: describeKafkaError(error) }, 'cannot look up where to read newly served partitions; trying again');
        const slept = await Promise.race([
          sleep(Math.min(500 * attempt, 5_000)).then(() => true),
          this.#stopRequested.promise.then(() => false),
        ]);
        if (!slept) return undefined;
      }
    }
  }

  /**
   * After kafkajs joined the group again (a rebalance, or a restart after a crash, which forgets
   * paused partitions and reads from the committed offsets): pause again what is not served, and
   * read the served partitions from where this consumer was.
   */
  #rejoined(consumer: Consumer, assignment: Record<string, number[]> | undefined): void {
    try {
      const count = assignment?.[this.#topic]?.length;
      if (count !== undefined && count > 0 && count !== this.#partitions) {
        this.#log.warn({ partitions: count, was: this.#partitions }, 'the topic has another partition count now; following the view again');
        this.#partitions = count;
        this.#served = undefined;
        if (this.#view !== undefined) this.#kickFollow();
        return;
      }
      const served = this.#served;
      if (served === undefined) return;
      const unserved = allPartitions(this.#partitions).filter((p) => !served.has(p));
      if (unserved.length > 0) consumer.pause([{ topic: this.#topic, partitions: unserved }]);
      for (const partition of served) {
        const at = this.#positions.get(partition);
        if (at !== undefined) consumer.seek({ topic: this.#topic, partition, offset: at.toString() });
      }
    } catch (error) {
      this.#log.error({ error: describeKafkaError(error) }, 'could not narrow the partitions read after joining the group again');
    }
  }

  async #eachBatch(payload: EachBatchPayload, deliver: (envelope: Envelope) => Promise<void>): Promise<void> {
    const { batch, commitOffsetsIfNecessary } = payload;
    const { topic, partition } = batch;
    // Every record fetched, handled or not: what this replica reads from Kafka.
    if (batch.messages.length > 0) {
      let bytes = 0;
      for (const message of batch.messages) bytes += recordBytes(message);
      this.#telemetry.count('safe_bus_consumed_total', { topic }, batch.messages.length);
      this.#telemetry.count('safe_bus_consumed_bytes_total', { topic }, bytes);
    }
    const commit = (offset: string) => commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset }] }] });
    const committer = this.#commit === 'coalesced' ? new CommitCoalescer(commit) : undefined;
    try {
      await this.#handleBatch(payload, deliver, commit, committer);
    } finally {
      // Whatever was handled is committed before the batch ends (and so before stop() leaves the group).
      await committer?.flush();
    }
  }

  async #handleBatch(
    { batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload,
    deliver: (envelope: Envelope) => Promise<void>,
    commit: (offset: string) => Promise<void>,
    committer: CommitCoalescer | undefined,
  ): Promise<void> {
    const { topic, partition } = batch;
    for (const message of batch.messages) {
      // A partition paused by follow() may still have a fetched batch on its way: left unread.
      if (this.#stopping || !isRunning() || isStale() || !this.#serves(partition)) return;
      const envelope = this.#decode(topic, partition, message);
      if (envelope !== undefined) {
        const handled = await this.#deliverOne(envelope, deliver, heartbeat, partition, message.offset);
        if (!handled) return; // stopping: left uncommitted, delivered again on the next start
        this.#telemetry.count('safe_bus_delivered_total', { topic });
      }
      resolveOffset(message.offset);
      const next = (BigInt(message.offset) + 1n).toString();
      if (!isStale()) this.#positions.set(partition, BigInt(next));
      if (committer) committer.offer(next);
      else await commit(next);
      await heartbeat();
    }
  }

  #decode(topic: string, partition: number, message: KafkaMessage): Envelope | undefined {
    try {
      return fromKafkaMessage(message);
    } catch (error) {
      this.#log.warn(
        { topic, partition, offset: message.offset, key: message.key?.toString('utf8').slice(0, 32), error: describeKafkaError(error) },
        'undecodable record on the group bus; skipped',
      );
      this.#telemetry.count('safe_bus_undecodable_total', { topic });
      return undefined;
    }
  }

  /** True once `deliver` resolved; false when the consumer is stopping and the copy was left unhandled. */
  async #deliverOne(
    envelope: Envelope,
    deliver: (envelope: Envelope) => Promise<void>,
    heartbeat: () => Promise<void>,
    partition: number,
    offset: string,
  ): Promise<boolean> {
    // kafkajs heartbeats only between records; keep the membership alive while one takes long.
    const keepAlive = setInterval(() => void heartbeat().catch(() => {}), this.#heartbeatIntervalMs);
    keepAlive.unref();
    try {
      for (let attempt = 1; ; attempt++) {
        const outcome = await Promise.race([
          Promise.resolve()
            .then(() => deliver(envelope))
            .then(
              (): typeof DONE => DONE,
              (error: unknown) => ({ error }),
            ),
          this.#abandon.promise.then((): typeof ABANDONED => ABANDONED),
        ]);
        if (outcome === DONE) return true;
        if (outcome === ABANDONED) {
          this.#log.warn(
            { partition, offset, type: envelope.type },
            'stopped while a copy was being handled; it comes again on the next start',
          );
          return false;
        }
        this.#telemetry.count('safe_bus_deliver_errors_total', { topic: this.#topic });
        const wait = Math.min(this.#deliverRetry.initialMs * 2 ** Math.min(attempt - 1, 20), this.#deliverRetry.maxMs);
        const log = attempt === 1 || (attempt & (attempt - 1)) === 0 ? this.#log.error.bind(this.#log) : this.#log.debug.bind(this.#log);
        log(
          { partition, offset, type: envelope.type, attempt, retryInMs: wait, error: describeKafkaError(outcome.error) },
          'handling a copy failed; retrying it',
        );
        if (this.#stopping) return false;
        const slept = await Promise.race([sleep(wait).then(() => true), this.#stopRequested.promise.then(() => false)]);
        if (!slept) return false;
      }
    } finally {
      clearInterval(keepAlive);
    }
  }
}
