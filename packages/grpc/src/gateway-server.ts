import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData, type UntypedServiceImplementation } from '@grpc/grpc-js';
import {
  asSafeError,
  type ClientGateway,
  errorOfReply,
  fromWire,
  type Logger,
  SafeError,
  silentLogger,
  UnavailableError,
} from '@safe/core';
import { HealthImplementation } from 'grpc-health-check';
import { loadGateway } from './proto.js';
import { toStatus } from './status.js';

/** The gRPC service name of the client Gateway, as the health service knows it. */
export const GATEWAY_SERVICE = 'safe.v1.Gateway';

/** What a Gateway says about its network (proto safe.v1.NetworkInfo). */
export interface NetworkInfo {
  readonly closeGroupSize: number;
  readonly maxChunkSize: number;
  readonly personas: readonly { readonly persona: string; readonly replicas: number }[];
}

/** The PMID half of a vault registration (proto safe.v1.AdoptVaultReply). */
export interface AdoptedVault {
  readonly pmidPublicKey: Uint8Array;
  readonly pmidSignature: Uint8Array;
}

export interface GatewayServerOptions {
  /** The entry replica's gateway every Send goes through. */
  readonly gateway: ClientGateway;
  readonly host: string;
  /** 0 binds an ephemeral port; `endpoint` says which. */
  readonly port: number;
  readonly info: () => NetworkInfo;
  /** Testnet only; without it AdoptVault answers UNIMPLEMENTED. */
  readonly adoptVault?: (maidPublicKey: Uint8Array) => AdoptedVault | Promise<AdoptedVault>;
  /** The longest a Send waits for the group's agreed answer (a shorter client deadline wins). */
  readonly callTimeoutMs: number;
  /** How long close() lets calls in progress finish before cancelling them (default 5000 ms). */
  readonly shutdownGraceMs?: number;
  /** Largest message either way (default 8 MiB: a Put or Get of the largest chunk with room to spare). */
  readonly maxMessageBytes?: number;
  readonly logger?: Logger;
}

export interface GatewayServer {
  /** host:port actually bound. */
  readonly endpoint: string;
  /** NOT_SERVING, then drain calls in progress for the grace period, then cancel the rest. Idempotent. */
  close(): Promise<void>;
}

const DEFAULT_GRACE_MS = 5000;
const DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

type Unary<Req, Res> = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

/** host:port, with brackets around an IPv6 host. */
export function formatEndpoint(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Milliseconds left before the client's deadline, if it set one. */
function remainingMs(call: ServerUnaryCall<unknown, unknown>): number | undefined {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (!Number.isFinite(at)) return undefined;
  return Math.max(0, at - Date.now());
}

/**
 * Serves the client Gateway (proto safe.v1.Gateway) and grpc.health.v1 on host:port. Every
 * failure a client can cause becomes a status through `toStatus`; nothing a client sends can
 * throw out of a handler.
 */
export async function startGatewayServer(options: GatewayServerOptions): Promise<GatewayServer> {
  const log = (options.logger ?? silentLogger).child({ component: 'grpc' });
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const server = new Server({
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
  });

  /** Runs a handler body; whatever it throws is answered as a status, never thrown on. */
  function unary<Req, Res>(method: string, body: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>): Unary<Req, Res> {
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

  const implementation: UntypedServiceImplementation = {
    Send: unary<unknown, { payload: Uint8Array }>('Send', async (request, call) => {
      if (request === null || typeof request !== 'object') throw new SafeError('invalid-argument', 'the request is not an Envelope');
      const envelope = fromWire(request as Parameters<typeof fromWire>[0]);
      const left = remainingMs(call);
      const timeoutMs = left === undefined ? options.callTimeoutMs : Math.min(options.callTimeoutMs, left);
      const reply = await options.gateway.call(envelope, timeoutMs);
      if (reply.status !== 'OK') throw errorOfReply(reply);
      return { payload: reply.payload };
    }),
    Info: unary<unknown, NetworkInfo>('Info', async () => options.info()),
  };
  const adoptVault = options.adoptVault;
  if (adoptVault !== undefined) {
    implementation.AdoptVault = unary<{ maidPublicKey?: Uint8Array }, AdoptedVault>('AdoptVault', async (request) => {
      const key = request?.maidPublicKey;
      if (!(key instanceof Uint8Array) || key.length === 0) throw new SafeError('invalid-argument', 'maid_public_key is missing');
      return adoptVault(new Uint8Array(key));
    });
  }
  server.addService(loadGateway().service, implementation);

  const health = new HealthImplementation({ '': 'NOT_SERVING', [GATEWAY_SERVICE]: 'NOT_SERVING' });
  health.addToServer(server);

  const requested = formatEndpoint(options.host, options.port);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(requested, ServerCredentials.createInsecure(), (error, bound) => {
      if (error) {
        const inUse = /EADDRINUSE|address already in use/i.test(error.message);
        reject(
          new UnavailableError(
            inUse ? `cannot listen on ${requested}: the port is already in use` : `cannot listen on ${requested}: ${error.message}`,
            {
              cause: error,
            },
          ),
        );
      } else resolve(bound);
    });
  }).catch((error: unknown) => {
    server.forceShutdown();
    throw error;
  });
  health.setStatus('', 'SERVING');
  health.setStatus(GATEWAY_SERVICE, 'SERVING');
  const endpoint = formatEndpoint(options.host, port);
  log.info({ endpoint }, 'gateway listening');

  let closing: Promise<void> | undefined;
  const graceMs = options.shutdownGraceMs ?? DEFAULT_GRACE_MS;
  return {
    endpoint,
    close() {
      closing ??= new Promise<void>((resolve) => {
        health.setStatus('', 'NOT_SERVING');
        health.setStatus(GATEWAY_SERVICE, 'NOT_SERVING');
        const force = setTimeout(() => {
          log.warn({ graceMs }, 'calls still open after the grace period; cancelling them');
          server.forceShutdown();
          resolve();
        }, graceMs);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }).then(() => log.info({ endpoint }, 'gateway closed'));
      return closing;
    },
  };
}
