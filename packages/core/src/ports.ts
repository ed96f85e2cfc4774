/**
 * The storage and infrastructure ports of the core. Adapters: in-memory (src/memory), Redis and
 * Postgres (packages/adapters-*), OpenTelemetry (packages/telemetry).
 */

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
