import { DeleteRequestSchema, GetReplySchema, GetRequestSchema } from '@safe/proto/messages';
import { CLIENT_REPLY, type ClientReplyValue, clientReplyCodec, ReplyStatus, replyOk, replyStatusName } from './client-reply.js';
import { contentLimits, groupQuorum, openCallLimit } from './config.js';
import { checkContent, type Envelope, verifyEnvelope } from './envelope.js';
import {
  DeadlineExceededError,
  MalformedEnvelopeError,
  MalformedPayloadError,
  SafeError,
  UnavailableError,
  UnknownMessageTypeError,
  WrongSourceError,
} from './errors.js';
import { isName, type Name, nameEquals, toHex } from './name.js';
import type { Clock } from './ports.js';
import { protoCodec } from './proto.js';
import { CLIENT, isPersonaName, type PersonaName } from './routing.js';
import type { Replica, ReplySink } from './runtime.js';

/** The client's chunk fetch and removal (proto safe.v1 GetRequest, DeleteRequest): the entry's cache serves the one and forgets on the other. */
const CHUNK_GET = 'Get';
const CHUNK_DELETE = 'Delete';
const chunkRequestCodec = protoCodec(GetRequestSchema);
const chunkDeleteCodec = protoCodec(DeleteRequestSchema);
const chunkReplyCodec = protoCodec(GetReplySchema);

interface PendingCall {
  readonly persona: PersonaName;
  readonly envelope: Envelope;
  /** For a Get: the chunk's name, so the agreed content is cached when it passes through. */
  readonly chunk?: Name;
  /** Per distinct answer (by reply id): who gave it, and what it said (for the error if none wins). */
  readonly votes: Map<string, { readonly senders: Set<string>; readonly said: string }>;
  readonly resolve: (reply: ClientReplyValue) => void;
  readonly reject: (error: SafeError) => void;
  readonly cancelTimer: () => void;
}

/**
 * The client entry (a MaidNode's way in): takes an envelope the client built and signed, puts it
 * on the group bus with this node as `reply_to`, and answers once a quorum of the destination
 * close group sent the same reply — or fails with DEADLINE_EXCEEDED.
 */
export class ClientGateway implements ReplySink {
  readonly #replica: Replica<unknown>;
  readonly #clock: Clock;
  readonly #pending = new Map<string, PendingCall>();
  readonly #acceptedTypes: ReadonlyMap<string, PersonaName>;
  /** Bytes of content in the calls this entry holds open: bounded by SAFE_CONTENT_BYTES. */
  #contentBytes = 0;

  /** `acceptedTypes`: the client message types the network takes, and the persona each goes to. */
  constructor(replica: Replica<unknown>, clock: Clock, acceptedTypes: ReadonlyMap<string, PersonaName>) {
    this.#replica = replica;
    this.#clock = clock;
    this.#acceptedTypes = acceptedTypes;
    replica.attachReplySink(this);
  }

  get pendingCalls(): number {
    return this.#pending.size;
  }

  /** Validates a client's envelope before anything is sent: bad input changes nothing. */
  check(envelope: Envelope): PersonaName {
    const persona = this.#acceptedTypes.get(envelope.type);
    if (persona === undefined) throw new UnknownMessageTypeError(`the network takes no client message ${JSON.stringify(envelope.type)}`);
    if (envelope.destination.persona !== persona || !isPersonaName(envelope.destination.persona)) {
      throw new MalformedEnvelopeError(`${envelope.type} goes to ${persona}, not ${envelope.destination.persona}`);
    }
    if (envelope.source.persona !== CLIENT || envelope.authority !== 'single' || envelope.scope !== 'close-group') {
      throw new WrongSourceError('a client message must come from a single client, addressed to a close group');
    }
    if (!nameEquals(envelope.source.nae, envelope.sender)) throw new WrongSourceError('a client speaks for its own name');
    if (envelope.contentDigest !== undefined && envelope.content === undefined) {
      throw new MalformedEnvelopeError(`${envelope.type} names content by digest but carries none`);
    }
    verifyEnvelope(envelope);
    checkContent(envelope);
    if (envelope.type === CHUNK_GET && this.#chunkOf(envelope, CHUNK_GET) === undefined) {
      throw new MalformedPayloadError('a Get names the chunk it is addressed to (a 64-byte name)');
    }
    this.#replica.checkRequest(envelope);
    return persona;
  }

  call(envelope: Envelope, timeoutMs: number): Promise<ClientReplyValue> {
    let persona: PersonaName;
    try {
      persona = this.check(envelope);
    } catch (error) {
      return Promise.reject(error);
    }
    const chunk = this.#chunkOf(envelope, CHUNK_GET);
    if (chunk !== undefined) {
      const content = this.#replica.cache.get(chunk);
      if (content !== undefined) return Promise.resolve(replyOk(chunkReplyCodec.encode({ content })));
    }
    // This client's Delete may free the chunk: the entry no longer serves it (other caches may, until they evict it).
    const deleted = this.#chunkOf(envelope, CHUNK_DELETE);
    if (deleted !== undefined) this.#replica.cache.evict(deleted);
    const key = toHex(envelope.id);
    const existing = this.#pending.get(key);
    if (existing !== undefined) return new Promise((resolve, reject) => this.#chain(existing, resolve, reject));
    // Busy is said at once, never by a timeout: a call taken and then timed out would still be acted on.
    const calls = openCallLimit(this.#replica.params);
    if (this.#pending.size >= calls) {
      return Promise.reject(
        new SafeError('resource-exhausted', `busy: this entry holds ${this.#pending.size} open calls (limit ${calls}); try again shortly`),
      );
    }
    const size = envelope.content?.length ?? 0;
    const budget = contentLimits(this.#replica.params).bytes;
    if (size > 0 && this.#contentBytes + size > budget) {
      return Promise.reject(
        new SafeError(
          'resource-exhausted',
          `busy: this entry holds ${this.#contentBytes} bytes of content in open calls (limit ${budget}); try again shortly`,
        ),
      );
    }
    this.#contentBytes += size;
    return new Promise<ClientReplyValue>((resolve, reject) => {
      const cancelTimer = this.#clock.schedule(timeoutMs, () => {
        this.#pending.delete(key);
        this.#contentBytes -= size;
        reject(new DeadlineExceededError(`no agreed answer from the ${persona} group within ${timeoutMs} ms`));
      });
      this.#pending.set(key, { persona, envelope, votes: new Map(), resolve, reject, cancelTimer, ...(chunk ? { chunk } : {}) });
      const withReplyTo: Envelope = { ...envelope, replyTo: { persona: this.#replica.persona, nae: this.#replica.name } };
      this.#replica.forward(withReplyTo).catch((error: unknown) => {
        this.#finish(key)?.reject(error instanceof SafeError ? error : new SafeError('unavailable', String(error)));
      });
    });
  }

  #chain(call: PendingCall, resolve: (r: ClientReplyValue) => void, reject: (e: SafeError) => void): void {
    const key = toHex(call.envelope.id);
    this.#pending.set(key, {
      ...call,
      resolve: (r) => {
        call.resolve(r);
        resolve(r);
      },
      reject: (e) => {
        call.reject(e);
        reject(e);
      },
    });
  }

  expects(correlation: Uint8Array): boolean {
    return this.#pending.has(toHex(correlation));
  }

  deliver(envelope: Envelope): void {
    const key = toHex(envelope.correlation);
    const call = this.#pending.get(key);
    if (call === undefined || envelope.type !== CLIENT_REPLY) return;
    try {
      verifyEnvelope(envelope);
    } catch {
      return;
    }
    const destination = call.envelope.destination;
    const view = this.#replica.routing().view(call.persona);
    const k = this.#replica.params.closeGroupSize;
    if (envelope.source.persona !== call.persona || !nameEquals(envelope.source.nae, destination.nae)) return;
    if (!view.isInCloseGroup(envelope.sender, destination.nae, k)) return;
    let reply: ClientReplyValue;
    try {
      reply = clientReplyCodec.decode(envelope.payload);
    } catch {
      return;
    }
    if (reply.status === ReplyStatus.SYNCING) return;
    // Content (a Get's chunk) answers a Get only, and is on every copy of its reply.
    if (envelope.contentDigest !== undefined && (call.chunk === undefined || envelope.content === undefined)) return;
    const replyKey = toHex(envelope.id);
    const vote = call.votes.get(replyKey) ?? {
      senders: new Set<string>(),
      said: reply.status === ReplyStatus.OK ? 'OK' : `${replyStatusName(reply.status)} "${reply.message}"`,
    };
    vote.senders.add(toHex(envelope.sender));
    call.votes.set(replyKey, vote);
    const senders = vote.senders;
    const quorum = groupQuorum(this.#replica.params, view.size);
    if (senders.size >= quorum) {
      // The copies agreed on the content's digest (their id covers it); the content the client
      // gets is the copy's that completed the quorum, checked against that digest (one hash per
      // entry, not one per copy). A copy whose content does not match is not counted.
      if (envelope.content !== undefined) {
        try {
          checkContent(envelope);
        } catch {
          senders.delete(toHex(envelope.sender));
          return;
        }
      }
      const answer = envelope.content === undefined ? reply : { ...reply, payload: chunkReplyCodec.encode({ content: envelope.content }) };
      if (call.chunk !== undefined && answer.status === ReplyStatus.OK) this.#cache(call.chunk, envelope.content, answer.payload);
      this.#finish(key)?.resolve(answer);
      return;
    }
    // Every member answered and no answer can reach the quorum any more: say so now, not at the deadline.
    const votes = [...call.votes.values()];
    const answered = votes.reduce((sum, vote) => sum + vote.senders.size, 0);
    const best = Math.max(...votes.map((vote) => vote.senders.size));
    const unanswered = Math.min(k, view.size) - answered;
    if (best + unanswered < quorum) {
      const said = votes.map((vote) => `${vote.senders.size}× ${vote.said}`).join(', ');
      this.#finish(key)?.reject(
        new UnavailableError(`the ${call.persona} group gave different answers (it is still settling; ${said}); try again`),
      );
    }
  }

  /**
   * The chunk a well-formed request of `type` names; undefined for anything else. A Get counts
   * only when addressed to its chunk's close group: any other the DataManagers refuse.
   */
  #chunkOf(envelope: Envelope, type: typeof CHUNK_GET | typeof CHUNK_DELETE): Name | undefined {
    if (envelope.type !== type) return undefined;
    try {
      const { name } = (type === CHUNK_GET ? chunkRequestCodec : chunkDeleteCodec).decode(envelope.payload);
      if (!isName(name) || (type === CHUNK_GET && !nameEquals(name, envelope.destination.nae))) return undefined;
      return name;
    } catch {
      return undefined;
    }
  }

  /** The agreed content of a Get passing through; the cache keeps it only if it hashes to the name. */
  #cache(name: Name, content: Uint8Array | undefined, payload: Uint8Array): void {
    try {
      this.#replica.cache.insert(name, content ?? chunkReplyCodec.decode(payload).content);
    } catch {
      // A reply the client will find malformed is not worth caching.
    }
  }

  #finish(key: string): PendingCall | undefined {
    const call = this.#pending.get(key);
    if (call === undefined) return undefined;
    this.#pending.delete(key);
    this.#contentBytes -= call.envelope.content?.length ?? 0;
    call.cancelTimer();
    return call;
  }
}
