import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { importIdentity, toHex } from '@safe/core';
import { openPostgres } from '@safe/sql';
import { replicaSchema, type StackEnv } from '@safe/testnet';

/**
 * What a test testnet leaves in the shared stack once its data dir is gone: the managers' schemas,
 * the replicas' Redis keys and the network's membership hash, and the network's Kafka topics
 * (`safe.<network>.<persona>`, with their consumer groups' offsets). A test run would otherwise
 * add a few topics and a dozen schemas to the stack every time.
 */
export interface TestnetFootprint {
  readonly network: string;
  readonly children: readonly { readonly persona: string; readonly nodeName: string; readonly schema: string }[];
}

const ROOT = join(import.meta.dirname, '..', '..');

function run(command: string, args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(command, [...args], { timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, output: `${stdout}${stderr}` }),
    );
  });
}

// Deletes every key matching any of ARGV's glob patterns; returns how many.
const DELETE_MATCHING = `local n = 0
for _, pattern in ipairs(ARGV) do
  for _, key in ipairs(redis.call('KEYS', pattern)) do n = n + redis.call('DEL', key) end
end
return n`;

/** Best effort, and quiet: a cleanup that fails must not fail the test that used the testnet. Returns what went wrong. */
export async function purgeTestnet(stack: StackEnv, footprint: TestnetFootprint): Promise<string[]> {
  const problems: string[] = [];
  const managers = footprint.children.filter((c) => c.persona !== 'pmid-node');
  try {
    const db = await openPostgres({ url: stack.postgresUrl, schema: 'public', poolSize: 1 });
    try {
      for (const { schema } of managers) await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await db.close();
    }
  } catch (error) {
    problems.push(`postgres: ${error instanceof Error ? error.message : String(error)}`);
  }
  const patterns = [`safe:${footprint.network}:*`, ...footprint.children.map((c) => `safe:{${c.persona}:${c.nodeName.slice(0, 16)}}*`)];
  const redis = await run('redis-cli', ['-u', stack.redisUrl, 'EVAL', DELETE_MATCHING, '0', ...patterns]);
  if (redis.code !== 0) problems.push(`redis: ${redis.output.trim()}`);
  // A broker in a container goes with it; `stack kafka` would reach the local stack's, not that one.
  if (process.env.SAFE_TEST_INFRA === 'containers') return problems;
  const network = footprint.network.replaceAll('.', '\\.');
  const kafka = await run('bash', [
    join(ROOT, 'scripts', 'stack', 'stack.sh'),
    'kafka',
    'topics',
    '--delete',
    '--if-exists',
    '--topic',
    `safe\\.${network}\\..*`,
  ]);
  if (kafka.code !== 0) problems.push(`kafka: ${kafka.output.trim().split('\n')[0]}`);
  return problems;
}

/** The footprint of a multi-process testnet's data dir (`<dir>/<persona>/<n>/node.key`), for a testnet started by the CLI. */
export async function footprintOf(dataDir: string, network: string): Promise<TestnetFootprint> {
  const children: { persona: string; nodeName: string; schema: string }[] = [];
  for (const persona of ['maid-manager', 'data-manager', 'version-manager', 'mpid-manager', 'pmid-manager', 'pmid-node']) {
    for (const entry of await readdir(join(dataDir, persona)).catch(() => [] as string[])) {
      try {
        const nodeName = toHex(importIdentity(await readFile(join(dataDir, persona, entry, 'node.key'))).name);
        children.push({ persona, nodeName, schema: replicaSchema(persona, nodeName) });
      } catch {
        // no key there
      }
    }
  }
  return { network, children };
}
