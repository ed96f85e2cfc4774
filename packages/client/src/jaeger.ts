import { SafeError } from '@safe/core';

/** One span of a trace as Jaeger's query API returns it, reduced to what the tree and the tests read. */
export interface TraceSpan {
  readonly spanId: string;
  /** The CHILD_OF reference, if its parent is in the trace. */
  readonly parentId: string | undefined;
  readonly service: string;
  readonly operation: string;
  readonly startUs: number;
  readonly durationUs: number;
  readonly error: boolean;
  /** Links (FOLLOWS_FROM references): the other quorum copies of a handled message. */
  readonly links: number;
  readonly tags: Readonly<Record<string, string | number | boolean>>;
}

interface JaegerSpan {
  spanID: string;
  operationName: string;
  startTime: number;
  duration: number;
  processID: string;
  references?: { refType: string; spanID: string }[];
  tags?: { key: string; value: string | number | boolean }[];
}
interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

export function parseTraceId(text: string): string {
  if (!/^(?:[0-9a-f]{16}|[0-9a-f]{32})$/i.test(text))
    throw new SafeError('invalid-argument', `invalid trace id ${JSON.stringify(text)}: expected 32 hex characters`);
  return text.toLowerCase();
}

/** GET `path` of Jaeger's query API at `base`: its JSON, or undefined for a 404; unreachable is 'unavailable'. */
async function query(base: string, path: string): Promise<unknown> {
  const url = `${base.replace(/\/+$/, '')}${path}`;
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  } catch (error) {
    throw new SafeError(
      'unavailable',
      `cannot reach Jaeger at ${base}: ${error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error)}`,
    );
  }
  if (response.status === 404) return undefined;
  if (!response.ok) throw new SafeError('unavailable', `Jaeger at ${base} answered ${response.status} to ${path}`);
  return response.json();
}

function toSpans(trace: JaegerTrace): TraceSpan[] {
  const ids = new Set(trace.spans.map((s) => s.spanID));
  return trace.spans.map((s) => {
    const tags = Object.fromEntries((s.tags ?? []).map((t) => [t.key, t.value]));
    const parent = s.references?.find((r) => r.refType === 'CHILD_OF' && ids.has(r.spanID));
    return {
      spanId: s.spanID,
      parentId: parent?.spanID,
      service: trace.processes[s.processID]?.serviceName ?? s.processID,
      operation: s.operationName,
      startUs: s.startTime,
      durationUs: s.duration,
      error: tags.error === true || tags['otel.status_code'] === 'ERROR',
      links: (s.references ?? []).filter((r) => r.refType === 'FOLLOWS_FROM').length,
      tags,
    };
  });
}

/** The spans of trace `id`; 'not-found' when Jaeger has none (yet: spans arrive in batches). */
export async function fetchTrace(base: string, id: string): Promise<TraceSpan[]> {
  const body = (await query(base, `/api/traces/${parseTraceId(id)}`)) as { data?: JaegerTrace[] } | undefined;
  const trace = body?.data?.[0];
  if (trace === undefined || trace.spans.length === 0) {
    throw new SafeError('not-found', `Jaeger at ${base} has no trace ${id} (spans reach it a few seconds after the command)`);
  }
  return toSpans(trace);
}

/** The ids of the traces Jaeger holds with spans of `service` (and `operation`, if given) since `sinceMs` (epoch ms). */
export async function findTraces(base: string, service: string, sinceMs: number, operation?: string): Promise<string[]> {
  const filter = operation === undefined ? '' : `&operation=${encodeURIComponent(operation)}`;
  const path = `/api/traces?service=${encodeURIComponent(service)}${filter}&start=${sinceMs * 1000}&limit=1000`;
  const body = (await query(base, path)) as { data?: JaegerTrace[] } | undefined;
  return [...new Set((body?.data ?? []).map((t) => t.traceID))];
}

function duration(us: number): string {
  return us >= 1_000_000 ? `${(us / 1_000_000).toFixed(2)} s` : `${(us / 1000).toFixed(1)} ms`;
}

/** The trace as an indented tree, children in start order: `service  operation  duration`. */
export function formatTraceTree(spans: readonly TraceSpan[]): string {
  const children = new Map<string | undefined, TraceSpan[]>();
  for (const span of spans) children.set(span.parentId, [...(children.get(span.parentId) ?? []), span]);
  const lines: string[] = [];
  const walk = (parent: string | undefined, depth: number) => {
    for (const span of (children.get(parent) ?? []).sort((a, b) => a.startUs - b.startUs)) {
      const marks = `${span.links > 0 ? `  +${span.links} link(s)` : ''}${span.error ? '  ERROR' : ''}`;
      lines.push(`${'  '.repeat(depth)}${span.service}  ${span.operation}  ${duration(span.durationUs)}${marks}`);
      walk(span.spanId, depth + 1);
    }
  };
  walk(undefined, 0);
  return `${lines.join('\n')}\n`;
}
