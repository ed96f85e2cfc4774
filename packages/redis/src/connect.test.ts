import { type AddressInfo, createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { ConfigError, SafeError, UnavailableError } from '@safe/core';
import { describe, expect, it } from 'vitest';
import { closeRedis, connectRedis, redisEndpoint, toRedisError } from './connect.js';
import { RedisAccumulatorStore } from './stores.js';
import { cleanUp, connectForTest, REDIS_URL, uniquePrefix } from './test-support.js';

/** A port nothing listens on: bound, then closed. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A TCP proxy to the real Redis that can be cut, to simulate an outage after start-up. */
async function proxyToRedis(): Promise<{ url: string; cut: () => Promise<void> }> {
  const target = new URL(REDIS_URL);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(Number(target.port || 6379), target.hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    cut: async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

describe('connectRedis', () => {
  it('fails at start-up with an UnavailableError naming Redis and host:port, within the timeout', async () => {
    const port = await freePort();
    const started = performance.now();
    const error = await connectRedis(`redis://127.0.0.1:${port}`, { name: 'test-down', connectTimeoutMs: 2000 }).catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(2500);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toMatch(
      new RegExp(`^Redis at 127\\.0\\.0\\.1:${port} cannot be reached \\(test-down\\): .*ECONNREFUSED`),
    );
  });

  it('bounds start-up by connectTimeoutMs when the server never answers', async () => {
    // A server that accepts and then says nothing.
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const started = performance.now();
      const error = await connectRedis(`redis://127.0.0.1:${port}`, { name: 'test-silent', connectTimeoutMs: 300 }).catch(
        (e: unknown) => e,
      );
      expect(performance.now() - started).toBeLessThan(1500);
      expect(error).toBeInstanceOf(UnavailableError);
      expect((error as Error).message).toContain(`Redis at 127.0.0.1:${port} cannot be reached`);
    } finally {
      silent.close();
    }
  });

  it('rejects a URL that is not redis://', async () => {
    await expect(connectRedis('http://127.0.0.1:1', { name: 'x' })).rejects.toBeInstanceOf(ConfigError);
    await expect(connectRedis('not a url', { name: 'x' })).rejects.toBeInstanceOf(ConfigError);
    expect(redisEndpoint('redis://user:secret@example.org:7000/2')).toBe('example.org:7000');
  });

  it('names the connection', async () => {
    const redis = await connectForTest('named-client');
    try {
      expect(await redis.client('GETNAME')).toBe('named-client');
    } finally {
      await closeRedis(redis);
    }
  });

  it('fails fast with UnavailableError during an outage, and works again once Redis is back', async () => {
    const proxy = await proxyToRedis();
    const redis = await connectRedis(proxy.url, { name: 'test-outage', connectTimeoutMs: 2000 });
    const prefix = uniquePrefix('outage');
    const store = new RedisAccumulatorStore(redis, prefix);
    try {
      expect((await store.add('m', 'a', 2, 60_000)).count).toBe(1);
      await proxy.cut();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = performance.now();
      const error = await store.add('m', 'b', 2, 60_000).catch((e: unknown) => e);
      expect(performance.now() - started).toBeLessThan(1000); // not the 5 s command timeout
      expect(error).toBeInstanceOf(UnavailableError);
      expect((error as Error).message).toMatch(/^redis accumulator add m: /);
    } finally {
      redis.disconnect();
      const direct = await connectForTest('outage-cleanup');
      await cleanUp(direct, prefix);
    }
  });
});

describe('toRedisError', () => {
  it('maps connection failures and "retry later" replies to UnavailableError, the rest to typed SafeErrors', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(toRedisError(refused, 'ctx')).toBeInstanceOf(UnavailableError);
    expect(toRedisError(new Error('Connection is closed.'), 'ctx')).toBeInstanceOf(UnavailableError);
    expect(toRedisError(new Error("Stream isn't writeable and enableOfflineQueue options is false"), 'ctx')).toBeInstanceOf(
      UnavailableError,
    );
    expect(toRedisError(new Error('Command timed out'), 'ctx')).toBeInstanceOf(UnavailableError);
    const maxRetries = new Error('Reached the max retries per request limit (which is 1).');
    maxRetries.name = 'MaxRetriesPerRequestError';
    expect(toRedisError(maxRetries, 'ctx')).toBeInstanceOf(UnavailableError);
    const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });
    expect(toRedisError(reply('LOADING Redis is loading the dataset in memory'), 'ctx')).toBeInstanceOf(UnavailableError);
    expect(toRedisError(reply('OOM command not allowed'), 'ctx').kind).toBe('resource-exhausted');
    const wrongType = toRedisError(reply('WRONGTYPE Operation against a key holding the wrong kind of value'), 'ctx');
    expect(wrongType.kind).toBe('internal');
    expect(wrongType.message).toBe('ctx: WRONGTYPE Operation against a key holding the wrong kind of value');
    expect(toRedisError('a string', 'ctx')).toMatchObject({ kind: 'internal', message: 'ctx: a string' });
    const typed = new SafeError('not-found', 'x');
    expect(toRedisError(typed, 'ctx')).toBe(typed);
  });
});
