import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadStackEnv, networkFor, startMultiProcessTestnet } from '@safe/testnet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { footprintOf, purgeTestnet } from '../support/stack-cleanup.js';

/**
 * A replica whose Kafka cannot be reached must not half-serve: it exits non-zero, and says that
 * it is Kafka (and where) it could not reach. Postgres and Redis are the real ones, so Kafka is
 * the only thing missing.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const UNREACHABLE = '127.0.0.1:1';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safe-stack-kafka-'));
});

afterAll(async () => {
  // The replicas got as far as their schemas (Postgres comes before Kafka at start-up).
  const testnet = await footprintOf(join(dir, 'testnet'), networkFor(join(dir, 'testnet')));
  const direct = await footprintOf(dir, 'none');
  await purgeTestnet(await loadStackEnv(), { network: testnet.network, children: [...testnet.children, ...direct.children] });
  await rm(dir, { recursive: true, force: true });
});

function run(
  persona: string,
  env: Record<string, string>,
): Promise<{ code: number | null; signal: string | null; stderr: string; ms: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, [join(ROOT, 'services', persona, 'dist', 'main.js')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stderr, ms: Date.now() - started });
    });
  });
}

describe('a replica started with an unreachable Kafka', () => {
  // The four at once: each spends its few seconds waiting on Kafka's bounded retry.
  it.concurrent.for(['maid-manager', 'data-manager', 'pmid-manager', 'pmid-node'])(
    '%s exits non-zero naming Kafka',
    async (persona, { expect }) => {
      const stack = await loadStackEnv();
      const result = await run(persona, {
        SAFE_DATA_DIR: join(dir, persona, 'direct'),
        SAFE_POSTGRES_URL: stack.postgresUrl,
        SAFE_REDIS_URL: stack.redisUrl,
        SAFE_KAFKA_BROKERS: UNREACHABLE,
        SAFE_GRPC_PORT: '0',
        SAFE_ADMIN_PORT: '0',
        SAFE_LOG_LEVEL: 'silent',
      });
      expect(result.signal).toBeNull();
      expect(result.code).not.toBe(0);
      expect(result.code).not.toBeNull();
      expect(result.stderr).toMatch(/Kafka/);
      expect(result.stderr).toContain(UNREACHABLE);
    },
  );

  it('and the multi-process testnet then fails to start, naming the child and showing its log', async () => {
    const error = await startMultiProcessTestnet({
      dataDir: join(dir, 'testnet'),
      fresh: true,
      port: 0,
      childEnv: { SAFE_KAFKA_BROKERS: UNREACHABLE },
    }).then(
      async (testnet) => {
        await testnet.close();
        return new Error('the testnet started with Kafka unreachable');
      },
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toMatch(
      /^pmid-manager-\d \(pid \d+\) exited with code 1 before it was ready; last lines of \S+pmid-manager-\d\.log:/,
    );
    expect(error.message).toContain(`Kafka at ${UNREACHABLE} is unreachable`);
  });
});
