import { describe, expect, it } from 'vitest';
import type { Name } from './name.js';
import type { SpanHandle, Telemetry } from './ports.js';
import { TraceCauses } from './trace-causes.js';

const name = (byte: number) => new Uint8Array(64).fill(byte) as Name;
const traceOf = (n: number) => ({ traceparent: `00-${String(n).padStart(32, '0')}-${'1'.repeat(16)}-01` });

/** Records what each span was started with. */
function recording(): Telemetry & { spans: { name: string; parent: unknown; links: unknown[] }[] } {
  const spans: { name: string; parent: unknown; links: unknown[] }[] = [];
  const handle: SpanHandle = { context: () => ({}), setAttribute() {}, end() {} };
  return {
    spans,
    count() {},
    startSpan(spanName, parent, links) {
      spans.push({ name: spanName, parent, links: [...links] });
      return handle;
    },
  };
}

const out = (nae: Name) => ({
  type: 'Repair',
  to: { persona: 'pmid-manager' as const, nae },
  scope: 'close-group' as const,
  payload: new Uint8Array(0),
  as: nae,
});

describe('TraceCauses', () => {
  it('a tick span for a NAE is a new root linked to the last trace handled for it', () => {
    const causes = new TraceCauses();
    const telemetry = recording();
    causes.remember(name(1), traceOf(1));
    causes.remember(name(1), traceOf(2));
    causes.spanFor(telemetry, 'data-manager', out(name(1)));
    causes.spanFor(telemetry, 'data-manager', out(name(9)));
    expect(telemetry.spans).toEqual([
      { name: 'data-manager tick Repair', parent: undefined, links: [traceOf(2)] },
      { name: 'data-manager tick Repair', parent: undefined, links: [] },
    ]);
  });

  it('forgets the oldest NAE past its limit, and never remembers an empty context', () => {
    const causes = new TraceCauses(2);
    const telemetry = recording();
    causes.remember(name(1), traceOf(1));
    causes.remember(name(2), traceOf(2));
    causes.remember(name(3), traceOf(3));
    causes.remember(name(2), {});
    for (const n of [1, 2, 3]) causes.spanFor(telemetry, 'p', out(name(n)));
    expect(telemetry.spans.map((s) => s.links)).toEqual([[], [traceOf(2)], [traceOf(3)]]);
  });
});
