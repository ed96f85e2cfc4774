import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Name, toHex } from '@safe/core';
import { openPostgres, type SqlDatabase } from '@safe/sql';
import { type MultiProcessTestnet, type MultiProcessTestnetOptions, startMultiProcessTestnet } from '@safe/testnet';
import { afterAll, beforeAll } from 'vitest';
import { purgeTestnet } from './stack-cleanup.js';

/**
 * A multi-process testnet on the real stack for a test file, in a fresh temp data dir (so fresh
 * identities: nothing a previous run left in Postgres, Redis or Kafka is read), and a Postgres
 * connection that reads the replicas' schemas the way an operator would. The stack comes from
 * the environment (`pnpm test` loads .safe-stack/stack.env) or from the stack's env file.
 */
export interface StackTestnet {
  readonly testnet: MultiProcessTestnet;
  /** A connection to the stack's Postgres (search_path public: name replicas' tables as `"<schema>".<table>`). */
  readonly db: SqlDatabase;
  /** DataManager rows for the chunk (any copy) in every DataManager's schema, plus its copies in every PmidNode's chunk dir. */
  tracesOf(name: Name): Promise<number>;
  close(): Promise<void>;
}

/** Where a PmidNode replica keeps a copy (services/pmid-node: `$SAFE_DATA_DIR/chunks/<2 hex>/<hex>.<copy index>`). */
export function chunkFile(pmidNodeDataDir: string, name: Name, copyIndex: number): string {
  const hex = toHex(name);
  return join(pmidNodeDataDir, 'chunks', hex.slice(0, 2), `${hex}.${copyIndex}`);
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/**
 * 26 replica processes share two cores here, with the stack and whatever else runs: a Put can
 * take many seconds. The Gateway waits this long for a group's answer (SAFE_CALL_TIMEOUT_MS), so
 * a slow Put is still answered rather than left unacknowledged-but-maybe-charged.
 */
export const CALL_TIMEOUT_MS = 120_000;
/** And a client waits a little longer than the Gateway. */
export const CLIENT_TIMEOUT_MS = CALL_TIMEOUT_MS + 15_000;

export async function startStackTestnet(options: MultiProcessTestnetOptions = {}): Promise<StackTestnet> {
  const dataDir = await mkdtemp(join(tmpdir(), 'safe-stack-'));
  // A failed start keeps the data dir: its error names the child and its log file.
  const testnet = await startMultiProcessTestnet({ dataDir, fresh: true, port: 0, callTimeoutMs: CALL_TIMEOUT_MS, ...options });
  const db = await openPostgres({ url: testnet.stack.postgresUrl, schema: 'public', poolSize: 2 });
  return {
    testnet,
    db,
    async tracesOf(name) {
      let traces = 0;
      for (const child of testnet.children) {
        if (child.persona === 'data-manager') {
          const [row] = await db.query<{ n: number }>(`SELECT count(*)::int4 AS n FROM "${child.schema}".chunks WHERE name = $1`, [name]);
          traces += row?.n ?? 0;
        } else if (child.persona === 'pmid-node') {
          for (const copy of [0, 1, 2]) if (await exists(chunkFile(child.dataDir, name, copy))) traces++;
        }
      }
      return traces;
    },
    async close() {
      const footprint = { network: testnet.network, children: testnet.children };
      await testnet.close();
      await db.close().catch(() => {});
      // SAFE_KEEP_TESTNET_DIR=1 keeps every replica's log and data, and its state in the stack, for a post-mortem.
      if (process.env.SAFE_KEEP_TESTNET_DIR === '1') {
        console.log(`testnet data dir kept: ${dataDir}; network ${testnet.network} left in the stack`);
        return;
      }
      // These identities go with the data dir: nothing they left in the stack would be read again.
      await purgeTestnet(testnet.stack, footprint);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The test file's stack testnet: started before its tests, closed after them; call the getter inside a test. */
export function stackTestnetForFile(options: MultiProcessTestnetOptions = {}): () => StackTestnet {
  let net: StackTestnet | undefined;
  beforeAll(async () => {
    net = await startStackTestnet(options);
  });
  afterAll(async () => {
    await net?.close();
  });
  return () => {
    if (net === undefined) throw new Error('the stack testnet of this file did not start');
    return net;
  };
}
