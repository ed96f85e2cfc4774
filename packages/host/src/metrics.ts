import type { ChunkCache, ChunkCacheStats, Labels } from '@safe/core';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** The chunk cache's counters and size (SPEC.md 4 Caching), read from the cache at every scrape. */
const CACHE_METRICS: readonly [string, string, keyof ChunkCacheStats, 'counter' | 'gauge'][] = [
  ['safe_cache_hits_total', 'Gets this replica answered from its chunk cache', 'hits', 'counter'],
  ['safe_cache_misses_total', 'Gets this replica looked up in its chunk cache and did not find', 'misses', 'counter'],
  ['safe_cache_inserts_total', 'Chunks this replica put in its cache', 'inserts', 'counter'],
  ['safe_cache_evictions_total', 'Chunks evicted (oldest first) to keep the cache within its bounds', 'evictions', 'counter'],
  [
    'safe_cache_rejected_total',
    'Chunks refused by the cache: content not hashing to its name, or larger than the cache',
    'rejected',
    'counter',
  ],
  ['safe_cache_bytes', 'Bytes of chunk content in the cache', 'bytes', 'gauge'],
  ['safe_cache_entries', 'Chunks in the cache', 'entries', 'gauge'],
];

/** Shows `cache`'s hits, misses and size on `metrics`, labelled with `labels` (the replica's persona). */
export function exposeCacheMetrics(metrics: MetricsRegistry, cache: ChunkCache, labels: Labels): void {
  for (const [name, help, stat, type] of CACHE_METRICS) {
    metrics.gauge({ name, help, type, labelNames: Object.keys(labels), collect: () => [{ labels, value: cache.stats[stat] }] });
  }
}

/** A sample of a gauge: its labels and value at the time of a scrape. */
export interface GaugeSample {
  readonly labels: Labels;
  readonly value: number;
}

/** A metric whose samples are read by `collect` at every scrape. */
export interface GaugeOptions {
  readonly name: string;
  readonly help: string;
  /** The label names of its samples (a sample's other labels are left out). */
  readonly labelNames?: readonly string[];
  /** `counter` for a count kept elsewhere (the chunk cache's hits). */
  readonly type?: 'gauge' | 'counter';
  readonly collect: () => readonly GaugeSample[] | number;
}

/** What the runtime counts, with HELP text and label names; any other counter it counts is shown too. */
export const KNOWN_COUNTERS: Readonly<Record<string, { help: string; labelNames: readonly string[] }>> = {
  safe_messages_total: {
    help: 'Copies this replica received, by persona, message type and result (handled, pending (short of its quorum, or held for its record), duplicate, late, not-responsible, reply, synced, rejected)',
    labelNames: ['persona', 'type', 'result'],
  },
  safe_direct_dropped_total: {
    help: 'Direct messages (gRPC Deliver) this replica could not deliver, by reason',
    labelNames: ['persona', 'type', 'reason'],
  },
  safe_membership_changes_total: {
    help: 'Changes of the membership view this replica applied (each one a matrix change)',
    labelNames: ['persona'],
  },
  safe_transfer_records_total: {
    help: 'Account-transfer records this replica sent, wrote once agreed, or rejected',
    labelNames: ['persona', 'result'],
  },
  safe_sender_awaits_total: {
    help: "Copies a node signed for itself held until this replica's view knows their sender: held (held-again per view that still does not), expired (refused)",
    labelNames: ['persona', 'result'],
  },
  safe_record_awaits_total: {
    help: 'Requests a replica that just entered their close group held for the record account transfer brings: held, then record-written or expired (refused)',
    labelNames: ['persona', 'result'],
  },
  safe_bus_published_total: { help: 'Copies this replica published to the group bus (Kafka), by topic', labelNames: ['topic'] },
  safe_bus_published_bytes_total: {
    help: 'Bytes (record key and value) this replica published to the group bus, by topic',
    labelNames: ['topic'],
  },
  safe_bus_publish_errors_total: { help: 'Copies the group bus did not acknowledge in time, by topic', labelNames: ['topic'] },
  safe_bus_consumed_total: {
    help: "Records this replica fetched from its persona's topic, handled or not: only the partitions of its XOR neighbourhood once it follows its view",
    labelNames: ['topic'],
  },
  safe_bus_consumed_bytes_total: {
    help: 'Bytes (record key and value) this replica fetched from its persona topic, by topic',
    labelNames: ['topic'],
  },
  safe_bus_delivered_total: { help: 'Copies from the group bus this replica handed to its runtime, by topic', labelNames: ['topic'] },
  safe_bus_deliver_errors_total: {
    help: 'Attempts to hand a copy to the runtime that failed for transient trouble (retried), by topic',
    labelNames: ['topic'],
  },
  safe_bus_undecodable_total: {
    help: 'Records on the group bus that did not decode as an envelope (skipped), by topic',
    labelNames: ['topic'],
  },
  safe_bus_consumer_crashes_total: {
    help: 'Crashes of the group-bus consumer (kafkajs restarts it, or the replica stops), by topic',
    labelNames: ['topic'],
  },
};

interface CounterFamily {
  readonly counter: Counter;
  /** Sorted: a sample's labels are written in this order. */
  readonly labelNames: readonly string[];
}

/** Only `labelNames`, in their order (samples print the same whatever order the caller used). */
function pick(labelNames: readonly string[], labels: Labels): Labels {
  const picked: Record<string, string> = {};
  for (const name of labelNames) {
    const value = labels[name];
    if (value !== undefined) picked[name] = value;
  }
  return picked;
}

/**
 * The process_* and nodejs_* metrics (prom-client's defaults), registered once per process: they
 * describe the process, whichever of the replicas in it is scraped, and each registration would
 * add its own event-loop monitor and GC observer.
 */
let processRegistry: Registry | undefined;

function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    // The event-loop monitor's default 10 ms sampling woke every idle replica 100 times a second,
    // most of what a testnet at rest cost; once a second still shows a loop that stalls.
    collectDefaultMetrics({ register: processRegistry, eventLoopMonitoringPrecision: 1000 });
  }
  return processRegistry;
}

/**
 * One replica's Prometheus registry (prom-client, text exposition 0.0.4): the runtime's counters,
 * created as they are first counted, metrics read at scrape time, and the process's metrics.
 */
export class MetricsRegistry {
  readonly #registry = new Registry();
  readonly #counters = new Map<string, CounterFamily>();
  readonly #process: Registry | undefined;

  constructor(options: { processMetrics?: boolean } = {}) {
    for (const [name, { help, labelNames }] of Object.entries(KNOWN_COUNTERS)) this.#counter(name, help, labelNames);
    this.#process = (options.processMetrics ?? true) ? processMetrics() : undefined;
  }

  /**
   * Adds `by` to the counter `name` with `labels`. A new name becomes a counter whose label names
   * are those of its first use; a later use's other label names are left out (callers count a
   * name with one set of labels). A gauge's name, or a negative `by`, counts nothing.
   */
  inc(name: string, labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) return;
    const family = this.#counters.get(name) ?? this.#counter(name, `${name}, as counted by the runtime`, Object.keys(labels));
    family?.counter.inc(pick(family.labelNames, labels), by);
  }

  /** The counter's value summed over every label set that matches `labels`. */
  async total(name: string, labels: Labels = {}): Promise<number> {
    const family = this.#counters.get(name);
    if (family === undefined) return 0;
    let sum = 0;
    for (const { labels: own, value } of (await family.counter.get()).values) {
      if (Object.entries(labels).every(([k, v]) => own[k] === v)) sum += value;
    }
    return sum;
  }

  /** A gauge (or a counter kept elsewhere) whose samples are read by `collect` at every scrape; replaces one of that name. */
  gauge(options: GaugeOptions): void {
    const { name, help, type = 'gauge' } = options;
    const labelNames = [...(options.labelNames ?? [])].sort();
    const read = (): readonly GaugeSample[] => {
      try {
        const value = options.collect();
        return typeof value === 'number' ? [{ labels: {}, value }] : value;
      } catch {
        return [];
      }
    };
    const samples = () => read().map((s) => ({ labels: pick(labelNames, s.labels), value: Number.isFinite(s.value) ? s.value : 0 }));
    this.#counters.delete(name);
    this.#registry.removeSingleMetric(name);
    function collect(this: Counter | Gauge): void {
      this.reset();
      for (const s of samples()) {
        if (this instanceof Gauge) this.set(s.labels, s.value);
        else this.inc(s.labels, Math.max(0, s.value));
      }
    }
    const config = { name, help, labelNames, registers: [], collect };
    const metric = type === 'counter' ? new Counter(config) : new Gauge(config);
    this.#registry.registerMetric(metric);
  }

  /** The content type of `render`'s text. */
  get contentType(): string {
    return this.#registry.contentType;
  }

  /** Prometheus text exposition. */
  render(): Promise<string> {
    const registry = this.#process === undefined ? this.#registry : Registry.merge([this.#registry, this.#process]);
    return registry.metrics();
  }

  #counter(name: string, help: string, labelNames: readonly string[]): CounterFamily | undefined {
    if (this.#registry.getSingleMetric(name) !== undefined) return undefined;
    const family = { counter: new Counter({ name, help, labelNames, registers: [this.#registry] }), labelNames: [...labelNames].sort() };
    this.#counters.set(name, family);
    return family;
  }
}
