// A replica's Prometheus /metrics on its admin port, and summing a metric over its labels.

/** A replica's /metrics text, or undefined if it does not answer within 5 s. */
export async function scrape(adminPort) {
  try {
    const response = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(5000) });
    const text = await response.text();
    return response.status === 200 ? text : undefined;
  } catch {
    return undefined;
  }
}

/** The sum of a metric's samples over all its labels; undefined when the text has no such metric. */
export function sumMetric(text, name) {
  if (text === undefined) return undefined;
  let sum;
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([-+0-9.eE]+|NaN)$`, 'gm'))) {
    sum = (sum ?? 0) + Number(match[1]);
  }
  return sum;
}
