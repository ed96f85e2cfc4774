import {
  type AccumulationResult,
  type AccumulatorStore,
  type EntryStore,
  type FirewallRecord,
  type FirewallStore,
  MirroredEntryStore,
  type ReplicaStores,
  SafeError,
  type SyncEntry,
  type TransferVotes,
  toHex,
} from '@safe/core';
import type { Redis } from 'ioredis';
import { redisCall } from './connect.js';
import { defineScript, type ScriptCall } from './scripts.js';

/**
 * The key prefix of one replica: `safe:{<persona>:<first 16 hex of its name>}`. The braces are a
 * Redis Cluster hash tag, so every key of a replica lives in one slot and its scripts stay legal
 * on a cluster; replicas spread over the slots.
 */
export function replicaKeyPrefix(persona: string, name: Uint8Array): string {
  if (persona === '' || /[{}\s]/.test(persona)) throw new SafeError('invalid-argument', `bad persona for a Redis key prefix: ${persona}`);
  return `safe:{${persona}:${toHex(name).slice(0, 16)}}`;
}

function checkPrefix(prefix: string): string {
  if (typeof prefix !== 'string' || prefix === '') throw new SafeError('invalid-argument', 'a Redis key prefix must be a non-empty string');
  return prefix;
}

/** Redis expiries are whole milliseconds and must be positive. */
function ttlArg(ttlMs: number): number {
  if (!Number.isFinite(ttlMs)) throw new SafeError('invalid-argument', `ttl must be a finite number of ms, got ${ttlMs}`);
  return Math.max(1, Math.ceil(ttlMs));
}

function malformed(what: string, raw: unknown, cause?: unknown): SafeError {
  const shown = typeof raw === 'string' && raw.length > 200 ? `${raw.slice(0, 200)}…` : String(raw);
  return new SafeError('internal', `malformed ${what} in Redis: ${shown}`, cause === undefined ? undefined : { cause });
}

// KEYS[1]: the senders counted (a set); KEYS[2]: the "quorum reached" flag.
// ARGV[1]: sender; ARGV[2]: quorum; ARGV[3]: ttl ms. Both keys get the same expiry in the same
// script (time is frozen during a script), so they always vanish together.
const ACCUMULATE_LUA = `
local added = redis.call('SADD', KEYS[1], ARGV[1])
local count = redis.call('SCARD', KEYS[1])
local reached = 0
if count >= tonumber(ARGV[2]) then
  if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then reached = 1 end
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {count, reached, 1 - added}
`;

/** Accumulation of copies (Ac) in Redis: one script per copy, so concurrent replicas' copies count atomically. */
export class RedisAccumulatorStore implements AccumulatorStore {
  readonly #prefix: string;
  readonly #accumulate: ScriptCall;

  constructor(redis: Redis, prefix: string) {
    this.#prefix = `${checkPrefix(prefix)}:acc:`;
    this.#accumulate = defineScript(redis, 'safeAccumulate', ACCUMULATE_LUA, 2);
  }

  async add(id: string, sender: string, quorum: number, ttlMs: number): Promise<AccumulationResult> {
    const key = this.#prefix + id;
    const reply = await redisCall(`redis accumulator add ${id}`, () => this.#accumulate(key, `${key}:r`, sender, quorum, ttlArg(ttlMs)));
    if (!Array.isArray(reply) || reply.length !== 3 || !reply.every((n) => typeof n === 'number')) {
      throw malformed('accumulator reply', JSON.stringify(reply));
    }
    const [count, reached, repeat] = reply as [number, number, number];
    return { count, reached: reached === 1, repeat: repeat === 1 };
  }
}

// KEYS[1]: the record; ARGV[1]: the "syncing" record; ARGV[2]: ttl ms. nil when newly admitted.
const ADMIT_LUA = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return redis.call('GET', KEYS[1])
`;

/** JSON of a firewall record; the reply payload is base64. */
export function encodeFirewallRecord(record: FirewallRecord): string {
  if (record.state === 'syncing') return '{"state":"syncing"}';
  const reply = record.reply;
  if (reply === null) return '{"state":"done","reply":null}';
  const payload = Buffer.from(reply.payload.buffer, reply.payload.byteOffset, reply.payload.byteLength).toString('base64');
  return JSON.stringify({ state: 'done', reply: { type: reply.type, payload } });
}

export function decodeFirewallRecord(raw: string): FirewallRecord {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw malformed('firewall record', raw, error);
  }
  const record = value as { state?: unknown; reply?: unknown };
  if (typeof value === 'object' && value !== null) {
    if (record.state === 'syncing') return { state: 'syncing' };
    if (record.state === 'done') {
      if (record.reply === null) return { state: 'done', reply: null };
      const reply = record.reply as { type?: unknown; payload?: unknown } | undefined;
      if (typeof reply === 'object' && typeof reply.type === 'string' && typeof reply.payload === 'string') {
        // A standalone Uint8Array (not a view into a pooled Buffer), like the in-memory store holds.
        return { state: 'done', reply: { type: reply.type, payload: new Uint8Array(Buffer.from(reply.payload, 'base64')) } };
      }
    }
  }
  throw malformed('firewall record', raw);
}

const SYNCING = encodeFirewallRecord({ state: 'syncing' });

/** The firewall (Fw / Uf) in Redis: admit is SET NX + GET in one script. */
export class RedisFirewallStore implements FirewallStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #admit: ScriptCall;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = `${checkPrefix(prefix)}:fw:`;
    this.#admit = defineScript(redis, 'safeFirewallAdmit', ADMIT_LUA, 1);
  }

  async admit(id: string, ttlMs: number): Promise<FirewallRecord | null> {
    const raw = await redisCall(`redis firewall admit ${id}`, () => this.#admit(this.#prefix + id, SYNCING, ttlArg(ttlMs)));
    if (raw === null) return null;
    if (typeof raw !== 'string') throw malformed('firewall record', JSON.stringify(raw));
    return decodeFirewallRecord(raw);
  }

  async lookup(id: string): Promise<FirewallRecord | null> {
    const raw = await redisCall(`redis firewall lookup ${id}`, () => this.#redis.get(this.#prefix + id));
    return raw === null ? null : decodeFirewallRecord(raw);
  }

  async record(id: string, record: FirewallRecord, ttlMs: number): Promise<void> {
    const encoded = encodeFirewallRecord(record);
    await redisCall(`redis firewall record ${id}`, () => this.#redis.set(this.#prefix + id, encoded, 'PX', ttlArg(ttlMs)));
  }
}

/**
 * A replica's small keyed store (sync entries, account-transfer votes) as ONE Redis hash,
 * `<prefix>:<name>`: keys() is a single HKEYS, never a KEYS scan of a shared server. Values are JSON.
 * Use a different `name` per store of a replica (e.g. `sync`, `transfer`).
 */
export class RedisEntryStore<T> implements EntryStore<T> {
  readonly #redis: Redis;
  readonly #key: string;

  constructor(redis: Redis, prefix: string, name = 'entries') {
    this.#redis = redis;
    this.#key = `${checkPrefix(prefix)}:${name}`;
  }

  /** The hash holding the entries. */
  get key(): string {
    return this.#key;
  }

  async get(key: string): Promise<T | undefined> {
    const raw = await redisCall(`redis entry get ${this.#key} ${key}`, () => this.#redis.hget(this.#key, key));
    return raw === null ? undefined : this.#parse(key, raw);
  }

  #parse(key: string, raw: string): T {
    try {
      return JSON.parse(raw) as T;
    } catch (error) {
      throw malformed(`entry ${key} of ${this.#key}`, raw, error);
    }
  }

  async set(key: string, value: T): Promise<void> {
    const encoded: unknown = JSON.stringify(value);
    if (typeof encoded !== 'string') throw new SafeError('invalid-argument', `entry ${key} is not JSON-serialisable`);
    await redisCall(`redis entry set ${this.#key} ${key}`, () => this.#redis.hset(this.#key, key, encoded));
  }

  async delete(key: string): Promise<void> {
    await redisCall(`redis entry delete ${this.#key} ${key}`, () => this.#redis.hdel(this.#key, key));
  }

  async keys(): Promise<string[]> {
    return redisCall(`redis entry keys ${this.#key}`, () => this.#redis.hkeys(this.#key));
  }

  /** One HGETALL. */
  async entries(): Promise<[string, T][]> {
    const all = await redisCall(`redis entry entries ${this.#key}`, () => this.#redis.hgetall(this.#key));
    return Object.entries(all).map(([key, raw]) => [key, this.#parse(key, raw)]);
  }
}

/** The four group-mechanics stores of one replica, under `replicaKeyPrefix(persona, name)`. */
export function redisReplicaStores(redis: Redis, persona: string, name: Uint8Array): ReplicaStores {
  const prefix = replicaKeyPrefix(persona, name);
  return {
    accumulator: new RedisAccumulatorStore(redis, prefix),
    firewall: new RedisFirewallStore(redis, prefix),
    // Read from memory: only this replica's process reads or writes them (its data-dir lock).
    sync: new MirroredEntryStore(new RedisEntryStore<SyncEntry>(redis, prefix, 'sync')),
    transfer: new MirroredEntryStore(new RedisEntryStore<TransferVotes>(redis, prefix, 'transfer')),
  };
}
