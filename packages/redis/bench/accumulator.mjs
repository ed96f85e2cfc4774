// Quick benchmark of the Redis stores against a real Redis: `node packages/redis/bench/accumulator.mjs`
// (after `npx tsc -b packages/redis`). Reads SAFE_REDIS_URL; cleans up its own keys.
import { randomBytes } from 'node:crypto';
import { Command } from 'ioredis';
import { closeRedis, connectRedis, RedisAccumulatorStore, RedisEntryStore, RedisFirewallStore } from '../dist/index.js';

const url = process.env.SAFE_REDIS_URL ?? 'redis://127.0.0.1:56379';
const N = Number(process.env.BENCH_OPS ?? 10_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 100);
const prefix = `safe-bench:{${randomBytes(6).toString('hex')}}`;

const redis = await connectRedis(url, { name: 'safe-bench' });
let sent = 0;
const send = redis.sendCommand.bind(redis);
redis.sendCommand = (...args) => {
  sent++;
  return send(...args);
};

// Top-level commands the server received (EVAL/EVALSHA, not the commands run inside scripts),
// from INFO commandstats; the bench is the only client expected to send these meanwhile.
async function serverCalls(names) {
  const info = await send.call(redis, new Command('info', ['commandstats'], { replyEncoding: 'utf8' }));
  let total = 0;
  for (const line of String(info).split('\n')) {
    const m = /^cmdstat_([a-z]+):calls=(\d+)/.exec(line);
    if (m && names.includes(m[1])) total += Number(m[2]);
  }
  return total;
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function sequential(label, names, op) {
  const lat = [];
  const before = sent;
  const serverBefore = await serverCalls(names);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const s = performance.now();
    await op(i);
    lat.push(performance.now() - s);
  }
  const ms = performance.now() - t0;
  const serverAfter = await serverCalls(names);
  lat.sort((a, b) => a - b);
  console.log(
    `${label} sequential: ${N} ops in ${ms.toFixed(0)} ms = ${Math.round((N / ms) * 1000)} ops/s; ` +
      `latency mean ${(ms / N).toFixed(3)} ms, p50 ${percentile(lat, 50).toFixed(3)}, p99 ${percentile(lat, 99).toFixed(3)}; ` +
      `client commands/op ${((sent - before) / N).toFixed(3)}, server ${names.join('+')} calls/op ${((serverAfter - serverBefore) / N).toFixed(3)}`,
  );
}

async function concurrent(label, op) {
  const before = sent;
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) await op(next++);
    }),
  );
  const ms = performance.now() - t0;
  console.log(
    `${label} ${CONCURRENCY} in flight: ${N} ops in ${ms.toFixed(0)} ms = ${Math.round((N / ms) * 1000)} ops/s; client commands/op ${((sent - before) / N).toFixed(3)}`,
  );
}

await sequential('PING (baseline)', ['ping'], () => redis.ping());
const acc = new RedisAccumulatorStore(redis, prefix);
const fw = new RedisFirewallStore(redis, prefix);
const entries = new RedisEntryStore(redis, prefix, 'bench');
// 4 copies per id (K = 4), quorum 3, firewall memory 300 s.
await sequential('accumulator.add', ['eval', 'evalsha'], (i) => acc.add(`seq-${i >> 2}`, `sender-${i & 3}`, 3, 300_000));
await concurrent('accumulator.add', (i) => acc.add(`con-${i >> 2}`, `sender-${i & 3}`, 3, 300_000));
await sequential('firewall.admit', ['eval', 'evalsha'], (i) => fw.admit(`seq-${i >> 2}`, 300_000));
await concurrent('firewall.admit', (i) => fw.admit(`con-${i >> 2}`, 300_000));
await sequential('entries.set', ['hset'], (i) => entries.set(`k${i}`, { key: `k${i}`, seenBy: ['a', 'b'], resolved: false, attempts: 1 }));
await sequential('entries.get', ['hget'], (i) => entries.get(`k${i}`));

let cursor = '0';
do {
  const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000);
  cursor = nextCursor;
  if (keys.length > 0) await redis.unlink(...keys);
} while (cursor !== '0');
await closeRedis(redis);
