import type { Redis } from 'ioredis';

/** A Lua script bound to one client: KEYS first, then ARGV; one round trip (EVALSHA, or EVAL the first time on a socket). */
export type ScriptCall = (...keysThenArgs: Array<string | number>) => Promise<unknown>;

/**
 * Defines `lua` on `redis` under `name` (once per client) through `redis.defineCommand`, and
 * returns a typed caller. ioredis sends EVAL the first time on each socket and EVALSHA after, so
 * every call is one round trip, reconnects included.
 */
export function defineScript(redis: Redis, name: string, lua: string, numberOfKeys: number): ScriptCall {
  const commands = redis as unknown as Record<string, ScriptCall | undefined>;
  if (typeof commands[name] !== 'function') redis.defineCommand(name, { lua, numberOfKeys });
  const call = commands[name] as ScriptCall;
  return (...keysThenArgs) => call.apply(redis, keysThenArgs);
}
