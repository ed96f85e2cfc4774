import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Metadata,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServiceDefinition,
  type sendUnaryData,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { asSafeError, type Logger, silentLogger, UnavailableError } from '@safe/core';
import { HealthImplementation } from 'grpc-health-check';
import { toStatus } from './status.js';

/** One gRPC service a server hosts, named as grpc.health.v1 reports it (e.g. `safe.v1.Gateway`). */
export interface GrpcService {
  readonly name: string;
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
  /**
   * The first step of close(), while the server still serves every service: refuse new work of
   * this service and resolve once the work in progress is done (close() stops waiting at the grace
   * period). The Gateway waits here for its open client calls, whose answers arrive as direct
   * messages on the Node service of the same server.
   */
  drain?(): Promise<void>;
  /** After every service drained: ends this service's long-lived calls, which would hold the server open. */
  stop?(): void;
}

export interface GrpcServerOptions {
  readonly host: string;
  /** 0 binds an ephemeral port; `endpoint` says which. */
  readonly port: number;
  readonly services: readonly GrpcService[];
  /** How long close() lets work in progress finish before cancelling it (default 5000 ms). */
  readonly shutdownGraceMs?: number;
  /** Largest message either way (default 8 MiB: a Put or Get of the largest chunk with room to spare). */
  readonly maxMessageBytes?: number;
  /** Report SERVING on grpc.health.v1 as soon as the port is bound (default true); else call setServing(true) later. */
  readonly servingAtStart?: boolean;
  readonly logger?: Logger;
}

export interface GrpcServer {
  /** host:port actually bound. */
  readonly endpoint: string;
  /** SERVING or NOT_SERVING on grpc.health.v1, for the server and every service (ignored once closing). */
  setServing(serving: boolean): void;
  /**
   * NOT_SERVING on grpc.health.v1 for the server and every service, then each service drains
   * (the Gateway answers new calls UNAVAILABLE and waits for those open), then the server stops
   * taking calls and lets those in progress finish; whatever is left at the grace period is
   * cancelled. Idempotent.
   */
  close(): Promise<void>;
}

export const DEFAULT_GRACE_MS = 5000;
export const DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

export type Unary<Req, Res> = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

/** The W3C trace-context keys that travel as gRPC metadata (and in an envelope's `trace`). */
export const TRACE_KEYS = ['traceparent', 'tracestate', 'baggage'] as const;

/** The trace context a caller put in gRPC metadata (for an envelope that carries none itself). */
export function traceFromMetadata(metadata: Metadata): Record<string, string> {
  const trace: Record<string, string> = {};
  for (const key of TRACE_KEYS) {
    const [value] = metadata.get(key);
    if (typeof value === 'string' && value !== '') trace[key] = value;
  }
  return trace;
}

/** host:port, with brackets around an IPv6 host. */
export function formatEndpoint(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Runs a handler body; whatever it throws is answered as a status through `toStatus`, never thrown on. */
export function unaryHandler<Req, Res>(
  log: Logger,
  method: string,
  body: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
): Unary<Req, Res> {
  return (call, callback) => {
    const started = Date.now();
    let body$: Promise<Res>;
    try {
      body$ = body(call.request, call);
    } catch (error) {
      body$ = Promise.reject(error);
    }
    body$.then(
      (reply) => {
        log.debug({ method, ms: Date.now() - started }, 'ok');
        callback(null, reply);
      },
      (error: unknown) => {
        const safe = asSafeError(error, `${method} failed`);
        if (safe.kind === 'internal') log.error({ method, err: safe.message }, 'call failed');
        else log.debug({ method, kind: safe.kind, err: safe.message }, 'call refused');
        callback(toStatus(safe), null);
      },
    );
  };
}

/** Serves `services` and grpc.health.v1 on host:port. */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const log = (options.logger ?? silentLogger).child({ component: 'grpc' });
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const server = new Server({
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
  });
  for (const service of options.services) server.addService(service.definition, service.implementation);
  const names = ['', ...options.services.map((s) => s.name)];
  const health = new HealthImplementation(Object.fromEntries(names.map((name) => [name, 'NOT_SERVING'])));
  health.addToServer(server);

  const requested = formatEndpoint(options.host, options.port);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(requested, ServerCredentials.createInsecure(), (error, bound) => {
      if (error) {
        const inUse = /EADDRINUSE|address already in use/i.test(error.message);
        const message = inUse
          ? `cannot listen on ${requested}: the port is already in use`
          : `cannot listen on ${requested}: ${error.message}`;
        reject(new UnavailableError(message, { cause: error }));
      } else resolve(bound);
    });
  }).catch((error: unknown) => {
    server.forceShutdown();
    throw error;
  });
  let closing: Promise<void> | undefined;
  const setServing = (serving: boolean) => {
    if (closing !== undefined) return;
    for (const name of names) health.setStatus(name, serving ? 'SERVING' : 'NOT_SERVING');
  };
  setServing(options.servingAtStart ?? true);
  const endpoint = formatEndpoint(options.host, port);
  log.info({ endpoint, services: options.services.map((s) => s.name) }, 'grpc listening');

  const graceMs = options.shutdownGraceMs ?? DEFAULT_GRACE_MS;
  async function shutdown(): Promise<void> {
    const deadline = Date.now() + graceMs;
    for (const name of names) health.setStatus(name, 'NOT_SERVING');
    const drains = options.services.flatMap((s) => (s.drain ? [s.drain()] : []));
    if (drains.length > 0) {
      const drained = await Promise.race([
        Promise.all(drains).then(() => true),
        sleep(graceMs, undefined, { ref: false }).then(() => false),
      ]);
      if (!drained) log.warn({ graceMs }, 'client calls still open after the grace period');
    }
    for (const service of options.services) service.stop?.();
    await new Promise<void>((resolve) => {
      // Whatever is left at the deadline (at least a moment for calls already answered) is cancelled.
      const force = setTimeout(
        () => {
          log.warn({ graceMs }, 'calls still open after the grace period; cancelling them');
          server.forceShutdown();
          resolve();
        },
        Math.max(50, deadline - Date.now()),
      );
      force.unref();
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    log.info({ endpoint }, 'grpc closed');
  }

  return {
    endpoint,
    setServing,
    close() {
      closing ??= shutdown();
      return closing;
    },
  };
}
