import { type FirewallRecord, MemoryAccumulatorStore, MemoryFirewallStore, SafeError } from '@safe/core';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisAccumulatorStore, RedisEntryStore, RedisFirewallStore, replicaKeyPrefix } from './stores.js';
import { cleanUp, connectForTest, sleep, uniquePrefix } from './test-support.js';

const HOUR = 3_600_000;
let clients: [Redis, Redis, Redis];
const prefix = uniquePrefix('stores');

beforeAll(async () => {
  clients = [await connectForTest('stores-a'), await connectForTest('stores-b'), await connectForTest('stores-c')];
});

afterAll(async () => {
  if (clients) await cleanUp(clients[0], prefix, clients[1], clients[2]);
});

/** Counts the commands a client sends (each is one round trip; pipelining aside). */
function countCommands(redis: Redis): { readonly count: number } {
  const counter = { count: 0 };
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (...args: Parameters<Redis['sendCommand']>) => {
    counter.count++;
    return send(...args);
  };
  return counter;
}

describe('RedisAccumulatorStore', () => {
  it('counts 50 concurrent copies from 3 connections atomically: exactly one reaches the quorum', async () => {
    const stores = clients.map((c) => new RedisAccumulatorStore(c, `${prefix}:conc`));
    const senders = Array.from({ length: 50 }, (_, i) => `sender-${i}`);
    const results = await Promise.all(senders.map((s, i) => (stores[i % 3] as RedisAccumulatorStore).add('m1', s, 20, HOUR)));
    expect(results.filter((r) => r.reached)).toHaveLength(1);
    expect(results.find((r) => r.reached)?.count).toBe(20);
    // Atomic: every copy saw a distinct count, 1..50.
    expect(results.map((r) => r.count).sort((a, b) => a - b)).toEqual(senders.map((_, i) => i + 1));
    expect(results.some((r) => r.repeat)).toBe(false);

    const again = await Promise.all(senders.map((s, i) => (stores[(i + 1) % 3] as RedisAccumulatorStore).add('m1', s, 20, HOUR)));
    expect(again.every((r) => r.repeat && !r.reached && r.count === 50)).toBe(true);
  });

  it('keeps ids apart and reaches each once, under concurrent copies of many ids', async () => {
    const stores = clients.map((c) => new RedisAccumulatorStore(c, `${prefix}:ids`));
    const calls: Array<Promise<{ id: string; reached: boolean; count: number }>> = [];
    for (let id = 0; id < 10; id++) {
      for (let s = 0; s < 4; s++) {
        for (let dup = 0; dup < 2; dup++) {
          const store = stores[(id + s + dup) % 3] as RedisAccumulatorStore;
          calls.push(store.add(`id-${id}`, `s${s}`, 3, HOUR).then((r) => ({ id: `id-${id}`, ...r })));
        }
      }
    }
    const results = await Promise.all(calls);
    for (let id = 0; id < 10; id++) {
      const mine = results.filter((r) => r.id === `id-${id}`);
      expect(mine.filter((r) => r.reached)).toHaveLength(1);
      expect(Math.max(...mine.map((r) => r.count))).toBe(4);
    }
  });

  it('forgets an id after its ttl (since the last copy), quorum flag included', async () => {
    const store = new RedisAccumulatorStore(clients[0], `${prefix}:ttl`);
    expect(await store.add('x', 'a', 1, 80)).toEqual({ count: 1, reached: true, repeat: false });
    expect(await store.add('x', 'a', 1, 80)).toEqual({ count: 1, reached: false, repeat: true });
    await sleep(200);
    expect(await store.add('x', 'a', 1, 80)).toEqual({ count: 1, reached: true, repeat: false });
    expect(await clients[0].exists(`${prefix}:ttl:acc:x`, `${prefix}:ttl:acc:x:r`)).toBe(2);
    await sleep(200);
    expect(await clients[0].exists(`${prefix}:ttl:acc:x`, `${prefix}:ttl:acc:x:r`)).toBe(0);
  });

  it('behaves as MemoryAccumulatorStore for random sequences of copies', async () => {
    let run = 0;
    const op = fc.record({
      id: fc.constantFrom('a', 'b', 'c'),
      sender: fc.constantFrom('s1', 's2', 's3', 's4', 's5'),
      quorum: fc.integer({ min: 1, max: 5 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        const redisStore = new RedisAccumulatorStore(clients[run % 3] as Redis, `${prefix}:prop-${run++}`);
        const memoryStore = new MemoryAccumulatorStore();
        for (const { id, sender, quorum } of ops) {
          const expected = await memoryStore.add(id, sender, quorum, HOUR);
          expect(await redisStore.add(id, sender, quorum, HOUR)).toEqual(expected);
        }
      }),
      { numRuns: 30 },
    );
  });

  it('uses one round trip per copy', async () => {
    const redis = await connectForTest('stores-count');
    try {
      const counter = countCommands(redis);
      const store = new RedisAccumulatorStore(redis, `${prefix}:rt`);
      for (let i = 0; i < 10; i++) await store.add('m', `s${i % 4}`, 3, HOUR);
      expect(counter.count).toBe(10);
    } finally {
      redis.disconnect();
    }
  });
});

describe('RedisFirewallStore', () => {
  const reply: FirewallRecord = { state: 'done', reply: { type: 'PutResponse', payload: new Uint8Array([0, 1, 2, 254, 255, 128]) } };

  it('admits exactly one of 50 concurrent copies from 3 connections', async () => {
    const stores = clients.map((c) => new RedisFirewallStore(c, `${prefix}:fw-conc`));
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (stores[i % 3] as RedisFirewallStore).admit('m', HOUR)));
    expect(results.filter((r) => r === null)).toHaveLength(1);
    expect(results.filter((r) => r !== null).every((r) => r?.state === 'syncing')).toBe(true);
  });

  it('records the result, and answers repeats with it (payload bytes round-trip)', async () => {
    const store = new RedisFirewallStore(clients[0], `${prefix}:fw-rec`);
    const other = new RedisFirewallStore(clients[1], `${prefix}:fw-rec`);
    expect(await store.lookup('m')).toBeNull();
    expect(await store.admit('m', HOUR)).toBeNull();
    expect(await other.lookup('m')).toEqual({ state: 'syncing' });
    await store.record('m', reply, HOUR);
    const seen = await other.admit('m', HOUR);
    expect(seen).toEqual(reply);
    if (seen?.state !== 'done' || seen.reply === null) throw new Error('expected a reply');
    expect(seen.reply.payload).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(seen.reply.payload)).toBe(false);
    expect([...seen.reply.payload]).toEqual([0, 1, 2, 254, 255, 128]);

    // A payload that is a view into a larger buffer keeps only its own bytes.
    const big = new Uint8Array([9, 9, 7, 8, 9, 9]);
    await store.record('view', { state: 'done', reply: { type: 'T', payload: big.subarray(2, 4) } }, HOUR);
    expect(await other.lookup('view')).toEqual({ state: 'done', reply: { type: 'T', payload: new Uint8Array([7, 8]) } });

    await store.record('none', { state: 'done', reply: null }, HOUR);
    expect(await other.lookup('none')).toEqual({ state: 'done', reply: null });
  });

  it('forgets after the ttl', async () => {
    const store = new RedisFirewallStore(clients[0], `${prefix}:fw-ttl`);
    expect(await store.admit('m', 80)).toBeNull();
    expect(await store.admit('m', 80)).toEqual({ state: 'syncing' });
    await sleep(200);
    expect(await store.lookup('m')).toBeNull();
    expect(await store.admit('m', 80)).toBeNull();
    await store.record('m', reply, 80);
    expect(await store.lookup('m')).toEqual(reply);
    await sleep(200);
    expect(await store.lookup('m')).toBeNull();
  });

  it('behaves as MemoryFirewallStore for random sequences of operations', async () => {
    let run = 0;
    const record = fc.oneof(
      fc.constant<FirewallRecord>({ state: 'syncing' }),
      fc.constant<FirewallRecord>({ state: 'done', reply: null }),
      fc
        .record({ type: fc.string(), payload: fc.uint8Array({ maxLength: 40 }) })
        .map((r): FirewallRecord => ({ state: 'done', reply: { type: r.type, payload: r.payload } })),
    );
    const op = fc.oneof(
      fc.record({ kind: fc.constant('admit' as const), id: fc.constantFrom('a', 'b') }),
      fc.record({ kind: fc.constant('lookup' as const), id: fc.constantFrom('a', 'b') }),
      fc.record({ kind: fc.constant('record' as const), id: fc.constantFrom('a', 'b'), record }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
        const redisStore = new RedisFirewallStore(clients[run % 3] as Redis, `${prefix}:fw-prop-${run++}`);
        const memoryStore = new MemoryFirewallStore();
        for (const o of ops) {
          if (o.kind === 'admit') expect(await redisStore.admit(o.id, HOUR)).toEqual(await memoryStore.admit(o.id, HOUR));
          else if (o.kind === 'lookup') expect(await redisStore.lookup(o.id)).toEqual(await memoryStore.lookup(o.id));
          else {
            await redisStore.record(o.id, o.record, HOUR);
            await memoryStore.record(o.id, o.record, HOUR);
          }
        }
      }),
      { numRuns: 30 },
    );
  });

  it('uses one round trip per operation', async () => {
    const redis = await connectForTest('fw-count');
    try {
      const counter = countCommands(redis);
      const store = new RedisFirewallStore(redis, `${prefix}:fw-rt`);
      await store.admit('m', HOUR);
      await store.admit('m', HOUR);
      await store.lookup('m');
      await store.record('m', reply, HOUR);
      expect(counter.count).toBe(4);
    } finally {
      redis.disconnect();
    }
  });
});

describe('RedisEntryStore', () => {
  interface Entry {
    readonly key: string;
    readonly seenBy: readonly string[];
    readonly resolved: boolean;
    readonly attempts: number;
    readonly nested?: { readonly votes: Record<string, string[]> };
  }

  it('round-trips JSON values and lists its keys', async () => {
    const store = new RedisEntryStore<Entry>(clients[0], `${prefix}:entries`, 'sync');
    const view = new RedisEntryStore<Entry>(clients[1], `${prefix}:entries`, 'sync');
    const other = new RedisEntryStore<Entry>(clients[2], `${prefix}:entries`, 'transfer');
    expect(await store.get('a')).toBeUndefined();
    expect(await store.keys()).toEqual([]);
    const a: Entry = { key: 'a', seenBy: ['n1', 'n2'], resolved: false, attempts: 3, nested: { votes: { h: ['x', 'y'] } } };
    const b: Entry = { key: 'b', seenBy: [], resolved: true, attempts: 0 };
    await store.set('a', a);
    await store.set('b', b);
    expect(await view.get('a')).toEqual(a);
    expect((await view.keys()).sort()).toEqual(['a', 'b']);
    expect((await view.entries()).sort(([x], [y]) => x.localeCompare(y))).toEqual([
      ['a', a],
      ['b', b],
    ]);
    expect(await other.keys()).toEqual([]);
    expect(await other.entries()).toEqual([]);
    await view.set('a', { ...a, resolved: true });
    expect((await store.get('a'))?.resolved).toBe(true);
    await store.delete('a');
    await store.delete('missing');
    expect(await view.get('a')).toBeUndefined();
    expect(await view.keys()).toEqual(['b']);
  });

  it('uses one round trip per operation and one hash per store', async () => {
    const redis = await connectForTest('entries-count');
    try {
      const counter = countCommands(redis);
      const store = new RedisEntryStore<number>(redis, `${prefix}:entries-rt`, 'votes');
      await store.set('k', 1);
      await store.get('k');
      await store.keys();
      await store.entries();
      await store.delete('k');
      expect(counter.count).toBe(5);
      await store.set('k', 2);
      expect(await redis.type(store.key)).toBe('hash');
    } finally {
      redis.disconnect();
    }
  });

  it('reports a value that is not JSON, and a key of the wrong type, as typed errors', async () => {
    const store = new RedisEntryStore<number>(clients[0], `${prefix}:bad`, 'e');
    await clients[0].hset(store.key, 'k', '{not json');
    await expect(store.get('k')).rejects.toMatchObject({ kind: 'internal', message: expect.stringContaining('malformed entry k') });
    await expect(store.entries()).rejects.toMatchObject({ kind: 'internal', message: expect.stringContaining('malformed entry k') });
    const wrong = new RedisEntryStore<number>(clients[0], `${prefix}:bad`, 'str');
    await clients[0].set(wrong.key, 'a string');
    const error = await wrong.keys().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SafeError);
    expect(error).toMatchObject({ kind: 'internal', message: expect.stringContaining('WRONGTYPE') });
  });
});

describe('replicaKeyPrefix', () => {
  it('hash-tags the persona and the first 16 hex digits of the name', () => {
    const name = new Uint8Array(64).fill(0xab);
    expect(replicaKeyPrefix('data-manager', name)).toBe('safe:{data-manager:abababababababab}');
    expect(() => replicaKeyPrefix('a}b', name)).toThrow(SafeError);
  });
});
