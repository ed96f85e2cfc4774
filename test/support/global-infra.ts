// vitest globalSetup of the `packages` and `stack` projects: the Postgres, Redis and Kafka (and, for
// `stack`, Jaeger) their tests use. SAFE_TEST_INFRA picks the path:
//   auto (default)  testcontainers when a Docker engine answers and the local images exist, else the
//                   local-process stack (`pnpm stack up`; its SAFE_* variables, as before)
//   containers      testcontainers or fail, saying why
//   stack           never containers: SAFE_POSTGRES_URL, SAFE_REDIS_URL, SAFE_KAFKA_BROKERS, else the
//                   stack's defaults
// The variables set here reach every test worker (vitest starts them after its global setups) and
// every process a test starts. Which path ran is printed, and written to SAFE_TEST_INFRA_REPORT (a
// file) when that is set (`pnpm test` prints it before its summary).
import { appendFileSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { findEngine, missingImages, type Server, type StartedInfra, startContainers } from './infra.js';

// One set of containers for the whole run, however many projects ask: both setups run in this one
// process, from separately loaded copies of this module.
interface Shared {
  containers?: StartedInfra;
  servers: Server[];
  users: number;
  fallback?: string;
}
const KEY = Symbol.for('safe.test-infra');
const registry = globalThis as Record<symbol, Shared | undefined>;
registry[KEY] ??= { servers: [], users: 0 };
const shared = registry[KEY];

function report(line: string): void {
  console.log(`[test-infra] ${line}`);
  const file = process.env.SAFE_TEST_INFRA_REPORT;
  if (file) appendFileSync(file, `${line}\n`);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const wanted: Server[] = project.name === 'stack' ? ['postgres', 'redis', 'kafka', 'jaeger'] : ['postgres', 'redis', 'kafka'];
  const mode = process.env.SAFE_TEST_INFRA?.trim() || 'auto';
  if (!['auto', 'containers', 'stack'].includes(mode)) throw new Error(`SAFE_TEST_INFRA=${mode}: expected auto, containers or stack`);
  shared.users += 1;
  const teardown = async () => {
    shared.users -= 1;
    if (shared.users > 0 || shared.containers === undefined) return;
    const started = Date.now();
    await shared.containers.stop();
    shared.containers = undefined;
    console.log(`[test-infra] containers stopped in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  };
  if (mode === 'stack' || shared.fallback !== undefined) return teardown;

  const todo = wanted.filter((server) => !shared.servers.includes(server));
  if (todo.length === 0) return teardown;
  const fallback = (why: string) => {
    if (mode === 'containers') throw new Error(`SAFE_TEST_INFRA=containers, but ${why}`);
    if (shared.servers.length > 0) throw new Error(`[test-infra] ${todo.join(', ')} for project ${project.name}: ${why}`);
    shared.fallback = why;
    process.env.SAFE_TEST_INFRA = 'stack';
    report(`local-process stack (pnpm stack up): ${why}`);
    return teardown;
  };
  const engine = await findEngine();
  if ('why' in engine) return fallback(engine.why);
  const missing = await missingImages(engine, todo);
  if (missing.length > 0) return fallback(`the engine at ${engine.socket} lacks ${missing.join(', ')} (build them: pnpm k8s images infra)`);
  const started = await startContainers(engine, todo);
  // For the workers: the servers, which path ran (test/support/stack-cleanup.ts reads it) and whose
  // containers they are (test/support/restart-server.ts finds them by it).
  Object.assign(process.env, started.env, { SAFE_TEST_INFRA: 'containers', SAFE_TEST_INFRA_OWNER: String(process.pid) });
  shared.servers.push(...todo);
  const previous = shared.containers;
  shared.containers = {
    env: { ...previous?.env, ...started.env },
    startMs: { ...previous?.startMs, ...started.startMs },
    summary: previous === undefined ? started.summary : `${previous.summary}; ${started.summary}`,
    stop: async () => {
      await Promise.all([started.stop(), previous?.stop()]);
    },
  };
  report(started.summary);
  return teardown;
}
