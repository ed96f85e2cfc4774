import type { ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import {
  type ClientReplyValue,
  type Envelope,
  errorOfReply,
  fromWire,
  type Logger,
  PUBLIC_KEY_BYTES,
  ReplyStatus,
  SafeError,
  silentLogger,
  UnavailableError,
} from '@safe/core';
import { loadGateway } from './proto.js';
import { type GrpcServer, type GrpcService, startGrpcServer, traceFromMetadata, unaryHandler } from './server.js';

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

/** What the Gateway service needs of core's ClientGateway (a ClientGateway, or a stand-in while the replica starts). */
export interface GatewayCalls {
  call(envelope: Envelope, timeoutMs: number): Promise<ClientReplyValue>;
}

/** The Gateway service on its own, to host on a server with other services (see startGrpcServer). */
export interface GatewayServiceOptions {
  /** The entry replica's gateway every Send goes through. */
  readonly gateway: GatewayCalls;
  readonly info: () => NetworkInfo;
  /** Testnet only; without it AdoptVault answers UNIMPLEMENTED. */
  readonly adoptVault?: (maidPublicKey: Uint8Array) => AdoptedVault | Promise<AdoptedVault>;
  /** The longest a Send waits for the group's agreed answer (a shorter client deadline wins). */
  readonly callTimeoutMs: number;
  readonly logger?: Logger;
}

export interface GatewayServerOptions extends GatewayServiceOptions {
  readonly host: string;
  /** 0 binds an ephemeral port; `endpoint` says which. */
  readonly port: number;
  /** How long close() lets calls in progress finish before cancelling them (default 5000 ms). */
  readonly shutdownGraceMs?: number;
  /** Largest message either way (default 8 MiB: a Put or Get of the largest chunk with room to spare). */
  readonly maxMessageBytes?: number;
}

export interface GatewayServer extends GrpcServer {}

/** Milliseconds left before the client's deadline, if it set one. */
function remainingMs(call: ServerUnaryCall<unknown, unknown>): number | undefined {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (!Number.isFinite(at)) return undefined;
  return Math.max(0, at - Date.now());
}

/**
 * The client Gateway (proto safe.v1.Gateway). Every failure a client can cause becomes a status
 * through `toStatus`; nothing a client sends can throw out of a handler. On drain it answers new
 * Sends UNAVAILABLE (the client tries another entry) and waits for the calls it holds open.
 */
export function gatewayService(options: GatewayServiceOptions): GrpcService {
  const log = (options.logger ?? silentLogger).child({ component: 'grpc' });
  let draining = false;
  let open = 0;
  const wakeWhenIdle: (() => void)[] = [];

  const implementation: UntypedServiceImplementation = {
    Send: unaryHandler<unknown, { payload: Uint8Array }>(log, 'Send', async (request, call) => {
      if (draining) throw new UnavailableError('this entry node is shutting down; try another');
      if (request === null || typeof request !== 'object') throw new SafeError('invalid-argument', 'the request is not an Envelope');
      let envelope = fromWire(request as Parameters<typeof fromWire>[0]);
      // A client may pass its trace context as metadata instead of in the envelope (it is not signed either way).
      if (Object.keys(envelope.trace).length === 0) {
        const trace = traceFromMetadata(call.metadata);
        if (Object.keys(trace).length > 0) envelope = { ...envelope, trace };
      }
      const left = remainingMs(call);
      const timeoutMs = left === undefined ? options.callTimeoutMs : Math.min(options.callTimeoutMs, left);
      open++;
      try {
        const reply = await options.gateway.call(envelope, timeoutMs);
        if (reply.status !== ReplyStatus.OK) throw errorOfReply(reply);
        return { payload: reply.payload };
      } finally {
        if (--open === 0) for (const wake of wakeWhenIdle.splice(0)) wake();
      }
    }),
    Info: unaryHandler<unknown, NetworkInfo>(log, 'Info', async () => options.info()),
  };
  const adoptVault = options.adoptVault;
  if (adoptVault !== undefined) {
    implementation.AdoptVault = unaryHandler<{ maidPublicKey?: Uint8Array }, AdoptedVault>(log, 'AdoptVault', async (request) => {
      const key = request?.maidPublicKey;
      if (!(key instanceof Uint8Array) || key.length === 0) throw new SafeError('invalid-argument', 'maid_public_key is missing');
      if (key.length !== PUBLIC_KEY_BYTES) {
        throw new SafeError('invalid-argument', `maid_public_key must be ${PUBLIC_KEY_BYTES} bytes, got ${key.length}`);
      }
      return adoptVault(new Uint8Array(key));
    });
  }
  return {
    name: GATEWAY_SERVICE,
    definition: loadGateway().service,
    implementation,
    drain() {
      draining = true;
      if (open === 0) return Promise.resolve();
      log.info({ open }, 'waiting for open client calls');
      return new Promise((resolve) => {
        wakeWhenIdle.push(resolve);
      });
    },
  };
}

/** Serves the client Gateway and grpc.health.v1 on host:port (a server with no other service). */
export function startGatewayServer(options: GatewayServerOptions): Promise<GatewayServer> {
  return startGrpcServer({
    host: options.host,
    port: options.port,
    services: [gatewayService(options)],
    ...(options.shutdownGraceMs !== undefined ? { shutdownGraceMs: options.shutdownGraceMs } : {}),
    ...(options.maxMessageBytes !== undefined ? { maxMessageBytes: options.maxMessageBytes } : {}),
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
  });
}
