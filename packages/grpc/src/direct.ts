import { type Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  type Address,
  type Envelope,
  fromWire,
  type Logger,
  MalformedEnvelopeError,
  SafeError,
  shortName,
  silentLogger,
  type Transport,
  toWire,
} from '@safe/core';
import { loadNode } from './proto.js';
import { DEFAULT_MAX_MESSAGE_BYTES, type GrpcService, TRACE_KEYS, traceFromMetadata, unaryHandler } from './server.js';

/** The gRPC service name of direct messages, as the health service knows it. */
export const NODE_SERVICE = 'safe.v1.Node';

export interface NodeServiceOptions {
  /**
   * Hands a decoded copy to the replica (`replica.receive`). Deliver answers as soon as this is
   * called, not when the copy is handled: a direct message is a datagram, and a sender must never
   * wait on a receiver's queue (two replicas sending to each other would wait on each other).
   */
  deliver(envelope: Envelope): unknown;
  readonly logger?: Logger;
}

/** Direct messages in (proto safe.v1.Node): decoded, shape-checked, handed to the replica, acknowledged. */
export function nodeService(options: NodeServiceOptions): GrpcService {
  const log = (options.logger ?? silentLogger).child({ component: 'grpc' });
  return {
    name: NODE_SERVICE,
    definition: loadNode().service,
    implementation: {
      Deliver: unaryHandler<unknown, object>(log, 'Deliver', async (request, call) => {
        if (request === null || typeof request !== 'object') throw new MalformedEnvelopeError('the request is not an Envelope');
        let envelope = fromWire(request as Parameters<typeof fromWire>[0]);
        if (envelope.scope !== 'node') {
          throw new SafeError('invalid-argument', `${envelope.type} is a group message: it travels on the group bus, not to one node`);
        }
        if (Object.keys(envelope.trace).length === 0) {
          const trace = traceFromMetadata(call.metadata);
          if (Object.keys(trace).length > 0) envelope = { ...envelope, trace };
        }
        try {
          Promise.resolve(options.deliver(envelope)).catch((error: unknown) =>
            log.warn({ type: envelope.type, err: error instanceof Error ? error.message : String(error) }, 'direct message failed'),
          );
        } catch (error) {
          log.warn({ type: envelope.type, err: error instanceof Error ? error.message : String(error) }, 'direct message failed');
        }
        return {};
      }),
    },
  };
}

export interface DirectTransportOptions {
  /** The endpoint (`host:port`) of the node a node-scoped message names; undefined when the view has none. */
  resolve(destination: Address): string | undefined;
  /** Deadline of one Deliver call (default 5000 ms). */
  readonly deadlineMs?: number;
  /** Largest message (default 8 MiB). */
  readonly maxMessageBytes?: number;
  readonly logger?: Logger;
  /** Told about every copy that did not arrive (for a counter); `reason` is short and stable. */
  onDropped?(envelope: Envelope, reason: 'no-endpoint' | 'not-node-scoped' | 'closed' | 'failed'): void;
}

const DEFAULT_DEADLINE_MS = 5000;

type Callback = (error: ServiceError | null) => void;
type DeliverMethod = (request: unknown, metadata: Metadata, options: { deadline: Date }, callback: Callback) => unknown;

/**
 * Direct messages out: one gRPC channel per endpoint, reused for every message to it. `send`
 * starts the call and returns at once; a copy that cannot be delivered (no endpoint in the view,
 * the node is gone, the deadline passed) is logged and dropped like a lost datagram and never
 * thrown into the runtime — groups send K copies, and sync entries are re-sent by the runtime.
 * The envelope's trace context also travels as gRPC metadata.
 */
export class DirectTransport implements Transport {
  readonly #options: DirectTransportOptions;
  readonly #log: Logger;
  readonly #deadlineMs: number;
  readonly #clients = new Map<string, Client>();
  readonly #inFlight = new Set<Promise<void>>();
  #closed = false;

  constructor(options: DirectTransportOptions) {
    this.#options = options;
    this.#log = (options.logger ?? silentLogger).child({ component: 'direct' });
    this.#deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  }

  /** Calls not yet answered. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Endpoints with an open channel. */
  get endpoints(): string[] {
    return [...this.#clients.keys()];
  }

  send(envelope: Envelope): void {
    if (this.#closed) {
      this.#drop(envelope, 'closed', 'the transport is closed');
      return;
    }
    if (envelope.scope !== 'node') {
      this.#drop(envelope, 'not-node-scoped', 'a group message cannot go to one node');
      return;
    }
    const endpoint = this.#options.resolve(envelope.destination);
    if (endpoint === undefined) {
      this.#drop(envelope, 'no-endpoint', 'the routing view has no endpoint for it');
      return;
    }
    const metadata = new Metadata();
    for (const key of TRACE_KEYS) {
      const value = envelope.trace[key];
      if (value !== undefined && value !== '') metadata.set(key, value);
    }
    const client = this.#client(endpoint);
    const deliver = (client as unknown as { Deliver: DeliverMethod }).Deliver;
    const call = new Promise<void>((resolve) => {
      try {
        deliver.call(client, toWire(envelope), metadata, { deadline: new Date(Date.now() + this.#deadlineMs) }, (error) => {
          if (error) this.#drop(envelope, 'failed', `${error.code} ${error.details || error.message}`, endpoint);
          resolve();
        });
      } catch (error) {
        this.#drop(envelope, 'failed', error instanceof Error ? error.message : String(error), endpoint);
        resolve();
      }
    });
    this.#inFlight.add(call);
    void call.then(() => this.#inFlight.delete(call));
  }

  /** Closes channels to endpoints not in `endpoints` (nodes that left the view). */
  retain(endpoints: Iterable<string>): void {
    const keep = new Set(endpoints);
    for (const [endpoint, client] of this.#clients) {
      if (keep.has(endpoint)) continue;
      client.close();
      this.#clients.delete(endpoint);
    }
  }

  /** Waits up to `graceMs` for calls in progress, then closes every channel; later sends are dropped. Idempotent. */
  async close(graceMs = this.#deadlineMs): Promise<void> {
    this.#closed = true;
    if (this.#inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(this.#inFlight),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
    }
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }

  #client(endpoint: string): Client {
    let client = this.#clients.get(endpoint);
    if (client === undefined) {
      const { Client: NodeClient } = loadNodeOnce();
      const max = this.#options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
      client = new NodeClient(endpoint, credentials.createInsecure(), {
        'grpc.max_receive_message_length': max,
        'grpc.max_send_message_length': max,
      });
      this.#clients.set(endpoint, client);
    }
    return client;
  }

  #drop(envelope: Envelope, reason: 'no-endpoint' | 'not-node-scoped' | 'closed' | 'failed', detail: string, endpoint?: string): void {
    this.#log.warn(
      {
        type: envelope.type,
        to: `${envelope.destination.persona}/${shortName(envelope.destination.nae)}`,
        ...(endpoint !== undefined ? { endpoint } : {}),
        reason,
        err: detail,
      },
      'direct message dropped',
    );
    this.#options.onDropped?.(envelope, reason);
  }
}

let nodeClient: ReturnType<typeof loadNode> | undefined;
function loadNodeOnce(): ReturnType<typeof loadNode> {
  nodeClient ??= loadNode();
  return nodeClient;
}
