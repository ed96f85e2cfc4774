import {
  type Client,
  type ClientWritableStream,
  credentials,
  Metadata,
  type ServerReadableStream,
  type ServiceError,
  type sendUnaryData,
} from '@grpc/grpc-js';
import {
  type Address,
  asSafeError,
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
import { DEFAULT_MAX_MESSAGE_BYTES, type GrpcService, traceFromMetadata, unaryHandler } from './server.js';

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
export function nodeService(options: NodeServiceOptions): GrpcService & { readonly openStreams: number } {
  const log = (options.logger ?? silentLogger).child({ component: 'grpc' });
  const streams = new Set<() => void>();
  const accept = (request: unknown, fallbackTrace: () => Record<string, string>): void => {
    if (request === null || typeof request !== 'object') throw new MalformedEnvelopeError('the request is not an Envelope');
    let envelope = fromWire(request as Parameters<typeof fromWire>[0]);
    if (envelope.scope !== 'node') {
      throw new SafeError('invalid-argument', `${envelope.type} is a group message: it travels on the group bus, not to one node`);
    }
    if (Object.keys(envelope.trace).length === 0) {
      const trace = fallbackTrace();
      if (Object.keys(trace).length > 0) envelope = { ...envelope, trace };
    }
    const failed = (error: unknown) =>
      log.warn({ type: envelope.type, err: error instanceof Error ? error.message : String(error) }, 'direct message failed');
    try {
      Promise.resolve(options.deliver(envelope)).catch(failed);
    } catch (error) {
      failed(error);
    }
  };
  const stream = (call: ServerReadableStream<unknown, object>, callback: sendUnaryData<object>): void => {
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      streams.delete(end);
      callback(null, {});
    };
    streams.add(end);
    // Tells the sender the stream is up: copies it wrote before this did not reach this node.
    call.sendMetadata(new Metadata());
    call.on('data', (request: unknown) => {
      try {
        accept(request, () => ({}));
      } catch (error) {
        const safe = asSafeError(error, 'Stream failed');
        log.debug({ method: 'Stream', kind: safe.kind, err: safe.message }, 'direct copy refused');
      }
    });
    call.on('end', end);
    call.on('error', () => {
      ended = true;
      streams.delete(end);
    });
  };
  return {
    name: NODE_SERVICE,
    definition: loadNode().service,
    implementation: {
      Deliver: unaryHandler<unknown, object>(log, 'Deliver', async (request, call) => {
        accept(request, () => traceFromMetadata(call.metadata));
        return {};
      }),
      Stream: stream,
    },
    // After the Gateway's open calls were answered (through these streams): senders reopen elsewhere.
    stop() {
      for (const end of [...streams]) end();
    },
    get openStreams() {
      return streams.size;
    },
  };
}

export interface DirectTransportOptions {
  /** The endpoint (`host:port`) of the node a node-scoped message names; undefined when the view has none. */
  resolve(destination: Address): string | undefined;
  /** How long a copy may wait to be sent on a node's stream (not connected yet, or backed up) before the stream is given up (default 5000 ms). */
  readonly deadlineMs?: number;
  /** Largest message (default 8 MiB). */
  readonly maxMessageBytes?: number;
  /** Bytes that may wait on one node's stream; a copy beyond it is dropped (default 64 MiB). */
  readonly maxWaitingBytes?: number;
  readonly logger?: Logger;
  /** Told about every copy that did not arrive (for a counter); `reason` is short and stable. */
  onDropped?(envelope: Envelope, reason: DropReason): void;
}

export type DropReason = 'no-endpoint' | 'not-node-scoped' | 'closed' | 'failed';

const DEFAULT_DEADLINE_MS = 5000;
const DEFAULT_MAX_WAITING_BYTES = 64 * 1024 * 1024;
/** What a copy adds to a stream's waiting bytes beyond its payload and content (envelope fields, framing). */
const ENVELOPE_OVERHEAD_BYTES = 512;

interface Waiting {
  readonly envelope: Envelope;
  readonly at: number;
  readonly bytes: number;
  /** HTTP/2 took it; before the node answered the call, that says nothing about arrival. */
  written: boolean;
  settled: boolean;
}

/**
 * One long-lived Stream call to a node, and the copies that wait on it: not yet taken by HTTP/2,
 * or written before the node answered the call (they are lost if it never does).
 */
interface NodeStream {
  readonly endpoint: string;
  readonly client: Client;
  readonly call: ClientWritableStream<unknown>;
  readonly waiting: Waiting[];
  waitingBytes: number;
  answered: boolean;
  timer: NodeJS.Timeout | undefined;
  ended: boolean;
}

type StreamMethod = (callback: (error: ServiceError | null) => void) => ClientWritableStream<unknown>;

/**
 * Direct messages out: one channel and one long-lived Stream call per endpoint, reused for every
 * message to it. `send` writes the copy and returns at once; a copy that cannot be delivered (no
 * endpoint in the view, the node is gone, its stream backed up past the deadline) is logged and
 * dropped like a lost datagram and never thrown into the runtime — groups send K copies, and sync
 * entries are re-sent by the runtime. A copy carries its trace context in the envelope.
 */
export class DirectTransport implements Transport {
  readonly #options: DirectTransportOptions;
  readonly #log: Logger;
  readonly #deadlineMs: number;
  readonly #maxWaitingBytes: number;
  readonly #streams = new Map<string, NodeStream>();
  readonly #flushed = new Set<() => void>();
  #closed = false;

  constructor(options: DirectTransportOptions) {
    this.#options = options;
    this.#log = (options.logger ?? silentLogger).child({ component: 'direct' });
    this.#deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.#maxWaitingBytes = options.maxWaitingBytes ?? DEFAULT_MAX_WAITING_BYTES;
  }

  /** Copies written but not yet taken by HTTP/2. */
  get inFlight(): number {
    let count = 0;
    for (const stream of this.#streams.values()) count += stream.waiting.length;
    return count;
  }

  /** Endpoints with an open channel. */
  get endpoints(): string[] {
    return [...this.#streams.keys()];
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
    let stream: NodeStream;
    try {
      stream = this.#stream(endpoint);
    } catch (error) {
      this.#drop(envelope, 'failed', error instanceof Error ? error.message : String(error), endpoint);
      return;
    }
    const bytes = envelope.payload.length + (envelope.content?.length ?? 0) + ENVELOPE_OVERHEAD_BYTES;
    if (stream.waiting.length > 0 && stream.waitingBytes + bytes > this.#maxWaitingBytes) {
      this.#drop(envelope, 'failed', `${stream.waitingBytes} bytes already wait on the stream to the node`, endpoint);
      return;
    }
    const entry: Waiting = { envelope, at: Date.now(), bytes, written: false, settled: false };
    stream.waiting.push(entry);
    stream.waitingBytes += bytes;
    stream.call.write(toWire(envelope), () => this.#taken(stream, entry));
    this.#watch(stream);
  }

  /** Ends the streams and closes the channels to endpoints not in `endpoints` (nodes that left the view). */
  retain(endpoints: Iterable<string>): void {
    const keep = new Set(endpoints);
    for (const stream of [...this.#streams.values()]) if (!keep.has(stream.endpoint)) this.#end(stream);
  }

  /** Waits up to `graceMs` for copies still waiting to be sent, then ends every stream; later sends are dropped. Idempotent. */
  async close(graceMs = this.#deadlineMs): Promise<void> {
    this.#closed = true;
    if (this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      let done: () => void = () => {};
      await Promise.race([
        new Promise<void>((resolve) => {
          done = () => {
            if (this.inFlight === 0) resolve();
          };
          this.#flushed.add(done);
        }),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
          timer.unref();
        }),
      ]);
      this.#flushed.delete(done);
      clearTimeout(timer);
    }
    for (const stream of [...this.#streams.values()]) this.#end(stream);
  }

  #stream(endpoint: string): NodeStream {
    const open = this.#streams.get(endpoint);
    if (open !== undefined) return open;
    const { Client: NodeClient } = loadNodeOnce();
    const max = this.#options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const client = new NodeClient(endpoint, credentials.createInsecure(), {
      'grpc.max_receive_message_length': max,
      'grpc.max_send_message_length': max,
    });
    const method = (client as unknown as { Stream: StreamMethod }).Stream;
    let stream: NodeStream | undefined;
    const call = method.call(client, (error) => {
      if (stream !== undefined) this.#ended(stream, error);
    });
    // The status callback reports the failure; without a listener an 'error' event would throw.
    call.on('error', () => {});
    call.on('metadata', () => {
      if (stream === undefined) return;
      stream.answered = true;
      for (const entry of stream.waiting.filter((w) => w.written)) this.#taken(stream, entry);
    });
    stream = { endpoint, client, call, waiting: [], waitingBytes: 0, answered: false, timer: undefined, ended: false };
    this.#streams.set(endpoint, stream);
    return stream;
  }

  /** HTTP/2 took the copy on a call the node answered: it no longer waits. */
  #taken(stream: NodeStream, entry: Waiting): void {
    entry.written = true;
    if (entry.settled || !stream.answered) return;
    entry.settled = true;
    const index = stream.waiting.indexOf(entry);
    if (index >= 0) stream.waiting.splice(index, 1);
    stream.waitingBytes -= entry.bytes;
    if (stream.waiting.length === 0) for (const done of [...this.#flushed]) done();
  }

  /** Gives the stream up when its oldest waiting copy is older than the deadline (the node is unreachable or stalled). */
  #watch(stream: NodeStream): void {
    if (stream.timer !== undefined || stream.ended) return;
    const oldest = stream.waiting[0];
    if (oldest === undefined) return;
    stream.timer = setTimeout(
      () => {
        stream.timer = undefined;
        const first = stream.waiting[0];
        if (first !== undefined && Date.now() - first.at >= this.#deadlineMs) stream.call.cancel();
        else this.#watch(stream);
      },
      Math.max(1, oldest.at + this.#deadlineMs - Date.now()),
    );
    stream.timer.unref();
  }

  /** The call ended (the node closed it, failed, or was cancelled): what still waited is dropped; the next copy opens a new one. */
  #ended(stream: NodeStream, error: ServiceError | null): void {
    stream.ended = true;
    clearTimeout(stream.timer);
    stream.timer = undefined;
    if (this.#streams.get(stream.endpoint) === stream) {
      this.#streams.delete(stream.endpoint);
      stream.client.close();
    }
    const detail = error === null ? 'the node ended the stream' : `${error.code} ${error.details || error.message}`;
    for (const entry of stream.waiting.splice(0)) {
      if (entry.settled) continue;
      entry.settled = true;
      this.#drop(entry.envelope, 'failed', detail, stream.endpoint);
    }
    stream.waitingBytes = 0;
    for (const done of [...this.#flushed]) done();
  }

  #end(stream: NodeStream): void {
    if (this.#streams.get(stream.endpoint) === stream) this.#streams.delete(stream.endpoint);
    clearTimeout(stream.timer);
    stream.timer = undefined;
    stream.call.end();
    stream.client.close();
  }

  #drop(envelope: Envelope, reason: DropReason, detail: string, endpoint?: string): void {
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
