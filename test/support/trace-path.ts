import { setTimeout as sleep } from 'node:timers/promises';
import { fetchTrace, type TraceSpan } from '@safe/client';

/** A Put's path across the personas, as parent edges (test/stack/trace.test.ts, test/k8s). */
export const PUT_PATH = [
  'safe-maid-manager/maid-manager Gateway.Send Put',
  'safe-maid-manager/maid-manager Put',
  'safe-data-manager/data-manager Put',
  'safe-pmid-manager/pmid-manager Put',
  'safe-pmid-node/pmid-node Put',
  'safe-pmid-manager/pmid-manager PutResponse',
  'safe-data-manager/data-manager PutResponse',
  'safe-maid-manager/maid-manager PutResponse',
];

export const spanKey = (span: TraceSpan) => `${span.service}/${span.operation}`;

/**
 * Does some chain of parent edges from `span` follow `path` (the first element is `span` itself)?
 * A member applying an action its group agreed on (`<persona> agreed <action>`) may stand between two steps.
 */
export function follows(span: TraceSpan, path: readonly string[], children: Map<string, TraceSpan[]>): boolean {
  const agreed = / agreed /.test(span.operation);
  if (!agreed && spanKey(span) !== path[0]) return false;
  const rest = agreed ? path : path.slice(1);
  if (rest.length === 0) return true;
  return (children.get(span.spanId) ?? []).some((child) => follows(child, rest, children));
}

export function childrenOf(spans: readonly TraceSpan[]): Map<string, TraceSpan[]> {
  const children = new Map<string, TraceSpan[]>();
  for (const span of spans) if (span.parentId !== undefined) children.set(span.parentId, [...(children.get(span.parentId) ?? []), span]);
  return children;
}

/**
 * The trace once it is whole: replicas export in batches, so it is read until every Gateway Put
 * has reached back to a MaidManager's PutResponse and two reads in a row agree (bounded reads).
 */
export async function wholeTrace(jaeger: string, id: string): Promise<TraceSpan[]> {
  let last: TraceSpan[] = [];
  for (let read = 0; read < 60; read++) {
    await sleep(2000);
    const spans = await fetchTrace(jaeger, id).catch(() => [] as TraceSpan[]);
    const children = childrenOf(spans);
    const puts = spans.filter((s) => spanKey(s) === 'safe-cli/Gateway.Send Put');
    const complete = puts.length > 0 && puts.every((put) => (children.get(put.spanId) ?? []).some((c) => follows(c, PUT_PATH, children)));
    if (complete && spans.length === last.length) return spans;
    last = spans;
  }
  return last;
}
