import type { Labels, SpanHandle, Telemetry } from './ports.js';

const noSpan: SpanHandle = {
  context: () => ({}),
  setAttribute() {},
  end() {},
};

export const noTelemetry: Telemetry = {
  count() {},
  startSpan: () => noSpan,
};

/** Counters kept in memory (tests, the embedded testnet's admin output); spans are not recorded. */
export class CountingTelemetry implements Telemetry {
  readonly counters = new Map<string, number>();

  count(metric: string, labels: Labels, by = 1): void {
    const key = `${metric}{${Object.entries(labels)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}="${v}"`)
      .join(',')}}`;
    this.counters.set(key, (this.counters.get(key) ?? 0) + by);
  }

  startSpan(): SpanHandle {
    return noSpan;
  }

  /** Sum of a metric over every label set matching `labels`. */
  total(metric: string, labels: Labels = {}): number {
    let sum = 0;
    for (const [key, value] of this.counters) {
      if (!key.startsWith(`${metric}{`)) continue;
      if (Object.entries(labels).every(([k, v]) => key.includes(`${k}="${v}"`))) sum += value;
    }
    return sum;
  }

  /** Prometheus text exposition. */
  render(): string {
    return `${[...this.counters].map(([key, value]) => `${key} ${value}`).join('\n')}\n`;
  }
}
