/**
 * One real replica process (`node services/pmid-manager/dist/main.js`, built by `tsc -b`) against
 * the servers of the test run: Postgres, Redis and Kafka from SAFE_POSTGRES_URL, SAFE_REDIS_URL and
 * SAFE_KAFKA_BROKERS (set by the vitest global setup, test/support/global-infra.ts), else the local
 * stack's ports (`bash scripts/stack/stack.sh env`). A server that does not answer FAILS every test,
 * naming it; they are never skipped.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { nameFromHex } from '@safe/core';
import { connectGateway } from '@safe/grpc';
import { createKafka, groupIdFor } from '@safe/kafka';
import { closeRedis, connectRedis } from '@safe/redis';
import { openPostgres } from '@safe/sql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const MAIN = join(ROOT, 'services/pmid-manager/dist/main.js');
/** A network of its own: the test replica must not join (or disturb) another network on the shared stack. */
const NETWORK = `host-test-${randomBytes(4).toString('hex')}`;
const STACK = {
  SAFE_POSTGRES_URL: process.env.SAFE_POSTGRES_URL || 'postgres://safe@127.0.0.1:55432/safe',
  SAFE_REDIS_URL: process.env.SAFE_REDIS_URL || 'redis://127.0.0.1:56379',
  SAFE_KAFKA_BROKERS: process.env.SAFE_KAFKA_BROKERS || '127.0.0.1:19092',
};

function answers(hostPort: string): Promise<boolean> {
  const at = hostPort.lastIndexOf(':');
  return new Promise((done) => {
    const socket = connect({ host: hostPort.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(hostPort.slice(at + 1)), timeout: 1000 });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
    socket.once('timeout', () => {
      socket.destroy();
      done(false);
    });
  });
}

/** The servers that do not answer, as `what at where (variable)`; empty when all do. */
async function missingServers(): Promise<string[]> {
  const servers = [
    { what: 'Postgres', variable: 'SAFE_POSTGRES_URL', at: new URL(STACK.SAFE_POSTGRES_URL).host || '127.0.0.1:5432' },
    { what: 'Redis', variable: 'SAFE_REDIS_URL', at: new URL(STACK.SAFE_REDIS_URL).host || '127.0.0.1:6379' },
    { what: 'Kafka', variable: 'SAFE_KAFKA_BROKERS', at: STACK.SAFE_KAFKA_BROKERS.split(',')[0] ?? '' },
  ];
  const answered = await Promise.all(servers.map((server) => answers(server.at)));
  return servers.filter((_, i) => !answered[i]).map(({ what, at, variable }) => `${what} at ${at} (${variable})`);
}

// Recorded in beforeAll and thrown from beforeEach, so that every test FAILS with it (a throwing
// beforeAll would only mark the tests skipped), as the @safe/sql tests do (requirePostgres).
let missing: string[] = [];
beforeAll(async () => {
  missing = await missingServers();
});
beforeEach(() => {
  if (missing.length > 0) {
    throw new Error(
      `@safe/host process tests need ${missing.join(', ')}. The vitest global setup (test/support/global-infra.ts) starts the servers ` +
        'in containers, or set those variables, or start the local stack: bash scripts/stack/stack.sh up',
    );
  }
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

interface Started {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

function start(env: Record<string, string>): Started {
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: { ...process.env, ...STACK, SAFE_NETWORK: NETWORK, SAFE_LOG_LEVEL: 'info', OTEL_EXPORTER_OTLP_ENDPOINT: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((done) =>
    child.once('exit', (code, signal) => done({ code, signal, at: Date.now() })),
  );
  return { child, output: () => output, exited };
}

async function waitForReady(adminPort: number, started: Started, ms = 45_000): Promise<void> {
  const deadline = Date.now() + ms;
  let exited = false;
  void started.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) throw new Error(`the replica exited before it was ready:\n${started.output()}`);
    try {
      const reply = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
      if (reply.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((done) => setTimeout(done, 200));
  }
  throw new Error(`not ready within ${ms} ms:\n${started.output()}`);
}

/** The fields of the first JSON log line with message `msg`. */
function logLine(output: string, msg: string): Record<string, unknown> {
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (entry.msg === msg) return entry;
  }
  throw new Error(`no log line "${msg}" in:\n${output}`);
}

const leftovers: { dataDir: string; name?: string }[] = [];

afterAll(async () => {
  const redis =
    missing.length === 0 ? await connectRedis(STACK.SAFE_REDIS_URL, { name: 'host-test-cleanup' }).catch(() => undefined) : undefined;
  await redis?.del(`safe:${NETWORK}:members`).catch(() => undefined);
  for (const { dataDir, name } of leftovers) {
    await rm(dataDir, { recursive: true, force: true });
    if (name === undefined) continue;
    // What a test replica leaves on the shared stack: its schema and its consumer group.
    const db = await openPostgres({ url: STACK.SAFE_POSTGRES_URL, schema: 'public', poolSize: 1 }).catch(() => undefined);
    await db?.query(`DROP SCHEMA IF EXISTS pmid_manager_${name.slice(0, 16)} CASCADE`).catch(() => undefined);
    await db?.close();
    const admin = createKafka({ brokers: STACK.SAFE_KAFKA_BROKERS }).admin();
    await admin
      .connect()
      .then(() => admin.deleteGroups([groupIdFor('pmid-manager', nameFromHex(name))]))
      .catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    const keys = (await redis?.keys(`safe:{pmid-manager:${name.slice(0, 16)}}*`).catch(() => [])) ?? [];
    if (keys.length > 0) await redis?.del(...keys).catch(() => undefined);
  }
  if (redis !== undefined) await closeRedis(redis);
});

describe('a replica process on the real stack', () => {
  it('gets ready, serves health and metrics, stops cleanly on SIGTERM (exit 0), and keeps its name on a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'safe-host-process-'));
    const entry: { dataDir: string; name?: string } = { dataDir };
    leftovers.push(entry);
    const adminPort = await freePort();
    const grpcPort = await freePort();
    const env = {
      SAFE_DATA_DIR: dataDir,
      SAFE_ADMIN_PORT: String(adminPort),
      SAFE_GRPC_PORT: String(grpcPort),
      SAFE_SHUTDOWN_GRACE_MS: '2000',
    };

    const first = start(env);
    await waitForReady(adminPort, first);
    const ready = logLine(first.output(), 'replica ready');
    expect(ready.endpoint).toBe(`127.0.0.1:${grpcPort}`);
    const name = String(logLine(first.output(), 'new node key created').name);
    entry.name = name;
    expect(logLine(first.output(), 'postgres connected').schema).toBe(`pmid_manager_${name.slice(0, 16)}`);

    expect((await fetch(`http://127.0.0.1:${adminPort}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    expect(metrics).toMatch(/^# TYPE safe_messages_total counter$/m);
    expect(metrics).toMatch(/^process_resident_memory_bytes \d+$/m);
    expect(Number(/^safe_members\{persona="pmid-manager"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    // Alone in its persona (no more than K members), it reads every partition of its topic.
    expect(Number(/^safe_bus_served_partitions\{persona="pmid-manager"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    const grpc = connectGateway(`127.0.0.1:${grpcPort}`, 5000);
    try {
      expect(await grpc.health('safe.v1.Node')).toBe('SERVING');
    } finally {
      grpc.close();
    }

    const signalled = Date.now();
    first.child.kill('SIGTERM');
    const stopped = await first.exited;
    expect(stopped.code).toBe(0);
    expect(stopped.at - signalled).toBeLessThan(5000);
    expect(first.output()).toContain('"msg":"replica stopped"');

    // Same data dir: same key, same name, same schema.
    const second = start(env);
    await waitForReady(adminPort, second);
    const loaded = logLine(second.output(), 'node key loaded');
    expect(loaded.name).toBe(name);
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  }, 120_000);

  it('exits 1 with a message naming Redis when Redis does not answer, and never gets ready', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'safe-host-process-'));
    const entry: { dataDir: string; name?: string } = { dataDir };
    leftovers.push(entry);
    const adminPort = await freePort();
    const closed = await freePort();
    const started = start({
      SAFE_DATA_DIR: dataDir,
      SAFE_ADMIN_PORT: String(adminPort),
      SAFE_REDIS_URL: `redis://127.0.0.1:${closed}`,
      SAFE_CONNECT_TIMEOUT_MS: '3000',
    });
    const exited = await started.exited;
    entry.name = String(logLine(started.output(), 'new node key created').name);
    expect(exited.code).toBe(1);
    const stderrLine = started
      .output()
      .split('\n')
      .find((line) => line.startsWith('safe-pmid-manager: '));
    expect(stderrLine).toMatch(/Redis/);
    expect(stderrLine).toContain(`127.0.0.1:${closed}`);
    expect(started.output()).not.toContain('"msg":"replica ready"');
  }, 60_000);
});
