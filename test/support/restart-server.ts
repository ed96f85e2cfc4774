import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openPostgres } from '@safe/sql';
import { engineRequest, LABEL, OWNER_LABEL, run, socketPath } from './infra.js';

const ROOT = join(import.meta.dirname, '..', '..');

export type RestartableServer = 'postgres' | 'redis' | 'kafka';

/** How long a server may take to serve again after its restart (Kafka's JVM on two busy cores is the slow one). */
const READY_TIMEOUT_MS = 120_000;

/**
 * Restarts one of the servers the tests run against, with its data, as an operator would: the
 * container (`docker restart`: Postgres stops fast on SIGINT, the others on SIGTERM) or the local
 * stack's process (`stack restart`). Resolves, with the milliseconds it was away, once it serves again.
 */
export async function restartServer(server: RestartableServer): Promise<number> {
  const started = Date.now();
  if (process.env.SAFE_TEST_INFRA === 'containers') await restartContainer(server);
  else {
    const result = await run('bash', [join(ROOT, 'scripts', 'stack', 'stack.sh'), 'restart', server], READY_TIMEOUT_MS + 90_000);
    if (result.code !== 0) throw new Error(`stack restart ${server} failed (exit ${result.code}): ${result.output.trim()}`);
  }
  await serving(server, started + READY_TIMEOUT_MS);
  return Date.now() - started;
}

async function restartContainer(server: RestartableServer): Promise<void> {
  const socket = socketPath();
  if (socket === undefined) throw new Error(`restarting ${server}: DOCKER_HOST=${process.env.DOCKER_HOST} is not a unix socket`);
  const owner = process.env.SAFE_TEST_INFRA_OWNER;
  const filters = encodeURIComponent(JSON.stringify({ label: [`${LABEL}=${server}`, ...(owner ? [`${OWNER_LABEL}=${owner}`] : [])] }));
  const list = await engineRequest(socket, 'GET', `/containers/json?filters=${filters}`);
  const [container] = JSON.parse(list.body) as { Id: string }[];
  if (list.status !== 200 || container === undefined) throw new Error(`no running ${server} container of this run (HTTP ${list.status})`);
  const restart = await engineRequest(socket, 'POST', `/containers/${container.Id}/restart?t=30`, 60_000);
  if (restart.status !== 204) throw new Error(`docker restart of the ${server} container: HTTP ${restart.status} ${restart.body}`);
}

/** Until the server answers as its clients need it to: a query, a PING, a registered broker with its coordinators. */
async function serving(server: RestartableServer, deadline: number): Promise<void> {
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      if (server === 'postgres') await postgresAnswers();
      else if (server === 'redis') await redisAnswers();
      else await kafkaAnswers(deadline);
      return;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await sleep(500);
  }
  throw new Error(`${server} does not serve ${READY_TIMEOUT_MS / 1000} s after its restart: ${last}`);
}

async function postgresAnswers(): Promise<void> {
  const db = await openPostgres({ url: required('SAFE_POSTGRES_URL'), schema: 'public', poolSize: 1, connectTimeoutMs: 2000 });
  try {
    await db.query('SELECT 1');
  } finally {
    await db.close();
  }
}

function redisAnswers(): Promise<void> {
  const url = new URL(required('SAFE_REDIS_URL'));
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port || 6379) });
    socket.setTimeout(2000, () => socket.destroy(new Error('no answer to PING within 2 s')));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => {
      socket.end();
      // A server still loading its append-only file answers -LOADING.
      if (data.toString().startsWith('+PONG')) resolve();
      else reject(new Error(`PING answered ${data.toString().trim()}`));
    });
    socket.on('error', reject);
  });
}

async function kafkaAnswers(deadline: number): Promise<void> {
  const [host, port] = (required('SAFE_KAFKA_BROKERS').split(',')[0] ?? '').split(':');
  const wait = Math.max(1000, deadline - Date.now());
  const probe = await run(
    process.execPath,
    [join(ROOT, 'scripts', 'stack', 'kafka-ready.mjs'), host ?? '', port ?? '', String(wait), '--coordinators'],
    wait + 10_000,
  );
  if (probe.code !== 0) throw new Error(probe.output.trim());
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: the test infrastructure did not start`);
  return value;
}
