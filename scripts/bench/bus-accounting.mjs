// What went over Kafka: the group-bus counters on every replica's /metrics, their change between
// two scrapes, and the records in the network's topics as the broker counts them.
import { withTimeout } from './child-processes.mjs';
import { scrape, sumMetric } from './replica-metrics.mjs';

const BUS = {
  publishedBytes: 'safe_bus_published_bytes_total',
  published: 'safe_bus_published_total',
  consumedBytes: 'safe_bus_consumed_bytes_total',
  consumed: 'safe_bus_consumed_total',
  cacheHits: 'safe_cache_hits_total',
};

/** What the replicas' /metrics say now, per replica (pid): the bus counters and cache hits, undefined where absent. */
export async function busSnapshot(replicas) {
  const snapshot = new Map();
  await Promise.all(
    replicas.map(async (r) => {
      const text = r.adminPort === undefined ? undefined : await scrape(r.adminPort);
      const row = { persona: r.persona, text: text !== undefined };
      for (const [key, name] of Object.entries(BUS)) {
        row[key] = sumMetric(text, name);
        row[`${key}Known`] = text !== undefined && new RegExp(`^(# (TYPE|HELP) )?${name}[ {]`, 'm').test(text);
      }
      snapshot.set(r.pid, row);
    }),
  );
  return snapshot;
}

/**
 * Per counter: the total over the replicas between two scrapes, and per replica. A counter with
 * labels shows no sample until it is first counted, so a replica without it counts from 0 once
 * any replica shows it; a counter no replica shows is undefined (printed "n/a").
 */
export function busDelta(before, after) {
  const result = {};
  for (const key of Object.keys(BUS)) {
    const known = [...after.values(), ...before.values()].some((row) => row[`${key}Known`]);
    if (!known) {
      result[key] = undefined;
      continue;
    }
    const perReplica = [];
    for (const [pid, row] of after) {
      if (!row.text || !before.get(pid)?.text) continue; // a replica that did not answer both times says nothing
      perReplica.push({ persona: row.persona, value: (row[key] ?? 0) - (before.get(pid)[key] ?? 0) });
    }
    result[key] = { total: perReplica.reduce((a, r) => a + r.value, 0), perReplica, answered: perReplica.length, of: after.size };
  }
  return result;
}

/** Records in every topic of the network now (the sum of their end offsets), undefined if the broker does not say. */
export async function topicRecords(admin, network) {
  if (admin === undefined) return undefined;
  try {
    let sum = 0;
    const topics = (await withTimeout(admin.listTopics(), 20_000, 'topics')).filter((t) => t.startsWith(`safe.${network}.`));
    for (const topic of topics) {
      for (const o of await withTimeout(admin.fetchTopicOffsets(topic), 20_000, 'offsets')) sum += Number(o.high);
    }
    return sum;
  } catch {
    return undefined;
  }
}

/** Records published and consumed over every replica in a snapshot. */
export function busTotal(snapshot) {
  let total = 0;
  for (const row of snapshot.values()) total += (row.published ?? 0) + (row.consumed ?? 0);
  return total;
}
