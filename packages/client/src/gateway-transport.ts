import { type CallOptions, type Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { MAX_CHUNK_BYTES } from '@safe/chunks';
import { type Identity, type Name, type PersonaName, SafeError, sealClientRequest, toHex, toWire } from '@safe/core';
import { fromServiceError, loadGateway } from '@safe/grpc';
import { toDataManager, toMaidManager, toMpidManager, toVersionManager } from '@safe/messages';
import pRetry from 'p-retry';
import { activeTraceContext, inSpan } from './tracing.js';

export interface ConnectOptions {
  /** The Gateway, HOST:PORT. */
  readonly endpoint: string;
  /** The client's MAID: every request is signed with it and the account is the one at its name. */
  readonly identity: Identity;
  /** Deadline of one gRPC call, in ms (default 60 s). */
  readonly timeoutMs?: number;
  /**
   * How often a call is sent again, with the same envelope, while the group answers that it is
   * still settling (default 5). The repeat is the same message, so the firewall answers it.
   */
  readonly retries?: number;
  /** First pause before a retry in ms; doubles each time (default 250). */
  readonly retryDelayMs?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_RETRIES = 5;
const DEFAULT_RETRY_DELAY_MS = 250;
/** A Get reply carries up to 1 MiB of content; leave room for the envelope around it. */
const MAX_MESSAGE_BYTES = 4 * MAX_CHUNK_BYTES + 64 * 1024;

type UnaryCallback = (error: ServiceError | null, reply?: unknown) => void;
type UnaryMethod = (request: unknown, metadata: Metadata, options: CallOptions, callback: UnaryCallback) => unknown;

/**
 * True for an answer that means "ask again": the group had not agreed yet (a member was still
 * syncing, or the members answered differently while the group settles after churn).
 */
export function isSettling(error: unknown): boolean {
  return error instanceof SafeError && error.kind === 'unavailable' && /settling|syncing|still deciding|try again/i.test(error.message);
}

/**
 * No answer in time: the group may still have acted on the request. The same envelope is sent
 * again, never a new one, so the firewall replays what was decided and nothing is done twice
 * (a Put that timed out and was stored after all is not charged again, and is known stored).
 */
function isUnanswered(error: unknown): boolean {
  return error instanceof SafeError && error.kind === 'deadline-exceeded';
}

/** True when the members did answer, but differently: the same envelope would only replay those answers. */
function isDisagreement(error: unknown): boolean {
  return error instanceof SafeError && error.kind === 'unavailable' && /gave different answers/i.test(error.message);
}

/** Requests that change nothing: asked again as a new request when the group disagreed. */
const READS = new Set(
  [
    toDataManager.get,
    toMaidManager.getAccount,
    toVersionManager.getVersions,
    toVersionManager.getBranch,
    toMpidManager.getMessages,
    toMpidManager.whiteList,
    toMpidManager.blackList,
  ].map((row) => row.type),
);

let gateway: ReturnType<typeof loadGateway> | undefined;

/** A channel to a network's Gateway: its unary calls, and request envelopes signed, sent and asked again. */
export class GatewayTransport {
  readonly endpoint: string;
  readonly #identity: Identity;
  readonly #client: Client;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #retryDelayMs: number;

  constructor(options: ConnectOptions) {
    this.endpoint = options.endpoint;
    this.#identity = options.identity;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#retries = options.retries ?? DEFAULT_RETRIES;
    this.#retryDelayMs = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
    gateway ??= loadGateway();
    this.#client = new gateway.Client(options.endpoint, credentials.createInsecure(), {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    });
  }

  close(): void {
    this.#client.close();
  }

  /**
   * Signs one request and sends it; while the group answers that it is still settling, or gives
   * no answer in time, sends the SAME envelope again (same id, same nonce), so a group that did
   * decide answers from its firewall.
   * A read whose members disagreed is asked again as a new request (a fresh nonce): its firewall
   * would only replay the answers that disagreed, while a fresh ask sees the group as it is now.
   */
  async send(
    type: string,
    persona: PersonaName,
    nae: Name,
    payload: Uint8Array | (() => Uint8Array),
    content?: Uint8Array,
    chunk?: Name,
  ): Promise<Uint8Array> {
    const attributes = {
      'safe.message.type': type,
      'safe.persona': persona,
      'safe.nae': toHex(nae).slice(0, 16),
      ...(chunk !== undefined ? { 'safe.chunk': toHex(chunk) } : {}),
    };
    return inSpan(`Gateway.Send ${type}`, 'client', attributes, async (span) => {
      // The trace context rides in the envelope (not covered by its id or signature): the Gateway's
      // span, and so everything the request causes, continues this span's trace.
      const seal = () => ({
        ...toWire(sealClientRequest(this.#identity, type, { persona, nae }, typeof payload === 'function' ? payload() : payload, content)),
        trace: activeTraceContext(),
      });
      let wire = seal();
      let unanswered = 0;
      return pRetry(
        async (attempt) => {
          const reply = (await this.unary('Send', wire)) as { payload?: Uint8Array };
          span.setAttribute('safe.attempts', attempt);
          return reply.payload instanceof Uint8Array ? new Uint8Array(reply.payload) : new Uint8Array(0);
        },
        {
          retries: this.#retries,
          minTimeout: this.#retryDelayMs,
          factor: 2,
          randomize: false,
          // One more ask after a timeout learns what was decided; more would only hold a caller of a stuck network.
          shouldRetry: ({ error }) => isSettling(error) || (isUnanswered(error) && unanswered++ < 1),
          onFailedAttempt: ({ error }) => {
            if (READS.has(type) && typeof payload === 'function' && isDisagreement(error)) wire = seal();
          },
        },
      );
    });
  }

  unary(method: string, request: unknown): Promise<unknown> {
    const call = (this.#client as unknown as Record<string, UnaryMethod | undefined>)[method];
    if (call === undefined) return Promise.reject(new SafeError('internal', `the Gateway has no method ${method}`));
    return new Promise((resolve, reject) => {
      const options: CallOptions = { deadline: Date.now() + this.#timeoutMs };
      // Calls without an envelope (Info, AdoptVault) carry the trace context as metadata.
      const metadata = new Metadata();
      for (const [key, value] of Object.entries(activeTraceContext())) metadata.set(key, value);
      try {
        call.call(this.#client, request, metadata, options, (error, reply) => {
          if (error) reject(fromServiceError(error, this.endpoint));
          else resolve(reply ?? {});
        });
      } catch (error) {
        reject(new SafeError('internal', `${method}: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
      }
    });
  }
}
