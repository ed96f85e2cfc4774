import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { ChunkCache, ChunkCacheStats, Labels } from '@safe/core';

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
    metrics.gauge(name, help, () => [{ labels, value: cache.stats[stat] }], type);
  }
}

/** A sample of a gauge: its labels and value at the time of a scrape. */
export interface GaugeSample {
  readonly labels: Labels;
  readonly value: number;
}

interface Family {
  readonly type: 'counter' | 'gauge';
  readonly help: string;
  /** Counters: label key → value. */
  readonly values: Map<string, { labels: Labels; value: number }>;
  /** Gauges: read at scrape time. */
  readonly collect?: () => GaugeSample[];
}

/** What the runtime counts, with HELP text for the scrape; any other metric it counts is shown too. */
export const KNOWN_COUNTERS: Readonly<Record<string, string>> = {
  safe_messages_total:
    'Copies this replica received, by persona, message type and result (handled, pending (short of its quorum, or held for its record), duplicate, late, not-responsible, reply, synced, rejected)',
  safe_direct_dropped_total: 'Direct messages (gRPC Deliver) this replica could not deliver, by reason',
  safe_membership_changes_total: 'Changes of the membership view this replica applied (each one a matrix change)',
  safe_transfer_records_total: 'Account-transfer records this replica sent, wrote once agreed, or rejected',
  safe_sender_awaits_total:
    "Copies a node signed for itself held until this replica's view knows their sender: held (held-again per view that still does not), expired (refused)",
  safe_record_awaits_total:
    'Requests a replica that just entered their close group held for the record account transfer brings: held, then record-written or expired (refused)',
  safe_bus_published_total: 'Copies this replica published to the group bus (Kafka), by topic',
  safe_bus_published_bytes_total: 'Bytes (record key and value) this replica published to the group bus, by topic',
  safe_bus_publish_errors_total: 'Copies the group bus did not acknowledge in time, by topic',
  safe_bus_consumed_total:
    "Records this replica fetched from its persona's topic, handled or not: only the partitions of its XOR neighbourhood once it follows its view",
  safe_bus_consumed_bytes_total: 'Bytes (record key and value) this replica fetched from its persona topic, by topic',
  safe_bus_delivered_total: 'Copies from the group bus this replica handed to its runtime, by topic',
  safe_bus_deliver_errors_total: 'Attempts to hand a copy to the runtime that failed for transient trouble (retried), by topic',
  safe_bus_undecodable_total: 'Records on the group bus that did not decode as an envelope (skipped), by topic',
  safe_bus_consumer_crashes_total: 'Crashes of the group-bus consumer (kafkajs restarts it, or the replica stops), by topic',
};

function escapeLabel(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

function labelKey(labels: Labels): string {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',');
}

function sample(name: string, labels: Labels, value: number): string {
  const key = labelKey(labels);
  return `${name}${key === '' ? '' : `{${key}}`} ${Number.isFinite(value) ? value : 0}`;
}

/**
 * A small Prometheus registry (text exposition format 0.0.4): the runtime's counters, gauges read
 * at scrape time, and the usual process_* and nodejs_* metrics.
 */
export class MetricsRegistry {
  readonly #families = new Map<string, Family>();
  readonly #loopDelay = monitorEventLoopDelay({ resolution: 20 });

  constructor(options: { processMetrics?: boolean } = {}) {
    for (const [name, help] of Object.entries(KNOWN_COUNTERS)) this.#families.set(name, { type: 'counter', help, values: new Map() });
    if (options.processMetrics ?? true) this.#processMetrics();
  }

  /** Adds `by` to the counter `name` with `labels`; a new name becomes a counter family. */
  inc(name: string, labels: Labels = {}, by = 1): void {
    let family = this.#families.get(name);
    if (family === undefined) {
      family = { type: 'counter', help: `${name}, as counted by the runtime`, values: new Map() };
      this.#families.set(name, family);
    }
    if (family.collect !== undefined) return;
    const key = labelKey(labels);
    const entry = family.values.get(key);
    if (entry === undefined) family.values.set(key, { labels: { ...labels }, value: by });
    else entry.value += by;
  }

  /** The counter's value summed over every label set that matches `labels`. */
  total(name: string, labels: Labels = {}): number {
    const family = this.#families.get(name);
    if (family === undefined) return 0;
    let sum = 0;
    for (const { labels: own, value } of family.values.values()) {
      if (Object.entries(labels).every(([k, v]) => own[k] === v)) sum += value;
    }
    return sum;
  }

  /** A gauge (or a counter kept elsewhere) whose samples are read by `collect` at every scrape. */
  gauge(name: string, help: string, collect: () => GaugeSample[] | number, type: 'gauge' | 'counter' = 'gauge'): void {
    this.#families.set(name, {
      type,
      help,
      values: new Map(),
      collect: () => {
        const value = collect();
        return typeof value === 'number' ? [{ labels: {}, value }] : value;
      },
    });
  }

  /** Prometheus text exposition. */
  render(): string {
    const lines: string[] = [];
    for (const [name, family] of this.#families) {
      lines.push(`# HELP ${name} ${family.help.replaceAll('\\', '\\\\').replaceAll('\n', '\\n')}`, `# TYPE ${name} ${family.type}`);
      if (family.collect !== undefined) {
        let samples: GaugeSample[];
        try {
          samples = family.collect();
        } catch {
          samples = [];
        }
        for (const s of samples) lines.push(sample(name, s.labels, s.value));
      } else {
        for (const { labels, value } of family.values.values()) lines.push(sample(name, labels, value));
      }
    }
    return `${lines.join('\n')}\n`;
  }

  /** Stops the event-loop delay monitor. */
  close(): void {
    this.#loopDelay.disable();
  }

  #processMetrics(): void {
    const startSeconds = Math.round((Date.now() - performance.now()) / 1000);
    this.#loopDelay.enable();
    this.gauge('process_resident_memory_bytes', 'Resident memory size in bytes', () => process.memoryUsage.rss());
    this.gauge('process_heap_bytes', 'V8 heap in use, in bytes', () => process.memoryUsage().heapUsed);
    this.gauge('nodejs_heap_size_total_bytes', 'V8 heap size, in bytes', () => process.memoryUsage().heapTotal);
    this.gauge(
      'nodejs_external_memory_bytes',
      'Memory of C++ objects bound to JavaScript objects, in bytes',
      () => process.memoryUsage().external,
    );
    this.gauge('process_cpu_user_seconds_total', 'User CPU time spent, in seconds', () => process.cpuUsage().user / 1e6, 'counter');
    this.gauge('process_cpu_system_seconds_total', 'System CPU time spent, in seconds', () => process.cpuUsage().system / 1e6, 'counter');
    this.gauge(
      'process_cpu_seconds_total',
      'User and system CPU time spent, in seconds',
      () => {
        const { user, system } = process.cpuUsage();
        return (user + system) / 1e6;
      },
      'counter',
    );
    this.gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch, in seconds', () => startSeconds);
    this.gauge('process_open_fds', 'Open file descriptors', () => {
      try {
        return readdirSync('/proc/self/fd').length;
      } catch {
        return [];
      }
    });
    this.gauge('nodejs_eventloop_delay_p99_seconds', 'Event-loop delay, 99th percentile since the last scrape, in seconds', () => {
      const p99 = this.#loopDelay.percentile(99) / 1e9;
      this.#loopDelay.reset();
      return p99;
    });
  }
}
