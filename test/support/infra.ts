// The servers the adapter and stack tests run against: Postgres, Redis and Kafka (and Jaeger for
// the stack suite) started through testcontainers wherever a Docker engine answers and the local
// infrastructure images exist (`pnpm k8s images`, docker/README.md), else the local-process stack
// of `pnpm stack up` (its SAFE_* variables, as before). See docs/testing.md.
//
// Nothing is pulled: the images are the ones built here. The Ryuk reaper is off (its image cannot be
// pulled, and it needs a published port on a bridge network this engine does not have); instead every
// container carries our labels and is removed when the run ends, and containers a killed run left
// behind are removed by the next run.
//
// Networking: an engine with a bridge network publishes each server's port at the same number on
// the host; an engine without one (this machine's dockerd runs with --bridge=none, see
// scripts/k8s/components.sh) runs the containers on the host's network, each server bound to
// 127.0.0.1 on a port chosen here. Either way the tests reach 127.0.0.1:<port>.
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

export const IMAGES = {
  postgres: 'safe-local/postgres:15',
  redis: 'safe-local/redis:7',
  kafka: `safe-local/kafka:${process.env.SAFE_KAFKA_VERSION || '3.9.2'}`,
  jaeger: `safe-local/jaeger:${process.env.SAFE_JAEGER_VERSION || '1.42.0'}`,
} as const;
export type Server = keyof typeof IMAGES;

/** Which path provides the servers: set by the global setup, read by whoever reports it. */
export type InfraMode = 'containers' | 'stack';

export const LABEL = 'dev.safe.test-infra';
export const OWNER_LABEL = 'dev.safe.test-infra.pid';
/** The local-process stack's ports (scripts/stack, scripts/k8s): never chosen here, others use them. */
const RESERVED = new Set([55432, 56379, 19092, 19093, 4317, 4318, 16686, 2379, 2380, 6443, 18181]);

export interface Engine {
  /** The unix socket the engine answers on. */
  readonly socket: string;
  /** Whether it has a bridge network (ports can be published); if not, containers use the host's network. */
  readonly bridge: boolean;
}

export function socketPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const host = env.DOCKER_HOST?.trim();
  if (!host) return '/var/run/docker.sock';
  return host.startsWith('unix://') ? host.slice('unix://'.length) : undefined;
}

/** One request to the engine's API on its unix socket: the status and the body. */
export function engineRequest(socket: string, method: string, path: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function engineGet(socket: string, path: string): Promise<number> {
  return (await engineRequest(socket, 'GET', path)).status;
}

/**
 * The Docker engine on DOCKER_HOST (a unix socket) or /var/run/docker.sock, if it answers, with the
 * reason it is not usable otherwise. A tcp:// DOCKER_HOST is not probed here: it counts as usable
 * with a bridge, and testcontainers says if it is not.
 */
export async function findEngine(): Promise<Engine | { readonly why: string }> {
  const socket = socketPath();
  if (socket === undefined) return { socket: process.env.DOCKER_HOST ?? '', bridge: true };
  try {
    const ping = await engineGet(socket, '/_ping');
    if (ping !== 200) return { why: `the Docker engine at ${socket} answered /_ping with HTTP ${ping}` };
    return { socket, bridge: (await engineGet(socket, '/networks/bridge')) === 200 };
  } catch (error) {
    return { why: `no Docker engine answers at ${socket} (${error instanceof Error ? error.message : String(error)})` };
  }
}

/** The images of `servers` the engine does not have (they are never pulled). */
export async function missingImages(engine: Engine, servers: readonly Server[]): Promise<string[]> {
  if (!engine.socket.startsWith('/')) return [];
  const missing: string[] = [];
  for (const server of servers) {
    const status = await engineGet(engine.socket, `/images/${encodeURIComponent(IMAGES[server])}/json`).catch(() => 0);
    if (status !== 200) missing.push(IMAGES[server]);
  }
  return missing;
}

/** A free TCP port on 127.0.0.1, never one of the local stack's. */
async function freePort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
      });
    });
    if (port > 0 && !RESERVED.has(port) && !taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
}

export function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

export interface StartedInfra {
  /** SAFE_POSTGRES_URL, SAFE_REDIS_URL, SAFE_KAFKA_BROKERS (and SAFE_JAEGER_* with Jaeger). */
  readonly env: Record<string, string>;
  /** Milliseconds from `start` to ready, per server. */
  readonly startMs: Partial<Record<Server, number>>;
  /** One line: what runs where. */
  readonly summary: string;
  stop(): Promise<void>;
}

interface Started {
  readonly env: Record<string, string>;
  readonly where: string;
  readonly ms: number;
  stop(): Promise<void>;
}

/**
 * Starts `servers` through testcontainers on `engine`, in parallel, and waits until each serves
 * (Postgres accepts connections, Redis answers PING, Kafka has registered its broker and made its
 * group and transaction coordinators, Jaeger's query API answers). A server that does not come up
 * stops the others and throws, with the end of its log.
 */
export async function startContainers(engine: Engine, servers: readonly Server[]): Promise<StartedInfra> {
  // testcontainers reads these when it is first used: no reaper (see the top of this file), and on an
  // engine without a bridge it cannot find a gateway, so it is told the host (it would look for
  // one because this machine is itself a container).
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  if (!engine.bridge) process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';
  const tc = await import('testcontainers');
  const client = await tc.getContainerRuntimeClient();
  await removeLeftovers(client);

  const taken = new Set<number>();
  const hostMode = !engine.bridge;
  const bind = hostMode ? '127.0.0.1' : '0.0.0.0';
  const host = hostMode ? '127.0.0.1' : client.info.containerRuntime.host;

  /** A container with our labels, on the host's network or with `ports` published at the same numbers. */
  const container = (server: Server, ports: number[]) => {
    let c = new tc.GenericContainer(IMAGES[server])
      .withLabels({ [LABEL]: server, [OWNER_LABEL]: String(process.pid) })
      .withAutoRemove(true)
      .withStartupTimeout(120_000);
    if (hostMode) c = c.withNetworkMode('host');
    else c = c.withExposedPorts(...ports.map((port) => ({ container: port, host: port })));
    return c;
  };

  const tailOf = async (c: { logs(): Promise<NodeJS.ReadableStream> }): Promise<string> => {
    let text = '';
    const stream = await c.logs().catch(() => undefined);
    if (stream === undefined) return '';
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      stream.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      stream.on('end', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return text.split('\n').slice(-20).join('\n');
  };

  const starters: Record<Server, () => Promise<Started>> = {
    postgres: async () => {
      const port = await freePort(taken);
      const t0 = Date.now();
      const c = await container('postgres', [port])
        // Trust, as the local stack's (the tests set passwords of their own and expect the server's
        // next answer, e.g. 3D000 for a database that does not exist): an hba file of our own.
        .withEnvironment({ POSTGRES_USER: 'safe', POSTGRES_PASSWORD: 'unused-with-trust', POSTGRES_DB: 'safe' })
        .withCopyContentToContainer([{ content: 'local all all trust\nhost all all all trust\n', target: '/tmp/pg_hba.conf', mode: 0o644 }])
        // As the local stack's (max_connections for the stack suite's 26 replicas), without the
        // durability a throw-away server does not need.
        .withCommand(
          [
            `port=${port}`,
            `listen_addresses=${bind}`,
            'max_connections=300',
            'fsync=off',
            'synchronous_commit=off',
            'full_page_writes=off',
            'timezone=UTC',
            'hba_file=/tmp/pg_hba.conf',
          ].flatMap((setting) => ['-c', setting]),
        )
        .withWaitStrategy(tc.Wait.forLogMessage(/database system is ready to accept connections/))
        .start();
      return {
        env: { SAFE_POSTGRES_URL: `postgres://safe@${host}:${port}/safe` },
        where: `${host}:${port}`,
        ms: Date.now() - t0,
        stop: () => c.stop().then(() => undefined),
      };
    },
    redis: async () => {
      const port = await freePort(taken);
      const t0 = Date.now();
      const c = await container('redis', [port])
        // As the stack's: the append-only file, so a restarted server still knows what was handled.
        .withCommand(['--port', String(port), '--bind', bind, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec'])
        .withWaitStrategy(tc.Wait.forLogMessage(/Ready to accept connections/))
        .start();
      return {
        env: { SAFE_REDIS_URL: `redis://${host}:${port}` },
        where: `${host}:${port}`,
        ms: Date.now() - t0,
        stop: () => c.stop().then(() => undefined),
      };
    },
    kafka: async () => {
      const port = await freePort(taken);
      const controller = hostMode ? await freePort(taken) : 9093;
      const t0 = Date.now();
      // The local stack's broker settings (scripts/stack/stack.sh), as apache/kafka-style KAFKA_* variables.
      const c = await container('kafka', [port])
        .withEnvironment({
          KAFKA_PROCESS_ROLES: 'broker,controller',
          KAFKA_NODE_ID: '1',
          KAFKA_CONTROLLER_QUORUM_VOTERS: `1@127.0.0.1:${controller}`,
          KAFKA_LISTENERS: `PLAINTEXT://${bind}:${port},CONTROLLER://127.0.0.1:${controller}`,
          KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://${host}:${port}`,
          KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
          KAFKA_INTER_BROKER_LISTENER_NAME: 'PLAINTEXT',
          KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
          KAFKA_LOG_DIRS: '/var/lib/kafka/data',
          KAFKA_NUM_PARTITIONS: '3',
          KAFKA_DEFAULT_REPLICATION_FACTOR: '1',
          KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
          KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
          KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS: '10',
          KAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS: '10',
          KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
          KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
          KAFKA_MIN_INSYNC_REPLICAS: '1',
          KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
          KAFKA_HEAP_OPTS: '-Xms256m -Xmx512m',
        })
        .withWaitStrategy(tc.Wait.forLogMessage(/Kafka Server started/))
        .start();
      // As `stack up`: the broker registered, and its group and transaction coordinators made now
      // rather than during the first test's consumer group join.
      const probe = await run(
        process.execPath,
        [join(ROOT, 'scripts', 'stack', 'kafka-ready.mjs'), host, String(port), '30000', '--coordinators'],
        40_000,
      );
      if (probe.code !== 0) {
        const tail = await tailOf(c);
        await c.stop().catch(() => undefined);
        throw new Error(`the Kafka container on ${host}:${port} is not ready: ${probe.output.trim()}\n${tail}`);
      }
      return {
        env: { SAFE_KAFKA_BROKERS: `${host}:${port}` },
        where: `${host}:${port}`,
        ms: Date.now() - t0,
        stop: () => c.stop({ timeout: 10_000 }).then(() => undefined),
      };
    },
    jaeger: async () => {
      const [grpc, http, query] = [await freePort(taken), await freePort(taken), await freePort(taken)];
      const t0 = Date.now();
      // Every other listener of all-in-one on an ephemeral port: on the host's network its defaults
      // would be the local stack's.
      const ephemeral = hostMode
        ? [
            'query.grpc-server.host-port',
            'admin.http.host-port',
            'collector.grpc-server.host-port',
            'collector.http-server.host-port',
            'http-server.host-port',
            'processor.jaeger-binary.server-host-port',
            'processor.jaeger-compact.server-host-port',
            'processor.zipkin-compact.server-host-port',
          ].map((flag) => `--${flag}=127.0.0.1:0`)
        : [];
      const c = await container('jaeger', [grpc, http, query])
        .withCommand([
          '--memory.max-traces=20000',
          '--collector.otlp.enabled=true',
          `--collector.otlp.grpc.host-port=${bind}:${grpc}`,
          `--collector.otlp.http.host-port=${bind}:${http}`,
          `--query.http-server.host-port=${bind}:${query}`,
          ...ephemeral,
        ])
        .withWaitStrategy(tc.Wait.forLogMessage(/Query server started/))
        .start();
      return {
        env: { SAFE_JAEGER_OTLP_ENDPOINT: `http://${host}:${http}`, SAFE_JAEGER_URL: `http://${host}:${query}` },
        where: `${host}:${query}`,
        ms: Date.now() - t0,
        stop: () => c.stop().then(() => undefined),
      };
    },
  };

  const results = await Promise.allSettled(servers.map((server) => starters[server]()));
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${servers[i]}: ${String(r.reason?.message ?? r.reason)}`] : []));
  const stop = async () => {
    await Promise.allSettled(started.map((s) => s.stop()));
  };
  if (failed.length > 0) {
    await stop();
    throw new Error(`testcontainers could not start ${failed.join('; ')}`);
  }
  const startMs: Partial<Record<Server, number>> = {};
  const env: Record<string, string> = {};
  servers.forEach((server, i) => {
    const s = started[i] as Started;
    startMs[server] = s.ms;
    Object.assign(env, s.env);
  });
  const network = hostMode ? 'host network, no bridge on this engine' : 'published ports';
  const summary = `testcontainers (${network}): ${servers
    .map((server, i) => `${IMAGES[server]} on ${(started[i] as Started).where} in ${((startMs[server] ?? 0) / 1000).toFixed(1)} s`)
    .join(', ')}`;
  return { env, startMs, summary, stop };
}

type RuntimeClient = Awaited<ReturnType<typeof import('testcontainers')['getContainerRuntimeClient']>>;

/** Our containers whose run is gone (killed before its teardown): Ryuk's job, done at the next start. */
async function removeLeftovers(client: RuntimeClient): Promise<void> {
  const containers = await client.container.list().catch(() => []);
  for (const info of containers) {
    const owner = Number(info.Labels?.[OWNER_LABEL]);
    if (info.Labels?.[LABEL] === undefined || !Number.isInteger(owner)) continue;
    if (owner === process.pid) continue;
    let alive = true;
    try {
      process.kill(owner, 0);
    } catch {
      alive = false;
    }
    if (alive) continue;
    await client.container.dockerode
      .getContainer(info.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
}
