// The local stack (scripts/stack): its servers' pids, the bytes in its Kafka logs, and removing
// what a multi-process testnet leaves in it (schemas, Redis keys, topics, consumer groups).
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { run, tail, withTimeout } from './child-processes.mjs';
import { built, PERSONAS, ROOT } from './repo.mjs';

/** The local stack's directory (`$SAFE_STACK_DIR`, default `<repo>/.safe-stack`). */
export function stackDir() {
  return process.env.SAFE_STACK_DIR?.trim() || join(ROOT, '.safe-stack');
}

/** The stack's server pids: from its pid files, else by pgrep. Missing ones are left out. */
export async function stackPids() {
  const first = async (file) => Number((await readFile(join(stackDir(), file), 'utf8').catch(() => '')).split('\n')[0]) || undefined;
  const pgrep = async (...args) => Number((await run('pgrep', args, { timeoutMs: 10_000 })).stdout.split('\n')[0]) || undefined;
  return {
    kafka: (await first('kafka/kafka.pid')) ?? (await pgrep('-o', '-f', 'kafka\\.Kafka')),
    postgres: (await first('postgres/postmaster.pid')) ?? (await pgrep('-o', '-x', 'postgres')),
    redis: (await first('redis/redis.pid')) ?? (await pgrep('-o', '-x', 'redis-server')),
  };
}

/** The replicas whose keys are in a multi-process testnet's data dir (`<dir>/<persona>/<n>/node.key`). */
export async function footprintOf(dataDir, network) {
  const { core, testnet } = await built();
  const children = [];
  for (const persona of PERSONAS) {
    for (const entry of await readdir(join(dataDir, persona)).catch(() => [])) {
      try {
        const nodeName = core.toHex(core.importIdentity(await readFile(join(dataDir, persona, entry, 'node.key'))).name);
        children.push({ persona, nodeName, schema: testnet.replicaSchema(persona, nodeName) });
      } catch {
        // no key there
      }
    }
  }
  return { network, children };
}

// Deletes every key matching any of ARGV's glob patterns; returns how many.
const DELETE_MATCHING = `local n = 0
for _, pattern in ipairs(ARGV) do
  for _, key in ipairs(redis.call('KEYS', pattern)) do n = n + redis.call('DEL', key) end
end
return n`;

/**
 * Removes what a stopped testnet left in the stack: its managers' schemas, its replicas' Redis
 * keys and the network's, its topics and its consumer groups. Best effort; returns the problems.
 */
export async function purgeTestnet(stack, { network, children }) {
  const { kafka, sql } = await built();
  const problems = [];
  const step = async (what, fn) => {
    try {
      await withTimeout(fn(), 60_000, what);
    } catch (error) {
      problems.push(`${what}: ${error.message}`);
    }
  };
  await step('postgres', async () => {
    const db = await sql.openPostgres({ url: stack.postgresUrl, schema: 'public', poolSize: 1 });
    try {
      for (const { persona, schema } of children) if (persona !== 'pmid-node') await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await db.close();
    }
  });
  await step('redis', async () => {
    const patterns = [`safe:${network}:*`, ...children.map((c) => `safe:{${c.persona}:${c.nodeName.slice(0, 16)}}*`)];
    const result = await run('redis-cli', ['-u', stack.redisUrl, 'EVAL', DELETE_MATCHING, '0', ...patterns], { timeoutMs: 60_000 });
    if (result.code !== 0) throw new Error(tail(result.stderr || result.stdout));
  });
  await step('kafka', async () => {
    const admin = kafka.createKafka({ brokers: stack.kafkaBrokers, clientId: 'bench-purge' }).admin();
    await admin.connect();
    try {
      const prefix = `safe.${network}.`;
      const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
      if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
      const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
      if (groups.length > 0) await admin.deleteGroups(groups);
    } finally {
      await admin.disconnect();
    }
  });
  return problems;
}

/** Bytes in the broker's log segments of the topics starting with `prefix` (local stack only: its data dir). */
export async function kafkaLogBytes(prefix) {
  const data = join(stackDir(), 'kafka', 'data');
  let total = 0;
  for (const dir of await readdir(data).catch(() => [])) {
    if (!dir.startsWith(prefix) || !/-\d+$/.test(dir)) continue;
    for (const file of await readdir(join(data, dir)).catch(() => [])) {
      if (file.endsWith('.log')) total += (await stat(join(data, dir, file)).catch(() => ({ size: 0 }))).size;
    }
  }
  return total;
}
