/**
 * The storage and infrastructure ports of the core. Adapters: in-memory (src/memory), Redis and
 * Postgres (packages/adapters-*), OpenTelemetry (packages/telemetry).
 */

import type { Envelope } from './envelope.js';
import type { RankReport } from './routing.js';

export interface AccumulationResult {
  /** Distinct senders counted for this id so far. */
  readonly count: number;
  /** True on exactly one call per id: the copy that brought the count to the quorum. */
  readonly reached: boolean;
  /** This sender had already been counted for this id. */
  readonly repeat: boolean;
}

export interface AccumulatorStore {
  /** Counts `sender` for `id`, atomically (one round trip where the backend allows it). */
  add(id: string, sender: string, quorum: number, ttlMs: number): Promise<AccumulationResult>;
}

/** A reply as the firewall keeps it: enough to send the same answer again. */
export interface RecordedReply {
  readonly type: string;
  readonly payload: Uint8Array;
}

export type FirewallRecord = { readonly state: 'syncing' } | { readonly state: 'done'; readonly reply: RecordedReply | null };

export interface FirewallStore {
  /** Atomically: when `id` is unknown, records it as syncing and returns null; else returns its record. */
  admit(id: string, ttlMs: number): Promise<FirewallRecord | null>;
  /** The record of `id`, if any; never creates one. */
  lookup(id: string): Promise<FirewallRecord | null>;
  /** Uf: the computed result, kept for `ttlMs`. */
  record(id: string, record: FirewallRecord, ttlMs: number): Promise<void>;
}

/** A small keyed store for sync entries and account-transfer votes of one replica. */
export interface EntryStore<T> {
  get(key: string): Promise<T | undefined>;
  set(key: string, value: T): Promise<void>;
  delete(key: string): Promise<void>;
  keys(): Promise<string[]>;
  /** Every entry with its key, read at once (one round trip to a remote store). */
  entries(): Promise<[string, T][]>;
}

export interface Clock {
  now(): number;
  /** Runs `fn` after `ms`; returns a function that cancels it. */
  schedule(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  schedule(ms, fn) {
    const timer = setTimeout(fn, ms);
    timer.unref?.();
    return () => clearTimeout(timer);
  },
};

export type Labels = Readonly<Record<string, string>>;

export interface SpanHandle {
  /** W3C trace context of this span, to put on outgoing messages. */
  context(): Record<string, string>;
  setAttribute(key: string, value: string | number | boolean): void;
  end(error?: unknown): void;
}

export interface Telemetry {
  count(metric: string, labels: Labels, by?: number): void;
  /** A span whose parent is `parent` (a trace context carried by a message); `links` are other copies' contexts. */
  startSpan(
    name: string,
    parent: Readonly<Record<string, string>> | undefined,
    links: ReadonlyArray<Readonly<Record<string, string>>>,
  ): SpanHandle;
}

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: object): Logger;
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

/**
 * Who is on the network: replicas announce themselves (name, key, endpoint) with heartbeats and
 * every replica watches the set. Adapters: in-process (the embedded testnet's shared view), Redis.
 * Each change a watcher sees becomes a new RoutingTable, i.e. a matrix change per persona.
 */
export interface MemberAnnouncement {
  readonly persona: string;
  readonly name: Uint8Array;
  readonly publicKey: Uint8Array;
  /** gRPC address for direct messages, `host:port`. */
  readonly endpoint: string;
  /** A PmidManager's rank reports on the PmidNodes it manages (see PersonaDefinition.rankReports). */
  readonly rankReports?: readonly RankReport[];
}

export interface Membership {
  /** Announces `self` and keeps announcing it (heartbeat) until `leave()`; called again, announces what changed in it (its rank reports). */
  join(self: MemberAnnouncement): Promise<void>;
  /** The members now alive (heartbeat within the expiry), every persona. */
  members(): Promise<MemberAnnouncement[]>;
  /** Calls `onChange` with the whole member set whenever it changes; returns a function that stops watching. */
  watch(onChange: (members: MemberAnnouncement[]) => void): () => void;
  /** Withdraws the announcement at once (a clean shutdown), instead of waiting for expiry. */
  leave(): Promise<void>;
}

/**
 * The group bus a replica reads from: every copy addressed to its persona, delivered one at a
 * time to `deliver`. An adapter acknowledges (commits) a copy only after `deliver` resolved, so a
 * replica that restarts with the same identity loses no copy it had not finished handling.
 */
export interface GroupBusConsumer {
  start(deliver: (envelope: Envelope) => Promise<void>): Promise<void>;
  stop(): Promise<void>;
  /**
   * Narrows what it reads to the copies this replica can be responsible for, given its persona's
   * members as its routing view has them (called at start and on every view change). Optional: a
   * bus without it delivers everything, and the runtime's destination check drops the rest.
   */
  follow?(names: readonly Uint8Array[]): void;
}
