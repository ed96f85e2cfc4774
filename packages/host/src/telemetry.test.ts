import { randomBytes } from 'node:crypto';
import {
  type Context,
  type Link,
  propagation,
  type SpanContext,
  type SpanOptions,
  type TextMapPropagator,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { type Envelope, generateIdentity, type ReceiveResult, sealEnvelope } from '@safe/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetricsRegistry } from './metrics.js';
import { CopyTraces, OtelTelemetry } from './telemetry.js';

/** W3C traceparent only: enough to see which context became the parent. */
const w3c: TextMapPropagator = {
  inject(context, carrier, setter) {
    const sc = trace.getSpanContext(context);
    if (sc !== undefined) setter.set(carrier, 'traceparent', `00-${sc.traceId}-${sc.spanId}-0${sc.traceFlags}`);
  },
  extract(context, carrier, getter) {
    const value = getter.get(carrier, 'traceparent');
    const match = typeof value === 'string' ? /^00-([0-9a-f]{32})-([0-9a-f]{16})-0(\d)$/.exec(value) : null;
    if (match === null) return context;
    return trace.setSpanContext(context, { traceId: match[1] ?? '', spanId: match[2] ?? '', traceFlags: Number(match[3]), isRemote: true });
  },
  fields: () => ['traceparent'],
};

interface Started {
  name: string;
  parent: SpanContext | undefined;
  links: Link[];
}

function recordingTracer(started: Started[]): Tracer {
  const tracer: Tracer = {
    startSpan(name: string, options: SpanOptions = {}, context?: Context) {
      const parent = context === undefined ? undefined : trace.getSpanContext(context);
      started.push({ name, parent, links: options.links ?? [] });
      return trace.wrapSpanContext({
        traceId: parent?.traceId ?? randomBytes(16).toString('hex'),
        spanId: randomBytes(8).toString('hex'),
        traceFlags: 1,
      });
    },
    startActiveSpan: (() => {
      throw new Error('not used');
    }) as Tracer['startActiveSpan'],
  };
  return tracer;
}

const traceId = '0af7651916cd43dd8448eb211c80319c';
const parentOf = (spanId: string) => ({ traceparent: `00-${traceId}-${spanId}-01` });

beforeAll(() => {
  propagation.setGlobalPropagator(w3c);
});
afterAll(() => {
  propagation.disable();
});

describe('OtelTelemetry', () => {
  const metrics = new MetricsRegistry({ processMetrics: false });
  const content = {
    type: 'Put',
    source: { persona: 'data-manager', nae: generateIdentity().name },
    authority: 'group' as const,
    destination: { persona: 'pmid-manager', nae: generateIdentity().name },
    scope: 'close-group' as const,
    payload: new Uint8Array([1, 2, 3]),
    correlation: new Uint8Array(0),
  };
  /** Three members' copies of one group message, each sent from its own span of one trace. */
  const copies: Envelope[] = ['00f067aa0ba902b1', '00f067aa0ba902b2', '00f067aa0ba902b3'].map((spanId) =>
    sealEnvelope(content, generateIdentity(), parentOf(spanId)),
  );

  it('parents the handling span on the FIRST copy and links the others, through the queue of the runtime', async () => {
    const started: Started[] = [];
    const traces = new CopyTraces();
    const telemetry = new OtelTelemetry({ metrics, copies: traces, tracer: recordingTracer(started) });
    // Like the runtime: one queue, made before any copy arrived; the third copy reaches the quorum.
    let queue: Promise<unknown> = Promise.resolve();
    let seen = 0;
    const receive = (envelope: Envelope): Promise<ReceiveResult> => {
      const run = queue.then(async (): Promise<ReceiveResult> => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        if (++seen < 3) return 'pending';
        const span = telemetry.startSpan('pmid-manager Put', envelope.trace, []);
        const outgoing = span.context();
        span.end();
        expect(outgoing.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
        return 'handled';
      });
      queue = run;
      return run;
    };
    const results = await Promise.all(copies.map((copy) => traces.deliver(copy, receive)));
    expect(results).toEqual(['pending', 'pending', 'handled']);
    expect(started).toHaveLength(1);
    expect(started[0]?.parent?.spanId).toBe('00f067aa0ba902b1');
    expect(started[0]?.parent?.traceId).toBe(traceId);
    expect(started[0]?.links.map((l) => l.context.spanId)).toEqual(['00f067aa0ba902b2', '00f067aa0ba902b3']);
    expect(traces.size).toBe(0);
  });

  it('links the copies of a message handled later, while another message is delivered (it waited for its record)', async () => {
    const started: Started[] = [];
    const traces = new CopyTraces();
    const telemetry = new OtelTelemetry({ metrics, copies: traces, tracer: recordingTracer(started) });
    // All three copies count, but the message waits (for its record); a later, unrelated message lets it be handled.
    for (const copy of copies) expect(await traces.deliver(copy, async () => 'pending')).toBe('pending');
    const other = sealEnvelope({ ...content, type: 'Sync' }, generateIdentity(), parentOf('00f067aa0ba902b9'));
    await traces.deliver(other, async () => {
      telemetry.startSpan('pmid-manager Put', copies[2]?.trace, []).end();
      telemetry.startSpan('pmid-manager Sync', other.trace, []).end();
      return 'handled';
    });
    expect(started[0]?.parent?.spanId).toBe('00f067aa0ba902b1');
    expect(started[0]?.links.map((l) => l.context.spanId)).toEqual(['00f067aa0ba902b2', '00f067aa0ba902b3']);
    // The message being delivered keeps its own context, with none of the other's copies.
    expect(started[1]?.parent?.spanId).toBe('00f067aa0ba902b9');
    expect(started[1]?.links).toEqual([]);
    expect(traces.size).toBe(0);
  });

  it('links no copy that was held for its unknown sender: it did not make the quorum', async () => {
    const started: Started[] = [];
    const traces = new CopyTraces();
    const telemetry = new OtelTelemetry({ metrics, copies: traces, tracer: recordingTracer(started) });
    const fourth = sealEnvelope(content, generateIdentity(), parentOf('00f067aa0ba902b4'));
    expect(await traces.deliver(fourth, async () => 'held')).toBe('held');
    for (const copy of copies.slice(0, 2)) await traces.deliver(copy, async () => 'pending');
    await traces.deliver(copies[2] as Envelope, async () => {
      telemetry.startSpan('pmid-manager Put', copies[2]?.trace, []).end();
      return 'handled';
    });
    expect(started[0]?.parent?.spanId).toBe('00f067aa0ba902b1');
    expect(started[0]?.links.map((l) => l.context.spanId)).toEqual(['00f067aa0ba902b2', '00f067aa0ba902b3']);
  });

  it('uses the copy itself when a single copy is enough, and starts a root span without context', () => {
    const started: Started[] = [];
    const telemetry = new OtelTelemetry({ metrics, copies: new CopyTraces(), tracer: recordingTracer(started) });
    telemetry.startSpan('x', parentOf('00f067aa0ba902b7'), []).end();
    telemetry.startSpan('y', {}, []).end(new Error('boom'));
    expect(started[0]?.parent?.spanId).toBe('00f067aa0ba902b7');
    expect(started[0]?.links).toEqual([]);
    expect(started[1]?.parent).toBeUndefined();
  });

  it('forgets copies of messages that never complete, oldest first', async () => {
    const traces = new CopyTraces(2);
    for (let i = 0; i < 5; i++) {
      const copy = sealEnvelope({ ...content, payload: Uint8Array.of(i) }, generateIdentity(), parentOf('00f067aa0ba902b1'));
      await traces.deliver(copy, async () => 'pending');
    }
    expect(traces.size).toBe(2);
  });

  it('counts into the Prometheus registry', async () => {
    const telemetry = new OtelTelemetry({ metrics });
    telemetry.count('safe_messages_total', { persona: 'pmid-manager', type: 'Put', result: 'not-responsible' }, 3);
    expect(await metrics.total('safe_messages_total', { result: 'not-responsible' })).toBe(3);
  });
});
