import type { GroupParameters } from './config.js';
import type { EntryStore } from './ports.js';
import { isPlace, type SyncEntry } from './sync-entry.js';
import { outvotedIn } from './sync-reads.js';

/**
 * One sweep of a Sync's store (`Sync.due`, begun at `started`): counts an attempt on each entry
 * this node resends, drops those past the limit or the firewall's memory, turns the settled into
 * tombstones and forgets old tombstones. `wakeAt` is when the next sweep has work (SweepSchedule).
 */
export async function sweepSync(
  store: EntryStore<SyncEntry>,
  params: GroupParameters,
  now: () => number,
  started: number,
): Promise<{ send: SyncEntry[]; dropped: SyncEntry[]; wakeAt: number }> {
  const send: SyncEntry[] = [];
  const dropped: SyncEntry[] = [];
  const memory = params.firewallMemoryMs;
  // When an entry kept as it is next needs this sweep: its time in the firewall's memory is over.
  let wakeAt = Number.POSITIVE_INFINITY;
  const until = (since: number) => {
    wakeAt = Math.min(wakeAt, since + memory + 1);
  };
  // One read of every entry: a tick holds the replica's queue, and resolved entries stay for the
  // firewall's memory (minutes), so a get per key cost a round trip per entry every tick.
  const all = await store.entries();
  const outvoted = outvotedIn(all);
  for (const [key, entry] of all) {
    if (isPlace(key)) continue;
    if (entry?.completedAt !== undefined && now() - entry.completedAt > params.firewallMemoryMs) {
      await store.delete(key);
      continue;
    }
    if (entry !== undefined && outvoted(key, entry)) {
      await store.set(key, { ...entry, completedAt: now() });
      until(now());
      continue;
    }
    if (entry === undefined) continue;
    if (entry.completedAt !== undefined) {
      until(entry.completedAt);
      continue;
    }
    if (entry.resolved || !entry.originatedHere) {
      // No one resends these, so a member that never answers would keep them in the container
      // for good: an applied action some member never saw, or a lone action of a request that
      // never reached this node. They leave it with the firewall's memory: the applied one as a
      // tombstone, the other dropped.
      if (entry.seenAt === undefined) {
        await store.set(key, { ...entry, seenAt: now() });
        until(now());
      } else if (now() - entry.seenAt <= params.firewallMemoryMs) until(entry.seenAt);
      else if (entry.resolved) {
        await store.set(key, { ...entry, completedAt: now() });
        until(now());
      } else {
        await store.delete(key);
        dropped.push(entry);
      }
      continue;
    }
    if (entry.attempts >= params.syncAttemptsBeforeDrop) {
      await store.delete(key);
      dropped.push(entry);
      continue;
    }
    const next = { ...entry, attempts: entry.attempts + 1 };
    await store.set(key, next);
    send.push(next);
    wakeAt = started; // sent again at every tick until it resolves
  }
  return { send, dropped, wakeAt };
}
