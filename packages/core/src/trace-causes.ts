import { type Name, toHex } from './name.js';
import type { Outbound } from './persona.js';
import type { Telemetry } from './ports.js';

type Trace = Readonly<Record<string, string>>;

/**
 * The trace context of the last message handled for each NAE, so that work a tick starts for
 * that NAE (a repair for a departed holder, an integrity check) links to the trace that caused
 * it instead of starting an unrelated root trace. In memory and bounded: oldest NAEs go first.
 */
export class TraceCauses {
  readonly #causes = new Map<string, Trace>();
  readonly #limit: number;

  constructor(limit = 10_000) {
    this.#limit = limit;
  }

  remember(nae: Name, trace: Trace): void {
    if (Object.keys(trace).length === 0) return;
    const key = toHex(nae);
    this.#causes.delete(key);
    this.#causes.set(key, trace);
    if (this.#causes.size > this.#limit) {
      const oldest = this.#causes.keys().next().value;
      if (oldest !== undefined) this.#causes.delete(oldest);
    }
  }

  /** A root span for a message a tick sends, linked to the last trace of the NAE it acts for. */
  spanFor(telemetry: Telemetry, persona: string, out: Outbound) {
    const nae = out.as ?? out.to.nae;
    const cause = this.#causes.get(toHex(nae)) ?? this.#causes.get(toHex(out.to.nae));
    const span = telemetry.startSpan(`${persona} tick ${out.type}`, undefined, cause === undefined ? [] : [cause]);
    span.setAttribute('safe.nae', toHex(nae).slice(0, 16));
    span.setAttribute('safe.tick', true);
    return span;
  }
}
