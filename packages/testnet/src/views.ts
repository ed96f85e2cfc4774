import { setTimeout as sleep } from 'node:timers/promises';
import { REPORT_ORDER, UnavailableError } from '@safe/core';
import type { MembersReport } from '@safe/host';
import { type Slot, StartAbortedError } from './children.js';

/** Members per persona in a replica's membership view, from its GET /members; undefined if it has none (yet). */
async function membersSeenBy(adminPort: number): Promise<Map<string, number> | undefined> {
  let report: MembersReport;
  try {
    const response = await fetch(`http://127.0.0.1:${adminPort}/members`, { signal: AbortSignal.timeout(2000) });
    if (response.status !== 200) {
      await response.arrayBuffer().catch(() => undefined);
      return undefined;
    }
    report = (await response.json()) as MembersReport;
  } catch {
    return new Map(); // not answering: sees nobody (the check tries again)
  }
  return new Map(Object.entries(report.members).map(([persona, names]) => [persona, names.length]));
}

/**
 * Resolves once every running child's membership view (its GET /members) holds exactly the
 * running children of each persona: a child that is ready has joined, but the others see it only
 * at their next poll. A child with no view to report is not asked. Rejects naming who sees what
 * when that does not happen in time.
 */
export async function waitConverged(slots: () => readonly Slot[], timeoutMs: number, abortSignal: AbortSignal | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (abortSignal?.aborted) throw new StartAbortedError();
    const running = slots().filter((slot) => slot.process !== undefined);
    const expected = new Map(REPORT_ORDER.map((persona) => [persona, running.filter((slot) => slot.persona === persona).length]));
    const views = await Promise.all(running.map((slot) => membersSeenBy(slot.adminPort)));
    const wrong: string[] = [];
    views.forEach((view, i) => {
      if (view === undefined) return;
      for (const [persona, count] of expected) {
        const seen = view.get(persona) ?? 0;
        if (seen !== count) wrong.push(`${running[i]?.name} sees ${seen} ${persona} (running: ${count})`);
      }
    });
    if (wrong.length === 0) return;
    if (Date.now() >= deadline) {
      throw new UnavailableError(
        `the replicas' membership views did not settle within ${Math.round(timeoutMs / 1000)} s: ${wrong.slice(0, 4).join('; ')}${wrong.length > 4 ? '; ...' : ''} (more than running: another testnet or replica announcing on the same Redis?)`,
      );
    }
    await sleep(250);
  }
}
