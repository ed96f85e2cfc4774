import type { SafeError, Telemetry } from '@safe/core';
import type { Kafka } from 'kafkajs';
import type { KafkaConnectOptions } from './connect.js';

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

/** A fetch's share of one partition: a record of the largest size a persona topic takes (see KafkaGroupConsumerOptions). */
export const DEFAULT_FETCH_BYTES_PER_PARTITION = 8 * 1024 * 1024;
/** A fetch's total, over all partitions. */
export const DEFAULT_FETCH_BYTES = 16 * 1024 * 1024;
