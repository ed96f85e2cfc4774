import { ConfigError, FailedPreconditionError, type MemberAnnouncement, type Membership, type SafeError } from '@safe/core';
import type { Redis } from 'ioredis';
import { redisCall, toRedisError } from './connect.js';
import { decodeAnnouncement, encodeAnnouncement, memberKey, signatureOf } from './membership-codec.js';
import { HEARTBEAT_LUA, LEAVE_LUA, LIST_LUA } from './membership-lua.js';
import { Watcher } from './membership-watcher.js';
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

const DEFAULT_HEARTBEAT_MS = 1000;
const DEFAULT_EXPIRY_MS = 5000;
const DEFAULT_POLL_MS = 500;
const DEFAULT_KEY = 'safe:members';

function positive(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new ConfigError(`membership ${what} must be a positive number, got ${value}`);
  return value;
}

/**
 * Membership in Redis. Each member is a field `<persona>:<name hex>` of one hash holding JSON
 * {persona, name, publicKey, endpoint, ranks?, expiresAt}; expiresAt comes from the Redis server's clock
 * (set inside the heartbeat script), and liveness is judged by the same clock, so the clocks of
 * the processes do not matter. Expired members are removed lazily by whichever member polls first,
 * atomically. Time in which Redis itself was away (restarting) does not count against anyone. Watchers poll every `pollMs` and also react to a pub/sub channel published on every
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
  /** When a membership script last ran (server clock): a longer gap is Redis away, given back to every announcement. */
  readonly #servedKey: string;
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
    this.#servedKey = `${this.#key}:served`;
    this.#heartbeatMs = positive(options.heartbeatMs, DEFAULT_HEARTBEAT_MS, 'heartbeatMs');
    this.#expiryMs = Math.ceil(positive(options.expiryMs, DEFAULT_EXPIRY_MS, 'expiryMs'));
    this.#pollMs = positive(options.pollMs, DEFAULT_POLL_MS, 'pollMs');
    this.#sweepMs = positive(options.sweepMs, this.#pollMs, 'sweepMs');
    if (this.#expiryMs <= this.#heartbeatMs) {
      throw new ConfigError(`membership expiryMs (${this.#expiryMs}) must exceed heartbeatMs (${this.#heartbeatMs})`);
    }
    this.#onError = options.onError;
    this.#heartbeatScript = defineScript(redis, 'safeMemberHeartbeat', HEARTBEAT_LUA, 2);
    this.#listScript = defineScript(redis, 'safeMemberList', LIST_LUA, 2);
    this.#leaveScript = defineScript(redis, 'safeMemberLeave', LEAVE_LUA, 1);
  }

  async join(self: MemberAnnouncement): Promise<void> {
    if (this.#closed) throw new FailedPreconditionError('membership is closed');
    const field = memberKey(self);
    if (this.#self !== undefined && this.#self.field !== field) await this.leave();
    this.#self = { field, json: encodeAnnouncement(self) };
    await this.#beat(this.#self);
    if (this.#heartbeatTimer === undefined && this.#self !== undefined) {
      this.#heartbeatTimer = setInterval(() => this.#heartbeat(), this.#heartbeatMs);
      this.#heartbeatTimer.unref();
    }
  }

  async members(): Promise<MemberAnnouncement[]> {
    const reply = await redisCall(`redis membership members ${this.#key}`, () =>
      this.#listScript(this.#key, this.#servedKey, this.#channel, this.#outageMs),
    );
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

  /** No script ran for this long: Redis was away (any live member heartbeats every heartbeatMs). */
  get #outageMs(): number {
    return 2 * this.#heartbeatMs;
  }

  async #beat(self: { field: string; json: string }): Promise<void> {
    await redisCall(`redis membership heartbeat ${self.field}`, () =>
      this.#heartbeatScript(this.#key, this.#servedKey, self.field, self.json, this.#expiryMs, this.#channel, this.#outageMs),
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
