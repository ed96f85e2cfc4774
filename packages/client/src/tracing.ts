import { type Attributes, context, propagation, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';

/**
 * The SDK's spans, on the OpenTelemetry API only: without a registered SDK (the CLI registers one
 * for `--trace` or OTEL_EXPORTER_OTLP_ENDPOINT) every span is a no-op and no context is sent.
 */
const tracer = () => trace.getTracer('@safe/client');

/**
 * Runs `work` inside a new span, a child of the active one (the command's root span, if any), and
 * ends it with work's outcome: an error sets the span's status to ERROR and is thrown on.
 */
export async function inSpan<T>(
  name: string,
  kind: 'internal' | 'client',
  attributes: Attributes,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer().startActiveSpan(name, { kind: kind === 'client' ? SpanKind.CLIENT : SpanKind.INTERNAL, attributes }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      if (error instanceof Error) span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** The active span's W3C context (traceparent, tracestate): what the Gateway continues the trace from. */
export function activeTraceContext(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

/** Sets attributes on the active span (the command's root span when called from a command). */
export function annotateActiveSpan(attributes: Attributes): void {
  trace.getActiveSpan()?.setAttributes(attributes);
}
