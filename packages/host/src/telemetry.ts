import { AsyncLocalStorage } from 'node:async_hooks';
import {
  type Context,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { type Envelope, type Labels, type ReceiveResult, type SpanHandle, type Telemetry, toHex } from '@safe/core';
import type { MetricsRegistry } from './metrics.js';

type Trace = Readonly<Record<string, string>>;

function hasTrace(value: Trace | undefined): value is Trace {
  return value !== undefined && Object.keys(value).length > 0;
}

/**
 * The trace contexts of the copies of one group message, so the span that handles it has the
 * FIRST copy as its parent and the other copies that made the quorum as links (ARCHITECTURE.md:
 * one trace per client request). The runtime hands the span only the context of the copy that
 * completed the quorum; the copies before it are remembered here as they are delivered.
 *
 * `deliver` wraps `replica.receive`: it makes the copy being handled known to `startSpan` (through
 * AsyncLocalStorage, which follows the runtime's queue) and remembers the copy's context while its
 * message is still `pending`. A message handled later, while another message is delivered (one
 * that waited for its record or its content), is found by its quorum copy's traceparent, which
 * the runtime passes as the parent. A copy `held` for its unknown sender counted for no quorum
 * and is not remembered. Bounded: the oldest messages are forgotten first.
 */
export class CopyTraces {
  readonly #current = new AsyncLocalStorage<Envelope>();
  readonly #pending = new Map<string, Trace[]>();
  /** traceparent of a remembered copy → its message's key in #pending. */
  readonly #messageOf = new Map<string, string>();
  readonly #limit: number;

  constructor(limit = 10_000) {
    this.#limit = limit;
  }

  /** Messages with copies remembered. */
  get size(): number {
    return this.#pending.size;
  }

  async deliver(envelope: Envelope, receive: (envelope: Envelope) => Promise<ReceiveResult>): Promise<ReceiveResult> {
    const result = await this.#current.run(envelope, () => receive(envelope));
    const key = toHex(envelope.id);
    if (result === 'pending') {
      if (hasTrace(envelope.trace)) {
        const list = this.#pending.get(key) ?? [];
        if (!list.some((t) => t.traceparent === envelope.trace.traceparent)) list.push(envelope.trace);
        this.#pending.delete(key);
        this.#pending.set(key, list);
        if (envelope.trace.traceparent !== undefined) this.#messageOf.set(envelope.trace.traceparent, key);
        while (this.#pending.size > this.#limit) {
          const oldest = this.#pending.keys().next().value;
          if (oldest === undefined) break;
          this.#forget(oldest);
        }
      }
    } else if (result !== 'late' && result !== 'duplicate') {
      this.#forget(key);
    }
    return result;
  }

  #forget(key: string): void {
    for (const copy of this.#pending.get(key) ?? []) if (copy.traceparent !== undefined) this.#messageOf.delete(copy.traceparent);
    this.#pending.delete(key);
  }

  /**
   * Parent and links for the span of the message being handled now: the first copy's context,
   * and every other copy's. Falls back to what the runtime passed when no copy is known.
   */
  resolve(parent: Trace | undefined, links: readonly Trace[]): { parent: Trace | undefined; links: Trace[] } {
    const envelope = this.#current.getStore();
    const handlingCurrent = envelope !== undefined && (!hasTrace(parent) || parent.traceparent === envelope.trace.traceparent);
    const remembered = parent?.traceparent === undefined ? undefined : this.#messageOf.get(parent.traceparent);
    const key = remembered ?? (handlingCurrent ? toHex(envelope.id) : undefined);
    if (key === undefined) return { parent, links: [...links] };
    const copies = [...(this.#pending.get(key) ?? [])];
    this.#forget(key);
    if (handlingCurrent && hasTrace(envelope.trace) && !copies.some((t) => t.traceparent === envelope.trace.traceparent)) {
      copies.push(envelope.trace);
    }
    if (hasTrace(parent) && !copies.some((t) => t.traceparent === parent.traceparent)) copies.push(parent);
    const [first, ...rest] = copies;
    return { parent: first ?? parent, links: [...rest, ...links] };
  }
}

function extract(carrier: Trace | undefined): Context {
  if (!hasTrace(carrier)) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, carrier);
}

class OtelSpan implements SpanHandle {
  readonly #span: Span;
  #ended = false;

  constructor(span: Span) {
    this.#span = span;
  }

  context(): Record<string, string> {
    const carrier: Record<string, string> = {};
    propagation.inject(trace.setSpan(ROOT_CONTEXT, this.#span), carrier);
    return carrier;
  }

  setAttribute(key: string, value: string | number | boolean): void {
    this.#span.setAttribute(key, value);
  }

  end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    if (error !== undefined) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof Error) this.#span.recordException(error);
      this.#span.setStatus({ code: SpanStatusCode.ERROR, message });
    }
    this.#span.end();
  }
}

export interface OtelTelemetryOptions {
  /** Where counters go (the admin port's /metrics). */
  readonly metrics: MetricsRegistry;
  /** Copy contexts for parent + links; without it the runtime's parent is used as is. */
  readonly copies?: CopyTraces;
  /** Attributes on every span (persona, node name). */
  readonly attributes?: Labels;
  readonly tracer?: Tracer;
}

/**
 * core's Telemetry port on OpenTelemetry: a span per handled message whose parent is the
 * envelope's W3C trace context (extracted with the globally registered propagator, i.e. the
 * NodeSDK's W3C propagator when `otel.js` is preloaded) and whose links are the other copies;
 * counters go to the Prometheus registry. Without a registered SDK every span is a no-op and no
 * context is injected: the process runs untraced.
 */
export class OtelTelemetry implements Telemetry {
  readonly #metrics: MetricsRegistry;
  readonly #copies: CopyTraces | undefined;
  readonly #attributes: Labels;
  readonly #tracer: Tracer | undefined;

  constructor(options: OtelTelemetryOptions) {
    this.#metrics = options.metrics;
    this.#copies = options.copies;
    this.#attributes = options.attributes ?? {};
    this.#tracer = options.tracer;
  }

  count(metric: string, labels: Labels, by = 1): void {
    this.#metrics.inc(metric, labels, by);
  }

  /** `kind`: `consumer` for a handled copy (the runtime's spans), `server` for a client call at the entry. */
  startSpan(name: string, parent: Trace | undefined, links: readonly Trace[], kind: 'consumer' | 'server' = 'consumer'): SpanHandle {
    const resolved = this.#copies?.resolve(parent, links) ?? { parent, links: [...links] };
    const spanLinks: Link[] = [];
    for (const carrier of resolved.links) {
      const spanContext = trace.getSpanContext(extract(carrier));
      if (spanContext !== undefined && trace.isSpanContextValid(spanContext)) {
        spanLinks.push({ context: spanContext, attributes: { 'safe.link': 'copy' } });
      }
    }
    const tracer = this.#tracer ?? trace.getTracer('@safe/host');
    const span = tracer.startSpan(
      name,
      {
        kind: kind === 'server' ? SpanKind.SERVER : SpanKind.CONSUMER,
        links: spanLinks,
        attributes: { ...this.#attributes, 'safe.copies': spanLinks.length + 1 },
      },
      extract(resolved.parent),
    );
    return new OtelSpan(span);
  }
}
