import { PERSONAS, type RoutingTable, toHex, UnavailableError } from '@safe/core';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import type { MetricsRegistry } from './metrics.js';

type Check = () => boolean | Promise<boolean>;

export type Phase = 'starting' | 'ready' | 'stopping';

export interface ReadinessReport {
  readonly ready: boolean;
  /** Why not, one reason per unmet condition, in the order they were required. */
  readonly waiting: string[];
}

/**
 * What /readyz answers: ready only while the process is in its `ready` phase and every required
 * condition holds (connected to Postgres, Redis and Kafka; the membership view includes this
 * node). A check that throws or takes longer than the probe's budget counts as unmet.
 */
export class Readiness {
  readonly #conditions: { name: string; reason: string; check: Check }[] = [];
  #phase: Phase = 'starting';

  get phase(): Phase {
    return this.#phase;
  }

  /** `reason` is what /readyz lists while `check` fails (e.g. "postgres: not connected"). */
  require(name: string, reason: string, check: Check): void {
    const existing = this.#conditions.findIndex((c) => c.name === name);
    if (existing >= 0) this.#conditions.splice(existing, 1);
    this.#conditions.push({ name, reason, check });
  }

  /** `stopping` is final: a shutdown never becomes ready again. */
  setPhase(phase: Phase): void {
    if (this.#phase === 'stopping') return;
    this.#phase = phase;
  }

  async evaluate(timeoutMs = 1000): Promise<ReadinessReport> {
    const waiting: string[] = [];
    if (this.#phase === 'starting') waiting.push('starting');
    if (this.#phase === 'stopping') waiting.push('shutting down');
    const results = await Promise.all(this.#conditions.map(({ check }) => within(check, timeoutMs)));
    this.#conditions.forEach((condition, i) => {
      if (!results[i]) waiting.push(condition.reason);
    });
    return { ready: waiting.length === 0, waiting };
  }
}

async function within(check: Check, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve()
        .then(check)
        .catch(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
        timer.unref();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export interface AdminOptions {
  readonly logger: PinoLogger;
  readonly metrics: MetricsRegistry;
  readonly readiness: Readiness;
  /** Budget of one /readyz evaluation (default 1000 ms). */
  readonly probeTimeoutMs?: number;
  /** The membership view /members reports; undefined until the replica has one (503 then). No /members without it. */
  readonly members?: () => RoutingTable | undefined;
}

/** What GET /members answers: the members of each persona in this replica's membership view. */
export interface MembersReport {
  /** Every persona, with the node names (hex) of its members as this replica sees them. */
  readonly members: Readonly<Record<string, readonly string[]>>;
}

export function membersReport(routing: RoutingTable): MembersReport {
  return {
    members: Object.fromEntries(
      PERSONAS.map((persona) => [
        persona,
        routing
          .view(persona)
          .names()
          .map((name) => toHex(name)),
      ]),
    ),
  };
}

/**
 * The admin HTTP server (fastify, logging through the process's pino logger):
 * - GET /healthz: 200 while the process runs (liveness);
 * - GET /readyz: 200 {ready:true} when ready, else 503 {ready:false, waiting:[reasons]};
 * - GET /metrics: Prometheus text (safe_messages_total{persona,type,result}, process_*, ...);
 * - GET /members: the membership view as JSON (MembersReport); 503 {waiting:'membership'} until there is one.
 * Built, not listening: `listenAdmin` binds it; tests use `inject`.
 */
export function buildAdminServer(options: AdminOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger.child({ component: 'admin' }) as FastifyBaseLogger,
    // Probes and scrapes come every few seconds: requests are logged at debug (below), not info.
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: reply.elapsedTime }, 'admin request');
  });
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_request, reply) => {
    const report = await options.readiness.evaluate(options.probeTimeoutMs);
    if (report.ready) return { ready: true };
    return reply.code(503).send({ ready: false, waiting: report.waiting });
  });
  app.get('/metrics', async (_request, reply) => {
    return reply.type(options.metrics.contentType).send(await options.metrics.render());
  });
  const members = options.members;
  if (members !== undefined) {
    app.get('/members', async (_request, reply) => {
      const routing = members();
      if (routing === undefined) return reply.code(503).send({ waiting: 'membership' });
      return membersReport(routing);
    });
  }
  return app;
}

/** Listens on host:port (0 = any free port); returns the bound `host:port`. */
export async function listenAdmin(app: FastifyInstance, host: string, port: number): Promise<string> {
  try {
    await app.listen({ host, port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'the port is already in use' : (error as Error).message;
    throw new UnavailableError(`admin server cannot listen on ${host}:${port}: ${why}`, { cause: error });
  }
  const address = app.server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  return host.includes(':') ? `[${host}]:${bound}` : `${host}:${bound}`;
}
