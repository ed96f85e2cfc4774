import { resolve } from 'node:path';
import {
  type ClientGateway,
  type ClientReplyValue,
  type Envelope,
  type PersonaName,
  REPORT_ORDER,
  RoutingTable,
  replyStatusName,
  toHex,
  UnavailableError,
} from '@safe/core';
import { formatEndpoint, type GrpcServer, type GrpcService, gatewayService, nodeService, startGrpcServer } from '@safe/grpc';
import { testnetAdoptVault } from './adopt-vault.js';
import { advertisedHost } from './config.js';
import { handleDirect } from './direct-retry.js';
import type { CurrentView, StartContext } from './replica-context.js';
import type { PendingReplica } from './start-consumer.js';
import { startStep } from './start-step.js';
import type { CopyTraces, OtelTelemetry } from './telemetry.js';

/** A MaidManager replica is an entry: it serves the client Gateway. */
export interface EntryOptions {
  /** The client message types the network takes, and the persona each goes to. */
  readonly clientMessageTypes: ReadonlyMap<string, PersonaName>;
  /** What Info reports as the largest chunk. */
  readonly maxChunkSize: number;
  /** Largest gRPC message either way (default 8 MiB). */
  readonly maxMessageBytes?: number;
}

export interface GrpcDeps<S> {
  readonly telemetry: OtelTelemetry;
  readonly copies: CopyTraces;
  readonly replica: PendingReplica<S>;
  readonly view: CurrentView;
  /** The client Gateway of an entry; undefined until the replica exists (calls are refused as still starting). */
  readonly gateway: () => ClientGateway | undefined;
  readonly entry: EntryOptions | undefined;
}

export interface StartedGrpc {
  readonly server: GrpcServer;
  /** host:port others dial (announced in the membership). */
  readonly endpoint: string;
}

/** A Postgres or Redis restart, a Kafka leader election: what a direct copy is retried through. */
const DIRECT_RETRY_MS = 60_000;

/** gRPC: the Node service always; the Gateway on an entry. Not serving until the replica is ready. */
export async function startGrpc<S>(context: StartContext, deps: GrpcDeps<S>): Promise<StartedGrpc> {
  const { config, log, cleanup } = context;
  const stopping = new AbortController();
  cleanup.defer('grpc', () => stopping.abort());
  const services: GrpcService[] = [
    nodeService({
      logger: log,
      deliver: async (envelope) => {
        const target = await deps.replica.promise;
        const handle = () => deps.copies.deliver(envelope, (e) => target.receive(e));
        const result = await handleDirect(envelope, handle, { forMs: DIRECT_RETRY_MS, signal: stopping.signal, log });
        if (typeof result !== 'string') log.debug({ type: envelope.type, kind: result.rejected.kind }, 'direct copy rejected');
      },
    }),
  ];
  if (deps.entry !== undefined) services.push(entryGateway(context, deps, deps.entry));
  const server = await startStep('gRPC server', config.connectTimeoutMs, () =>
    startGrpcServer({
      host: config.grpcHost,
      port: config.grpcPort,
      services,
      servingAtStart: false,
      shutdownGraceMs: config.shutdownGraceMs,
      ...(deps.entry?.maxMessageBytes !== undefined ? { maxMessageBytes: deps.entry.maxMessageBytes } : {}),
      logger: log,
    }),
  );
  cleanup.deferStep('grpc', 'closing gRPC', () => server.close());
  const boundPort = Number(server.endpoint.slice(server.endpoint.lastIndexOf(':') + 1));
  return { server, endpoint: formatEndpoint(advertisedHost(config), boundPort) };
}

function entryGateway<S>(context: StartContext, deps: GrpcDeps<S>, entry: EntryOptions): GrpcService {
  const { config, persona, log } = context;
  const { telemetry, view } = deps;
  const adoptDir = config.adoptVaultKeysDir;
  const service = gatewayService({
    logger: log,
    callTimeoutMs: config.callTimeoutMs,
    gateway: {
      /**
       * One trace per client request: the entry's span (a child of the client's context, if it
       * sent one) goes on the forwarded envelope, so every member of the group handles the
       * request under it, and everything downstream follows.
       */
      async call(envelope: Envelope, timeoutMs: number): Promise<ClientReplyValue> {
        const gateway = deps.gateway();
        if (gateway === undefined) throw new UnavailableError('this entry node is still starting');
        const span = telemetry.startSpan(`${persona} Gateway.Send ${envelope.type}`, envelope.trace, [], 'server');
        span.setAttribute('safe.nae', toHex(envelope.destination.nae).slice(0, 16));
        span.setAttribute('safe.destination', envelope.destination.persona);
        if (envelope.contentDigest !== undefined) span.setAttribute('safe.chunk', toHex(envelope.contentDigest));
        try {
          const reply = await gateway.call({ ...envelope, trace: { ...envelope.trace, ...span.context() } }, timeoutMs);
          span.setAttribute('safe.reply.status', replyStatusName(reply.status));
          span.end();
          return reply;
        } catch (error) {
          span.end(error);
          throw error;
        }
      },
    },
    info: () => ({
      closeGroupSize: config.closeGroupSize,
      maxChunkSize: entry.maxChunkSize,
      personas: REPORT_ORDER.map((p) => ({ persona: p, replicas: view.latest?.view(p).size ?? 0 })),
    }),
    ...(adoptDir !== ''
      ? {
          adoptVault: testnetAdoptVault(resolve(adoptDir), () => view.latest ?? new RoutingTable(), log),
        }
      : {}),
  });
  if (adoptDir !== '') log.warn({ dir: resolve(adoptDir) }, 'TESTNET ONLY: AdoptVault signs with the PmidNode keys in this directory');
  return service;
}
