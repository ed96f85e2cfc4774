import { randomBytes } from 'node:crypto';
import { type MemberAnnouncement, type Name, type SafeError, toHex } from '@safe/core';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisMembership, type RedisMembershipOptions } from './membership.js';
import { cleanUp, connectForTest, sleep, uniquePrefix } from './test-support.js';

const prefix = uniquePrefix('members');
let redisA: Redis;
let redisB: Redis;
let redisC: Redis;
let run = 0;
const open: RedisMembership[] = [];
const errors: SafeError[] = [];

beforeAll(async () => {
  redisA = await connectForTest('members-a');
  redisB = await connectForTest('members-b');
  redisC = await connectForTest('members-c');
});

afterEach(async () => {
  for (const membership of open.splice(0)) await membership.close();
  expect(errors.splice(0)).toEqual([]);
});

afterAll(async () => {
  if (redisA) await cleanUp(redisA, prefix, redisB, redisC);
});

function announcement(persona: string, endpoint: string): MemberAnnouncement {
  return { persona, name: new Uint8Array(randomBytes(64)), publicKey: new Uint8Array(randomBytes(32)), endpoint };
}

/** Memberships sharing one fresh hash (and channel), like the replicas of one testnet. */
function group(options: RedisMembershipOptions = {}): ((redis: Redis) => RedisMembership) & { key: string } {
  const key = `${prefix}:members-${run++}`;
  const make = (redis: Redis) => {
    const membership = new RedisMembership(redis, { key, onError: (e) => errors.push(e), ...options });
    open.push(membership);
    return membership;
  };
  return Object.assign(make, { key });
}

const ids = (members: readonly MemberAnnouncement[]) => members.map((m) => `${m.persona}:${toHex(m.name)}@${m.endpoint}`).sort();

/** Records each call of a watcher, with the time it came. */
function recorder(): { calls: Array<{ at: number; members: MemberAnnouncement[] }>; onChange: (m: MemberAnnouncement[]) => void } {
  const calls: Array<{ at: number; members: MemberAnnouncement[] }> = [];
  return { calls, onChange: (members) => calls.push({ at: performance.now(), members }) };
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(5);
  }
  return performance.now() - started;
}

describe('RedisMembership', () => {
  it('two members that join see each other within a second (default timings)', async () => {
    const make = group();
    const a = make(redisA);
    const b = make(redisB);
    const selfA = announcement('data-manager', '10.0.0.1:5000');
    const selfB = announcement('maid-manager', '10.0.0.2:5000');
    const seenByA = recorder();
    const seenByB = recorder();
    a.watch(seenByA.onChange);
    b.watch(seenByB.onChange);
    await a.join(selfA);
    const started = performance.now();
    await b.join(selfB);
    const both = ids([selfA, selfB]);
    await until(() => JSON.stringify(ids(seenByA.calls.at(-1)?.members ?? [])) === JSON.stringify(both), 1000, 'A sees A and B');
    await until(() => JSON.stringify(ids(seenByB.calls.at(-1)?.members ?? [])) === JSON.stringify(both), 1000, 'B sees A and B');
    expect(performance.now() - started).toBeLessThan(1000);

    const members = await a.members();
    const gotB = members.find((m) => m.endpoint === selfB.endpoint);
    expect(gotB).toEqual(selfB);
    expect(gotB?.name).toBeInstanceOf(Uint8Array);
    await a.leave();
    await b.leave();
  });

  it('stores expiresAt by the Redis server clock', async () => {
    const key = `${prefix}:clock`;
    const m = new RedisMembership(redisA, { key, expiryMs: 5000, heartbeatMs: 1000 });
    open.push(m);
    const self = announcement('pmid-node', 'h:1');
    await m.join(self);
    const [seconds, micros] = await redisA.time();
    const serverNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    const stored = JSON.parse((await redisA.hget(key, `pmid-node:${toHex(self.name)}`)) ?? 'null') as Record<string, unknown>;
    expect(stored).toMatchObject({ persona: 'pmid-node', name: toHex(self.name), publicKey: toHex(self.publicKey), endpoint: 'h:1' });
    expect(Math.abs((stored.expiresAt as number) - (serverNow + 5000))).toBeLessThan(100);
    await m.leave();
    expect(await redisA.hexists(key, `pmid-node:${toHex(self.name)}`)).toBe(0);
  });

  it('a Redis outage is not churn: every announcement gets back the time no script ran; a member gone with Redis up still goes', async () => {
    const key = `${prefix}:outage`;
    const member = new RedisMembership(redisA, { key, expiryMs: 1000, heartbeatMs: 200 });
    const reader = new RedisMembership(redisB, { key, expiryMs: 1000, heartbeatMs: 200 });
    open.push(member, reader);
    const self = announcement('data-manager', 'a:1');
    await member.join(self);
    await member.close();
    const field = `data-manager:${toHex(self.name)}`;
    const serverNow = async () => {
      const [seconds, micros] = await redisC.time();
      return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    };
    /** The member's announcement ran out 500 ms ago; no script ran for `gapMs`. */
    const expiredWithGap = async (gapMs: number) => {
      const now = await serverNow();
      const entry = JSON.parse((await redisC.hget(key, field)) ?? 'null') as Record<string, unknown>;
      await redisC.hset(key, field, JSON.stringify({ ...entry, expiresAt: now - 500 }));
      await redisC.set(`${key}:served`, String(now - gapMs));
    };
    // Redis was away 3 s (restarted) right after the last heartbeat: the member could not heartbeat.
    await expiredWithGap(3000);
    expect(ids(await reader.members())).toEqual(ids([self]));
    // Redis served all along (the reader polls): the member really stopped.
    await expiredWithGap(100);
    expect(await reader.members()).toEqual([]);
    expect(await redisC.hexists(key, field)).toBe(0);
  });

  it('a member that stops heartbeating (close without leave) disappears after the expiry, and is removed from the hash', async () => {
    const make = group({ heartbeatMs: 100, expiryMs: 600, pollMs: 50 });
    const a = make(redisA);
    const b = make(redisB);
    const selfA = announcement('data-manager', 'a:1');
    const selfB = announcement('data-manager', 'b:1');
    await a.join(selfA);
    await b.join(selfB);
    const seen = recorder();
    b.watch(seen.onChange);
    await until(() => seen.calls.at(-1)?.members.length === 2, 1000, 'B sees both');
    await a.close();
    const closedAt = performance.now();
    await sleep(300);
    expect(ids(await b.members())).toEqual(ids([selfA, selfB]));
    await until(() => seen.calls.at(-1)?.members.length === 1, 1500, 'B sees A gone');
    const gone = performance.now() - closedAt;
    expect(gone).toBeGreaterThan(400); // expiry (600) minus at most one heartbeat period (100) and slack
    expect(gone).toBeLessThan(1200);
    expect(ids(seen.calls.at(-1)?.members ?? [])).toEqual(ids([selfB]));
    expect(await redisC.hkeys(make.key)).toEqual([`data-manager:${toHex(selfB.name)}`]);
    await b.leave();
  });

  it('sees a leave at once through pub/sub, well before the next poll', async () => {
    const make = group({ pollMs: 2000 });
    const a = make(redisA);
    const b = make(redisB);
    const selfA = announcement('pmid-manager', 'a:2');
    await a.join(selfA);
    const seen = recorder();
    b.watch(seen.onChange);
    await until(() => seen.calls.length === 1, 1000, 'first call');
    // Only after this watcher's quiet period (pollMs since its last call) is a call due at once.
    await sleep(2100 - (performance.now() - (seen.calls[0]?.at ?? 0)));
    await a.leave();
    const took = await until(() => seen.calls.length === 2, 1000, 'B sees the leave');
    expect(took).toBeLessThan(1000); // the poll alone would take 2000
    expect(seen.calls[1]?.members).toEqual([]);
  });

  it('does not call a watcher when nothing changed (heartbeats go on)', async () => {
    const make = group({ heartbeatMs: 100, expiryMs: 1000, pollMs: 50 });
    const a = make(redisA);
    const b = make(redisB);
    await a.join(announcement('data-manager', 'a:3'));
    await b.join(announcement('data-manager', 'b:3'));
    const seen = recorder();
    make(redisC).watch(seen.onChange);
    await until(() => seen.calls.at(-1)?.members.length === 2, 1000, 'both seen');
    const calls = seen.calls.length;
    await sleep(800); // 16 polls, 8 heartbeats each
    expect(seen.calls.length).toBe(calls);
    // A re-join with the same announcement is no change; a new endpoint is.
    const endpoints = () =>
      JSON.stringify(
        seen.calls
          .at(-1)
          ?.members.map((m) => m.endpoint)
          .sort(),
      );
    const again = announcement('data-manager', 'c:3');
    await a.join(again); // a new name: the old one leaves (maybe seen on its own), then the new one joins
    await until(() => endpoints() === '["b:3","c:3"]', 1000, 'the new name is seen');
    await sleep(300);
    const settled = seen.calls.length;
    await a.join(again);
    await sleep(300);
    expect(seen.calls.length).toBe(settled);
    await a.join({ ...again, endpoint: 'c:4' });
    await until(() => seen.calls.length === settled + 1, 1000, 'the new endpoint is seen');
    await sleep(300);
    expect(seen.calls.length).toBe(settled + 1);
    expect(endpoints()).toBe('["b:3","c:4"]');
  });

  it('coalesces a burst of joins: at most one call per pollMs', async () => {
    const pollMs = 300;
    const make = group({ pollMs });
    const seen = recorder();
    const watcher = make(redisC);
    const stop = watcher.watch(seen.onChange);
    await sleep(50);
    const joiners = Array.from({ length: 10 }, (_, i) => make([redisA, redisB][i % 2] as Redis));
    const selves = joiners.map((_, i) => announcement('data-manager', `n:${i}`));
    for (const [i, joiner] of joiners.entries()) {
      await joiner.join(selves[i] as MemberAnnouncement);
      await sleep(10);
    }
    await until(() => seen.calls.at(-1)?.members.length === 10, 2000, 'all ten seen');
    await sleep(pollMs * 2);
    expect(seen.calls.length).toBeLessThanOrEqual(3);
    for (let i = 1; i < seen.calls.length; i++) {
      expect((seen.calls[i]?.at ?? 0) - (seen.calls[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(pollMs - 5);
    }
    expect(ids(seen.calls.at(-1)?.members ?? [])).toEqual(ids(selves));
    stop();
    const after = seen.calls.length;
    await joiners[0]?.leave();
    await sleep(pollMs * 2);
    expect(seen.calls.length).toBe(after);
  });

  it('members() works without watching, and ignores other groups', async () => {
    const a = group()(redisA);
    const other = group()(redisB);
    const self = announcement('client-manager', 'x:1');
    await a.join(self);
    await other.join(announcement('client-manager', 'y:1'));
    expect(await a.members()).toEqual([self]);
    await a.leave();
    await other.leave();
    expect(await a.members()).toEqual([]);
  });

  it("announces a PmidManager's rank reports: a change is seen at once by watchers, a repeat is not a change", async () => {
    const make = group({ heartbeatMs: 100, expiryMs: 1000, pollMs: 50 });
    const manager = make(redisA);
    const seen = recorder();
    make(redisB).watch(seen.onChange);
    const self = announcement('pmid-manager', 'm:1');
    await manager.join(self);
    await until(() => seen.calls.at(-1)?.members.length === 1, 1000, 'the manager seen');
    expect(seen.calls.at(-1)?.members[0]?.rankReports).toBeUndefined();

    const pmid = new Uint8Array(randomBytes(64)) as Name;
    const ranked = { ...self, rankReports: [{ pmid, rank: 0.25 }] };
    const calls = seen.calls.length;
    await manager.join(ranked);
    await until(() => seen.calls.length === calls + 1, 1000, 'the rank reports seen');
    expect(seen.calls.at(-1)?.members).toEqual([ranked]);
    await sleep(300); // heartbeats with the same reports change nothing
    await manager.join(ranked);
    await sleep(200);
    expect(seen.calls.length).toBe(calls + 1);
    expect(await manager.members()).toEqual([ranked]);
  });

  it('keeps a member whose stored rank reports are unreadable, without them', async () => {
    const make = group();
    const a = make(redisA);
    const self = announcement('pmid-manager', 'm:2');
    await a.join(self);
    const field = `pmid-manager:${toHex(self.name)}`;
    const stored = JSON.parse((await redisA.hget(make.key, field)) ?? 'null') as Record<string, unknown>;
    for (const ranks of ['not json', '{"a":1}', '[["zz",0.5]]', '[["00","high"]]', 7]) {
      await redisA.hset(make.key, field, JSON.stringify({ ...stored, ranks }));
      expect(await a.members(), String(ranks)).toEqual([{ ...self, rankReports: [] }]);
    }
    await a.leave();
  });
});
