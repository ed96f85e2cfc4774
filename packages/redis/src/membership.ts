import {
  ConfigError,
  FailedPreconditionError,
  type MemberAnnouncement,
  type Membership,
  type Name,
  type RankReport,
  type SafeError,
  toHex,
} from '@safe/core';
import type { Redis } from 'ioredis';
import { redisCall, toRedisError } from './connect.js';
import { defineScript, type ScriptCall } from './scripts.js';

export interface RedisMembershipOptions {
  /** How often a joined member re-announces itself (default 1000 ms). */
  readonly heartbeatMs?: number;
  /** An announcement not refreshed for this long is dead (default 5000 ms; > heartbeatMs). */
  readonly expiryMs?: number;
  /** The least time between two calls of one watcher (default 500 ms); also the default of `sweepMs`. */
  readonly pollMs?: number;
  /**
   * How often a watching member re-reads the set unprompted (default `pollMs`). Joins, leaves and
   * rank changes are published at once; the re-read finds members that expired (and tells every
   * other watcher), so with many members each can re-read far less often than `pollMs`.
   */
  readonly sweepMs?: number;
  /** The hash of announcements (default `safe:members`); shared by every replica of every persona. */
  readonly key?: string;
  /** Pub/sub channel announcing joins and leaves (default `<key>:changed`). */
  readonly channel?: string;
  /** Background failures (heartbeat, poll, subscriber, a watcher that threw), typed. Default: ignored. */
  readonly onError?: (error: SafeError) => void;
}

/** What is stored per member, as JSON: field `<persona>:<name hex>` of the hash. */
interface StoredAnnouncement {
  readonly persona: string;
  readonly name: string;
  readonly publicKey: string;
  readonly endpoint: string;
  /** A PmidManager's rank reports, JSON `[[pmid hex, rank], ...]` kept as a string so the heartbeat script compares it whole. */
  readonly ranks?: string;
  /** Milliseconds since the epoch by the REDIS SERVER's clock, so process clocks never matter. */
  readonly expiresAt: number;
}

const DEFAULT_HEARTBEAT_MS = 1000;
const DEFAULT_EXPIRY_MS = 5000;
const DEFAULT_POLL_MS = 500;
const DEFAULT_KEY = 'safe:members';

// Server time in ms, inside a script (Redis >= 5 replicates script effects, so TIME is allowed).
const NOW_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

// KEYS[1]: the hash. ARGV: field, announcement JSON (no expiresAt), expiry ms, channel.
// Publishes when the member is new to the others: absent, expired, or at another endpoint/key,
// or its rank reports changed.
const HEARTBEAT_LUA = `${NOW_LUA}
local entry = cjson.decode(ARGV[2])
entry.expiresAt = now + tonumber(ARGV[3])
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(entry))
local changed = 1
if old then
  local ok, prev = pcall(cjson.decode, old)
  if ok and type(prev) == 'table' and tonumber(prev.expiresAt) and tonumber(prev.expiresAt) > now
    and prev.endpoint == entry.endpoint and prev.publicKey == entry.publicKey and prev.ranks == entry.ranks then
    changed = 0
  end
end
if changed == 1 then redis.call('PUBLISH', ARGV[4], ARGV[1]) end
return changed
`;

// KEYS[1]: the hash. ARGV[1]: channel. Returns the live announcements; removes the expired (and
// unreadable) ones atomically, and publishes if it removed any so every watcher learns at once.
const LIST_LUA = `${NOW_LUA}
local all = redis.call('HGETALL', KEYS[1])
local live = {}
local removed = 0
for i = 1, #all, 2 do
  local ok, entry = pcall(cjson.decode, all[i + 1])
  local expiresAt = ok and type(entry) == 'table' and tonumber(entry.expiresAt)
  if expiresAt and expiresAt > now then
    live[#live + 1] = all[i + 1]
  else
    redis.call('HDEL', KEYS[1], all[i])
    removed = removed + 1
  end
end
if removed > 0 then redis.call('PUBLISH', ARGV[1], 'expired') end
return live
`;

// KEYS[1]: the hash. ARGV: field, channel.
const LEAVE_LUA = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then redis.call('PUBLISH', ARGV[2], ARGV[1]) end
return 1
`;

const HEX = /^(?:[0-9a-f]{2})*$/;

function bytesFromHex(hex: unknown): Uint8Array | undefined {
  if (typeof hex !== 'string' || !HEX.test(hex)) return undefined;
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

function decodeAnnouncement(raw: string): MemberAnnouncement | undefined {
  let value: Partial<StoredAnnouncement>;
  try {
    value = JSON.parse(raw) as Partial<StoredAnnouncement>;
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const name = bytesFromHex(value.name);
  const publicKey = bytesFromHex(value.publicKey);
  if (typeof value.persona !== 'string' || typeof value.endpoint !== 'string' || name === undefined || publicKey === undefined) {
    return undefined;
  }
  const member = { persona: value.persona, name, publicKey, endpoint: value.endpoint };
  if (value.ranks === undefined) return member;
  const rankReports = decodeRanks(value.ranks);
  // Unreadable reports are left out, not the member: its word on ranks is lost, its membership is not.
  return rankReports === null ? { ...member, rankReports: [] } : { ...member, rankReports };
}

function encodeRanks(reports: readonly RankReport[]): string {
  return JSON.stringify(reports.map(({ pmid, rank }) => [toHex(pmid), rank]));
}

/** The stored rank reports, or null when they are not `[[hex, number], ...]` (the routing view checks sizes and ranges). */
function decodeRanks(raw: unknown): RankReport[] | null {
  if (typeof raw !== 'string') return null;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!Array.isArray(value)) return null;
  const reports: RankReport[] = [];
  for (const item of value) {
    const pmid = Array.isArray(item) ? bytesFromHex(item[0]) : undefined;
    if (pmid === undefined || typeof item[1] !== 'number') return null;
    reports.push({ pmid: pmid as Name, rank: item[1] });
  }
  return reports;
}

function memberKey(member: MemberAnnouncement): string {
  return `${member.persona}:${toHex(member.name)}`;
}

/** What a watcher compares: persona, name, endpoint and rank reports of every member (not the heartbeat). */
function signatureOf(members: readonly MemberAnnouncement[]): string {
  return members.map((m) => `${memberKey(m)}@${m.endpoint}#${m.rankReports ? encodeRanks(m.rankReports) : ''}`).join('\n');
}

function positive(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new ConfigError(`membership ${what} must be a positive number, got ${value}`);
  return value;
}

class Watcher {
  readonly #onChange: (members: MemberAnnouncement[]) => void;
  readonly #pollMs: number;
  readonly #report: (error: unknown) => void;
  /** The set last handed to onChange; the empty set before the first call. */
  #delivered = '';
  #latest: { members: MemberAnnouncement[]; signature: string } | undefined;
  #lastCallAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;

  constructor(onChange: (members: MemberAnnouncement[]) => void, pollMs: number, report: (error: unknown) => void) {
    this.#onChange = onChange;
    this.#pollMs = pollMs;
    this.#report = report;
  }

  /** A fresh read of the set: delivered now, or at the end of this watcher's quiet period (coalesced). */
  offer(members: MemberAnnouncement[], signature: string): void {
    this.#latest = { members, signature };
    if (this.#timer !== undefined) return;
    const wait = this.#lastCallAt + this.#pollMs - performance.now();
    if (wait <= 0) {
      this.#deliver();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#deliver();
    }, wait);
    this.#timer.unref();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #deliver(): void {
    const latest = this.#latest;
    if (latest === undefined || latest.signature === this.#delivered) return;
    this.#delivered = latest.signature;
    this.#lastCallAt = performance.now();
    try {
      this.#onChange(latest.members);
    } catch (error) {
      this.#report(error);
    }
  }
}

/**
 * Membership in Redis. Each member is a field `<persona>:<name hex>` of one hash holding JSON
 * {persona, name, publicKey, endpoint, ranks?, expiresAt}; expiresAt comes from the Redis server's clock
 * (set inside the heartbeat script), and liveness is judged by the same clock, so the clocks of
 * the processes do not matter. Expired members are removed lazily by whichever member polls first,
 * atomically. Watchers poll every `pollMs` and also react to a pub/sub channel published on every
 * join and leave; each watcher is called when persona, name, endpoint or rank reports of some member changed,
 * at most once per `pollMs`, and first as soon as the set it sees is not empty.
 *
 * `redis` is the caller's client (from `connectRedis`), not closed here; watching opens one more
 * connection (a duplicate) for pub/sub. Call `leave()` for a clean shutdown, then `close()`.
 */
export class RedisMembership implements Membership {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #channel: string;
  readonly #heartbeatMs: number;
  readonly #expiryMs: number;
  readonly #pollMs: number;
  readonly #sweepMs: number;
  readonly #onError: ((error: SafeError) => void) | undefined;
  readonly #heartbeatScript: ScriptCall;
  readonly #listScript: ScriptCall;
  readonly #leaveScript: ScriptCall;

  #self: { field: string; json: string } | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #beating = false;
  readonly #watchers = new Set<Watcher>();
  #pollTimer: NodeJS.Timeout | undefined;
  #subscriber: Redis | undefined;
  #refreshing = false;
  #refreshAgain = false;
  #closed = false;

  constructor(redis: Redis, options: RedisMembershipOptions = {}) {
    this.#redis = redis;
    this.#key = options.key ?? DEFAULT_KEY;
    this.#channel = options.channel ?? `${this.#key}:changed`;
    this.#heartbeatMs = positive(options.heartbeatMs, DEFAULT_HEARTBEAT_MS, 'heartbeatMs');
    this.#expiryMs = Math.ceil(positive(options.expiryMs, DEFAULT_EXPIRY_MS, 'expiryMs'));
    this.#pollMs = positive(options.pollMs, DEFAULT_POLL_MS, 'pollMs');
    this.#sweepMs = positive(options.sweepMs, this.#pollMs, 'sweepMs');
    if (this.#expiryMs <= this.#heartbeatMs) {
      throw new ConfigError(`membership expiryMs (${this.#expiryMs}) must exceed heartbeatMs (${this.#heartbeatMs})`);
    }
    this.#onError = options.onError;
    this.#heartbeatScript = defineScript(redis, 'safeMemberHeartbeat', HEARTBEAT_LUA, 1);
    this.#listScript = defineScript(redis, 'safeMemberList', LIST_LUA, 1);
    this.#leaveScript = defineScript(redis, 'safeMemberLeave', LEAVE_LUA, 1);
  }

  async join(self: MemberAnnouncement): Promise<void> {
    if (this.#closed) throw new FailedPreconditionError('membership is closed');
    const field = memberKey(self);
    if (this.#self !== undefined && this.#self.field !== field) await this.leave();
    const json = JSON.stringify({
      persona: self.persona,
      name: toHex(self.name),
      publicKey: toHex(self.publicKey),
      endpoint: self.endpoint,
      ...(self.rankReports && self.rankReports.length > 0 ? { ranks: encodeRanks(self.rankReports) } : {}),
    });
    this.#self = { field, json };
    await this.#beat(this.#self);
    if (this.#heartbeatTimer === undefined && this.#self !== undefined) {
      this.#heartbeatTimer = setInterval(() => this.#heartbeat(), this.#heartbeatMs);
      this.#heartbeatTimer.unref();
    }
  }

  async members(): Promise<MemberAnnouncement[]> {
    const reply = await redisCall(`redis membership members ${this.#key}`, () => this.#listScript(this.#key, this.#channel));
    if (!Array.isArray(reply)) throw toRedisError(new Error(`unexpected reply ${JSON.stringify(reply)}`), 'redis membership members');
    const members: MemberAnnouncement[] = [];
    for (const raw of reply) {
      const member = typeof raw === 'string' ? decodeAnnouncement(raw) : undefined;
      if (member === undefined) this.#report(new Error(`malformed member announcement ignored: ${String(raw).slice(0, 200)}`));
      else members.push(member);
    }
    return members.sort((a, b) => {
      const ka = memberKey(a);
      const kb = memberKey(b);
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
  }

  watch(onChange: (members: MemberAnnouncement[]) => void): () => void {
    if (this.#closed) throw new FailedPreconditionError('membership is closed');
    const watcher = new Watcher(onChange, this.#pollMs, (error) => this.#report(error));
    this.#watchers.add(watcher);
    if (this.#pollTimer === undefined) {
      this.#pollTimer = setInterval(() => this.#refresh(), this.#sweepMs);
      this.#pollTimer.unref();
      void this.#subscribe();
    }
    this.#refresh();
    return () => {
      watcher.stop();
      if (!this.#watchers.delete(watcher) || this.#watchers.size > 0) return;
      this.#stopWatching();
    };
  }

  async leave(): Promise<void> {
    const self = this.#self;
    this.#self = undefined;
    clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
    if (self === undefined) return;
    await redisCall(`redis membership leave ${self.field}`, () => this.#leaveScript(this.#key, self.field, this.#channel));
  }

  /**
   * Stops heartbeats, watchers and the pub/sub connection, WITHOUT withdrawing the announcement
   * (it expires after `expiryMs`); call `leave()` first for a clean shutdown.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#self = undefined;
    clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
    for (const watcher of this.#watchers) watcher.stop();
    this.#watchers.clear();
    this.#stopWatching();
  }

  async #beat(self: { field: string; json: string }): Promise<void> {
    await redisCall(`redis membership heartbeat ${self.field}`, () =>
      this.#heartbeatScript(this.#key, self.field, self.json, this.#expiryMs, this.#channel),
    );
  }

  #heartbeat(): void {
    const self = this.#self;
    if (self === undefined || this.#beating) return;
    this.#beating = true;
    this.#beat(self)
      .catch((error: unknown) => this.#report(error))
      .finally(() => {
        this.#beating = false;
      });
  }

  /** Re-reads the set for every watcher; one read at a time, and one more if asked meanwhile. */
  #refresh(): void {
    if (this.#refreshing) {
      this.#refreshAgain = true;
      return;
    }
    this.#refreshing = true;
    void (async () => {
      do {
        this.#refreshAgain = false;
        if (this.#watchers.size === 0) break;
        try {
          const members = await this.members();
          const signature = signatureOf(members);
          for (const watcher of this.#watchers) watcher.offer(members, signature);
        } catch (error) {
          this.#report(error);
        }
      } while (this.#refreshAgain);
      this.#refreshing = false;
    })();
  }

  async #subscribe(): Promise<void> {
    const name = this.#redis.options.connectionName;
    // Its own connection; SUBSCRIBE waits (queued) until Redis is reachable, and ioredis
    // resubscribes after every reconnect. Polling covers whatever it misses meanwhile.
    const subscriber = this.#redis.duplicate({
      lazyConnect: true,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      commandTimeout: undefined,
      ...(name ? { connectionName: `${name}:members` } : {}),
    });
    this.#subscriber = subscriber;
    subscriber.on('error', (error: Error) => {
      if (this.#subscriber === subscriber) this.#report(error);
    });
    subscriber.on('message', (channel: string) => {
      if (channel === this.#channel && this.#subscriber === subscriber) this.#refresh();
    });
    try {
      await subscriber.subscribe(this.#channel);
    } catch (error) {
      if (this.#subscriber === subscriber) this.#report(error);
    }
  }

  #stopWatching(): void {
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    if (subscriber === undefined) return;
    subscriber.removeAllListeners('message');
    subscriber.disconnect();
  }

  #report(error: unknown): void {
    if (this.#onError === undefined || this.#closed) return;
    this.#onError(toRedisError(error, `redis membership ${this.#key}`));
  }
}
