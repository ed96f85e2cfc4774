import { AccountTransfer, type AppliedAction, naeHexOfTransferKey, type TransferVotes, transferRecordKey } from './account-transfer.js';
import { Accumulator, type AccumulatorDecision, type SourceCheck } from './accumulator.js';
import { ChunkCache, cacheLimits } from './chunk-cache.js';
import { answerClient, CLIENT_REPLY, type ClientOrigin, replyError } from './client-reply.js';
import {
  awaitRecordLimits,
  clientRequestWindow,
  contentLimits,
  type GroupParameters,
  transferBatchesPerTick,
  transferBatchRecords,
  transferPullMs,
} from './config.js';
import { ContentExchange } from './content-exchange.js';
import { checkContent, type Envelope, type MessageContent, sealEnvelope, verifyEnvelope } from './envelope.js';
import {
  asSafeError,
  ContentMismatchError,
  ExpiredRequestError,
  MalformedEnvelopeError,
  MalformedPayloadError,
  NotResponsibleError,
  PermissionDeniedError,
  RecordMissingError,
  SafeError,
  SenderNotInGroupError,
  UnknownMessageTypeError,
  WrongSourceError,
} from './errors.js';
import { Firewall } from './firewall.js';
import type { Identity } from './identity.js';
import { closestNames, NAME_BYTES, type Name, nameEquals, nameFromHex, shortName, toHex } from './name.js';
import type {
  Action,
  ActionDeclaration,
  HandlerContext,
  Incoming,
  MessageDeclaration,
  Outbound,
  Outcome,
  PersonaDefinition,
  PersonaRecords,
} from './persona.js';
import { replyAddress } from './persona.js';
import {
  type AccumulatorStore,
  type Clock,
  type EntryStore,
  type FirewallStore,
  type Logger,
  type SpanHandle,
  silentLogger,
  systemClock,
  type Telemetry,
} from './ports.js';
import { protoCodec } from './proto.js';
import { CLIENT, type GroupView, isPersonaName, MatrixChange, type PersonaName, type RoutingTable } from './routing.js';
import { type AppliedEntry, type SlotVote, Sync, type SyncEntry, syncKey, syncSlot } from './sync.js';
import { noTelemetry } from './telemetry.js';
import { TraceCauses } from './trace-causes.js';
import { packTransferBatches, TRANSFER_MESSAGE_BYTES } from './transfer-batch.js';

/** How a replica puts signed copies on the wire: the group bus adapter. */
export interface Transport {
  send(envelope: Envelope): void | Promise<void>;
}

/** Receives client replies addressed to this node (the entry); see ClientGateway. */
export interface ReplySink {
  expects(correlation: Uint8Array): boolean;
  deliver(envelope: Envelope): void;
}

export interface ReplicaStores {
  readonly accumulator: AccumulatorStore;
  readonly firewall: FirewallStore;
  /** Where client requests' firewall entries go when they must outlive the process and the others need not (firewall.ts). */
  readonly clientFirewall?: FirewallStore;
  readonly sync: EntryStore<SyncEntry>;
  readonly transfer: EntryStore<TransferVotes>;
}

export interface ReplicaOptions<S> {
  readonly definition: PersonaDefinition<S>;
  readonly identity: Identity;
  readonly params: GroupParameters;
  readonly state: S;
  readonly routing: RoutingTable;
  readonly transport: Transport;
  readonly stores: ReplicaStores;
  readonly clock?: Clock;
  readonly telemetry?: Telemetry;
  readonly logger?: Logger;
  /** The replica's opportunistic chunk cache; default: one sized by `params` (SAFE_CACHE_BYTES, SAFE_CACHE_ENTRIES). */
  readonly cache?: ChunkCache;
}

export type ReceiveResult =
  | 'handled'
  | 'pending'
  | 'late'
  | 'duplicate'
  | 'not-responsible'
  | 'reply'
  | 'synced'
  | 'transferred'
  | { readonly rejected: SafeError };

export const SYNC_MESSAGE = 'Sync';
/** Account transfer (SPEC.md 4): a batch of records a member hands to a node that entered their close groups. */
export const ACCOUNT_TRANSFER_MESSAGE = 'AccountTransfer';
export const ACCOUNT_PULL_MESSAGE = 'AccountPull';
/** A member that has a message's quorum but not its content asks one of the message's senders for it (payload: the digest). */
export const CONTENT_PULL_MESSAGE = 'ContentPull';
/** The answer to a ContentPull: the content, on the copy, under its digest. */
export const CONTENT_PUSH_MESSAGE = 'ContentPush';
const NO_CONTENT = new Uint8Array(0);

export interface TransferredRecord {
  nae: Uint8Array;
  key: Uint8Array;
  value: Uint8Array;
  /** The NAE's actions whose effect is in `value` (applied at the sender). */
  applied?: { key: string; action: string; parameters: Uint8Array }[];
}
export interface TransferredSyncEntry {
  nae: Uint8Array;
  key: string;
  action: string;
  parameters: Uint8Array;
  /** The members that told the group they have seen it (Sync.byNae): the sender only if it did. */
  seenBy: Uint8Array[];
}
export interface AccountTransferBatch {
  records: TransferredRecord[];
  entries: TransferredSyncEntry[];
}
export const accountTransferBatchCodec = protoCodec<AccountTransferBatch>('safe.v1.AccountTransferBatch');
export interface AccountPull {
  records: { nae: Uint8Array; key: Uint8Array }[];
}
export const accountPullCodec = protoCodec<AccountPull>('safe.v1.AccountPull');

/** A record waiting to be handed over: keys only (its value is read again when it is sent). */
interface QueuedTransfer {
  readonly nae: Name;
  readonly key: Uint8Array;
  /** Nodes (hex) that entered the record's close group and have not been sent it yet. */
  readonly targets: Set<string>;
  /** This node is no longer responsible: drop the record once it has been handed over. */
  drop: boolean;
}

const SYNC_KEY = /^[0-9a-f]{1,128}$/;

/** What this node applied and voted for, by NAE, read once per account-transfer batch. */
interface WhatThisNodeDid {
  applied(nae: Name): Promise<readonly AppliedEntry[]>;
  votes(nae: Name): Promise<readonly SlotVote[]>;
}

/** A request held for the record account transfer brings (Replica #awaitRecord). */
const AWAITING_RECORD = Symbol('awaiting record');
/** A copy held until this replica's view knows its sender (Replica #awaitSender). */
const AWAITING_SENDER = Symbol('awaiting sender');
/** Views before recent matrix changes a replica keeps to tell which close groups it just entered. */
const RECENT_VIEWS = 32;
interface AwaitingRecord<S> {
  readonly declaration: MessageDeclaration<unknown, S>;
  readonly incoming: Incoming<unknown>;
  readonly trace: Record<string, string>;
  readonly until: number;
}

interface SyncProposal {
  key: string;
  action: string;
  nae: Uint8Array;
  parameters: Uint8Array;
}
const syncProposalCodec = protoCodec<SyncProposal>('safe.v1.SyncProposal');

function incomingOf(envelope: Envelope, payload: unknown): Incoming<unknown> {
  return {
    id: envelope.id,
    type: envelope.type,
    payload,
    source: envelope.source,
    authority: envelope.authority,
    destination: envelope.destination,
    sender: envelope.sender,
    correlation: envelope.correlation,
    ...(envelope.replyTo ? { replyTo: envelope.replyTo } : {}),
    content: envelope.content ?? NO_CONTENT,
  };
}

/** A message that reached its quorum and waits for its content. */
interface ContentWork<S> {
  readonly declaration: MessageDeclaration<unknown, S>;
  readonly payload: unknown;
}

/**
 * One replica of a persona: a node. Applies the group rules the same way for every persona —
 * destination check, source check, accumulate (Ac), firewall (Fw), handle, send on (So), sync
 * (Sy), update firewall (Uf) — and leaves only the persona's rules to its handlers. Messages are
 * handled one at a time, in arrival order.
 */
export class Replica<S> {
  readonly identity: Identity;
  readonly persona: PersonaName;
  readonly params: GroupParameters;
  readonly state: S;
  readonly #definition: PersonaDefinition<S>;
  readonly #messages: ReadonlyMap<string, MessageDeclaration<unknown, S>>;
  readonly #actions: ReadonlyMap<string, ActionDeclaration<unknown, S>>;
  readonly #accumulator: Accumulator;
  readonly #firewall: Firewall;
  readonly #sync: Sync;
  readonly transfer: AccountTransfer;
  /** Chunks seen on a Get reply path (SPEC.md 4 Caching): the entry and the DataManagers answer from it. */
  readonly cache: ChunkCache;
  readonly #transport: Transport;
  readonly #clock: Clock;
  readonly #telemetry: Telemetry;
  readonly #log: Logger;
  readonly #context: HandlerContext<S>;
  #routing: RoutingTable;
  #queue: Promise<unknown> = Promise.resolve();
  #replySink: ReplySink | undefined;
  #stopped = false;
  /** Account transfer still to send, in the order the matrix changes queued it. */
  readonly #transferQueue = new Map<string, QueuedTransfer>();
  #transferSequence = 0;
  /**
   * This persona's views before its recent matrix changes, each kept for SAFE_AWAIT_RECORD_MS:
   * a close group of an NAE this node is not in, in one of them, is one it entered since.
   */
  readonly #recentViews: { readonly view: GroupView; readonly until: number }[] = [];
  /** Requests held for a record this node lacks but may still be sent (RecordMissingError), by NAE (hex). */
  readonly #awaitingRecord = new Map<string, AwaitingRecord<S>[]>();
  #awaitingCount = 0;
  /** Signed copies from a node this replica's view does not know yet, held until it does (#awaitSender). */
  #awaitingSender: { readonly envelope: Envelope; readonly until: number }[] = [];
  /** Bulk content by digest, and messages whose quorum came before their content. */
  readonly #content: ContentExchange<ContentWork<S>>;
  readonly #causes = new TraceCauses();

  constructor(options: ReplicaOptions<S>) {
    this.identity = options.identity;
    this.persona = options.definition.persona;
    this.params = options.params;
    this.state = options.state;
    this.#definition = options.definition;
    this.#messages = new Map(options.definition.messages.map((m) => [m.type, m]));
    this.#actions = new Map(options.definition.actions.map((a) => [a.type, a]));
    this.#accumulator = new Accumulator(options.stores.accumulator, options.params);
    this.#firewall = new Firewall(options.stores.firewall, options.params, options.stores.clientFirewall);
    this.#sync = new Sync(options.identity.name, options.stores.sync, options.params, () => this.#clock.now());
    this.transfer = new AccountTransfer(options.stores.transfer, options.params, () => this.#clock.now());
    this.cache = options.cache ?? new ChunkCache(cacheLimits(options.params));
    this.#transport = options.transport;
    this.#routing = options.routing;
    this.#clock = options.clock ?? systemClock;
    const limits = contentLimits(options.params);
    this.#content = new ContentExchange({
      self: options.identity.name,
      budgetBytes: limits.bytes,
      waitMs: limits.waitMs,
      memoryMs: options.params.accumulatorMemoryMs,
      maxAwaiting: awaitRecordLimits(options.params).requests,
    });
    this.#telemetry = options.telemetry ?? noTelemetry;
    this.#log = (options.logger ?? silentLogger).child({ persona: this.persona, node: shortName(this.identity.name) });
    this.#context = {
      self: this.identity.name,
      persona: this.persona,
      params: this.params,
      state: this.state,
      cache: this.cache,
      log: this.#log,
      routing: () => this.#routing,
      closeGroup: (persona, nae) => this.#routing.view(persona).closeGroup(nae, this.params.closeGroupSize),
      isResponsible: (nae) => this.isResponsible(nae),
      now: () => this.#clock.now(),
    };
    // A node that starts has entered every close group it is in: its records may still be on their way.
    this.#rememberView(options.routing.without(this.persona, this.identity.name).view(this.persona));
  }

  get name(): Name {
    return this.identity.name;
  }

  get context(): HandlerContext<S> {
    return this.#context;
  }

  routing(): RoutingTable {
    return this.#routing;
  }

  isResponsible(nae: Name): boolean {
    return this.#routing.view(this.persona).isInCloseGroup(this.identity.name, nae, this.params.closeGroupSize);
  }

  attachReplySink(sink: ReplySink): void {
    this.#replySink = sink;
  }

  /**
   * Signs and sends a message as this node (used by the gateway and by handlers' outcomes). Bulk
   * content goes by its digest on every copy, and itself on this copy only when `carry` says so.
   */
  async send(
    content: MessageContent,
    trace: Record<string, string> = {},
    bulk?: { readonly content: Uint8Array; readonly carry: (id: Uint8Array) => boolean },
  ): Promise<void> {
    if (bulk === undefined) {
      await this.#transport.send(sealEnvelope(content, this.identity, trace));
      return;
    }
    const digest = this.#content.keepSent(bulk.content, this.#clock.now());
    const sealed = sealEnvelope({ ...content, contentDigest: digest }, this.identity, trace);
    await this.#transport.send(bulk.carry(sealed.id) ? { ...sealed, content: bulk.content } : sealed);
  }

  /** Puts someone else's signed copy on the wire unchanged (the entry forwarding a client's request). */
  async forward(envelope: Envelope): Promise<void> {
    await this.#transport.send(envelope);
  }

  /** Carries out an outcome that no message caused (start-up announcements, timers). */
  dispatch(outcome: Outcome): Promise<void> {
    const run = this.#queue.then(() => this.#carryOut(outcome, undefined, false, {}));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Handles one delivered copy. Never throws: a bad copy is rejected with a typed error and changes nothing. */
  receive(envelope: Envelope): Promise<ReceiveResult> {
    const run = this.#queue.then(() => this.#receive(envelope));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Applies a new routing view; every change in a persona's node set is a matrix change. */
  updateRouting(next: RoutingTable): Promise<void> {
    const run = this.#queue.then(() => this.#updateRouting(next));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Re-sends unresolved sync entries this node originated; drops those past the attempt limit. */
  tick(): Promise<void> {
    const run = this.#queue.then(() => this.#tick());
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Records still waiting to be handed over (sent on the next ticks, at most the per-tick limit each) or dropped (at the next tick). */
  get pendingTransfers(): number {
    return this.#transferQueue.size;
  }

  /** Waits for everything queued so far. */
  async idle(): Promise<void> {
    await this.#queue;
  }

  stop(): void {
    this.#stopped = true;
  }

  async #receive(envelope: Envelope, heldUntil?: number): Promise<ReceiveResult> {
    if (this.#stopped) return 'not-responsible';
    try {
      const destination = this.#checkDestination(envelope);
      if (destination !== 'mine') return this.#count(envelope, 'not-responsible');
      if (envelope.type === CLIENT_REPLY) {
        // Replies past the quorum (or past the caller's deadline) find no call waiting: late, not wrong.
        if (!this.#replySink?.expects(envelope.correlation)) return this.#count(envelope, 'late');
        this.#replySink.deliver(envelope);
        return this.#count(envelope, 'reply');
      }
      if (envelope.type === SYNC_MESSAGE) return this.#count(envelope, await this.#receiveSync(envelope));
      if (envelope.type === ACCOUNT_TRANSFER_MESSAGE) return this.#count(envelope, await this.#receiveTransfer(envelope));
      if (envelope.type === ACCOUNT_PULL_MESSAGE) return this.#count(envelope, await this.#receivePull(envelope));
      if (envelope.type === CONTENT_PULL_MESSAGE) return this.#count(envelope, await this.#receiveContentPull(envelope));
      if (envelope.type === CONTENT_PUSH_MESSAGE) return this.#count(envelope, await this.#receiveContentPush(envelope));
      const { declaration, payload } = this.#declared(envelope);
      const decision = await this.#accumulate(envelope, declaration).catch((error: unknown) => {
        if (error instanceof SenderNotInGroupError && this.#awaitSender(envelope, heldUntil)) return AWAITING_SENDER;
        throw error;
      });
      if (decision === AWAITING_SENDER) return this.#count(envelope, 'pending');
      if (declaration.content === true) {
        this.#content.noteCopy(envelope, this.#clock.now());
        if (envelope.content !== undefined) await this.#contentArrived(envelope.contentDigest as Uint8Array, envelope.content);
      }
      if (decision === 'pending' || decision === 'late') return this.#count(envelope, decision);
      if (decision === 'repeat') {
        if (declaration.firewall) await this.#answerRepeat(envelope);
        return this.#count(envelope, 'duplicate');
      }
      if (declaration.content === true) {
        const content = this.#content.contentOf(envelope);
        if (content === undefined) return this.#count(envelope, this.#awaitContent(envelope, declaration, payload));
        return await this.#act({ ...envelope, content }, declaration, payload);
      }
      return await this.#act(envelope, declaration, payload);
    } catch (error) {
      const rejected = asSafeError(error, `${this.persona} ${envelope.type}`);
      this.#log.warn({ type: envelope.type, kind: rejected.kind, err: rejected.message }, 'message rejected');
      if (rejected instanceof ContentMismatchError)
        this.#telemetry.count('safe_content_total', { persona: this.persona, result: 'mismatch' });
      await this.#tellClientRefused(envelope, rejected);
      return this.#count(envelope, { rejected });
    }
  }

  /**
   * What this persona's table says of a request: its declaration, its decoded payload, and that
   * its sender, content and address fit the row. Throws the refusal otherwise.
   */
  #declared(envelope: Envelope): { declaration: MessageDeclaration<unknown, S>; payload: unknown } {
    const declaration = this.#messages.get(envelope.type);
    if (declaration === undefined) {
      throw new UnknownMessageTypeError(`${this.persona} has no message type ${JSON.stringify(envelope.type)}`);
    }
    if (!(declaration.from as readonly string[]).includes(envelope.source.persona)) {
      throw new WrongSourceError(`${envelope.type} may come from ${declaration.from.join(' or ')}, not ${envelope.source.persona}`);
    }
    const payload = declaration.payload.decode(envelope.payload);
    if (declaration.content === true) this.#checkCarriedContent(envelope);
    else if (envelope.contentDigest !== undefined || envelope.content !== undefined) {
      throw new MalformedEnvelopeError(`${envelope.type} carries no content`);
    }
    if (envelope.source.persona === CLIENT) this.#checkIssued(envelope);
    if (declaration.toOwnName === true && !nameEquals(envelope.destination.nae, envelope.sender)) {
      throw new PermissionDeniedError(`${envelope.type} goes to the sender's own account, not to ${shortName(envelope.destination.nae)}`);
    }
    return { declaration, payload };
  }

  /** A client request is good only around the time it says it was signed (docs/replay.md). */
  #checkIssued(envelope: Envelope): void {
    if (envelope.issuedAt === undefined)
      throw new MalformedEnvelopeError(`${envelope.type}: a client request says when it was signed (issued_at)`);
    const { futureMs, pastMs } = clientRequestWindow(this.params);
    const age = this.#clock.now() - envelope.issuedAt;
    if (age < -futureMs) {
      throw new ExpiredRequestError(
        `${envelope.type} was signed ${Math.round(-age / 1000)} s ahead of this node's clock (at most ${futureMs / 1000} s): check the client's clock`,
      );
    }
    if (age > pastMs) {
      throw new ExpiredRequestError(
        `${envelope.type} was signed ${Math.round(age / 1000)} s ago; a request is good for ${pastMs / 1000} s: sign it again`,
      );
    }
  }

  /**
   * The entry's check of a client request to this persona, before it goes on the bus: the same
   * row checks every member makes, so a request they would all refuse is refused at once.
   */
  checkRequest(envelope: Envelope): void {
    if (envelope.destination.persona === this.persona) this.#declared(envelope);
  }

  /**
   * A client's request refused before its handler ran (payload, address, content) is answered
   * with the refusal, as a handler's refusal is: every member refuses alike, so the entry gets
   * an agreed answer at once instead of waiting out its deadline. Only a genuine client's: a
   * forged one is not answered, and trouble that may pass (`unavailable`) is retried, not told.
   */
  async #tellClientRefused(envelope: Envelope, rejected: SafeError): Promise<void> {
    if (envelope.source.persona !== CLIENT || envelope.replyTo === undefined || rejected.kind === 'unavailable') return;
    try {
      verifyEnvelope(envelope);
      const origin: ClientOrigin = { request: envelope.id, replyTo: envelope.replyTo };
      // Not firewalled (`answers` dropped): the same envelope is refused alike if it comes again.
      await this.#emit({ ...answerClient(origin, replyError(rejected)), answers: undefined }, envelope.destination.nae, envelope.trace);
    } catch (error) {
      this.#log.debug({ type: envelope.type, err: asSafeError(error, 'refusal').message }, 'refusal not told');
    }
  }

  /**
   * Fw, then the handler, for a message whose copies reached their quorum (and whose content, if
   * it has any, is here): a repeat is answered from the firewall, anything else handled once.
   */
  async #act(envelope: Envelope, declaration: MessageDeclaration<unknown, S>, payload: unknown): Promise<ReceiveResult> {
    let span: SpanHandle | undefined;
    try {
      if (declaration.firewall) {
        const record = await this.#firewall.admit(envelope.id, envelope.source.persona === CLIENT);
        if (record !== null) {
          await this.#answerRepeat(envelope);
          if (declaration.sync && record.state === 'done') await this.#proposeIfNotYet(envelope, declaration, payload);
          return this.#count(envelope, 'duplicate');
        }
      }
      span = this.#telemetry.startSpan(`${this.persona} ${envelope.type}`, envelope.trace, []);
      span.setAttribute('safe.message.id', toHex(envelope.id).slice(0, 16));
      span.setAttribute('safe.nae', toHex(envelope.destination.nae).slice(0, 16));
      // The group whose copies made the quorum, and the chunk the message is about: what a user searches by.
      span.setAttribute('safe.copy_group', `${envelope.source.persona}:${toHex(envelope.source.nae).slice(0, 16)}`);
      if (envelope.contentDigest !== undefined) span.setAttribute('safe.chunk', toHex(envelope.contentDigest));
      this.#causes.remember(envelope.destination.nae, span.context());
      const incoming = incomingOf(envelope, payload);
      const outcome = await this.#handle(declaration, incoming, span.context());
      if (outcome !== AWAITING_RECORD) await this.#carryOut(outcome, incoming, declaration.sync, span.context());
      span.end();
      return this.#count(envelope, outcome === AWAITING_RECORD ? 'pending' : 'handled');
    } catch (error) {
      const rejected = asSafeError(error, `${this.persona} ${envelope.type}`);
      span?.end(rejected);
      this.#log.warn({ type: envelope.type, kind: rejected.kind, err: rejected.message }, 'message rejected');
      return this.#count(envelope, { rejected });
    }
  }

  // ---- bulk content: one copy carries it, the others its digest ----

  /**
   * A copy of a message with content: a single sender (a client, a PmidNode) carries its own; a
   * group member's copy may come without (another member's carries it), but content that does
   * not hash to the digest the id covers is refused before the copy is counted.
   */
  #checkCarriedContent(envelope: Envelope): void {
    if (envelope.contentDigest === undefined) throw new MalformedEnvelopeError(`${envelope.type} must name its content by digest`);
    if (envelope.authority === 'single' && envelope.content === undefined) {
      throw new MalformedEnvelopeError(`${envelope.type} from a single sender must carry its content`);
    }
    checkContent(envelope);
  }

  /** Messages that waited for this content: handled now that it is here. */
  async #contentArrived(digest: Uint8Array, content: Uint8Array): Promise<void> {
    for (const { envelope, work } of this.#content.takeAwaiting(digest)) {
      this.#telemetry.count('safe_content_total', { persona: this.persona, result: 'arrived-late' });
      await this.#act({ ...envelope, content }, work.declaration, work.payload);
    }
  }

  #awaitContent(envelope: Envelope, declaration: MessageDeclaration<unknown, S>, payload: unknown): ReceiveResult {
    if (!this.#content.await(envelope, { declaration, payload }, this.#clock.now())) {
      throw new SafeError('resource-exhausted', `busy: too many messages wait for their content; ${envelope.type} refused`);
    }
    this.#telemetry.count('safe_content_total', { persona: this.persona, result: 'awaited' });
    return 'pending';
  }

  /** Whether this member's copy of a group message carries the content: the sending group's member closest to the message id does. */
  #carriesContent(speakingFor: Name, id: Uint8Array): boolean {
    const group = this.#context.closeGroup(this.persona, speakingFor);
    const [designated] = closestNames(id as Name, group, 1);
    return designated === undefined || nameEquals(designated, this.identity.name) || !group.some((m) => nameEquals(m, this.identity.name));
  }

  /** A member of a known persona asks for content by digest: it gets it if this replica still holds it. */
  async #receiveContentPull(envelope: Envelope): Promise<ReceiveResult> {
    verifyEnvelope(envelope);
    const from = envelope.source.persona;
    if (envelope.authority !== 'single' || !nameEquals(envelope.source.nae, envelope.sender)) {
      throw new WrongSourceError('a content pull comes from one node, for itself');
    }
    if (!isPersonaName(from) || !this.#routing.view(from).has(envelope.sender)) {
      throw new SenderNotInGroupError(`${shortName(envelope.sender)} is not a known ${from}`);
    }
    if (envelope.payload.length !== NAME_BYTES) throw new MalformedPayloadError('a content pull names a 64-byte digest');
    const content = this.#content.store.get(toHex(envelope.payload));
    if (content === undefined) return 'late';
    this.#telemetry.count('safe_content_total', { persona: this.persona, result: 'served' });
    await this.send(
      {
        type: CONTENT_PUSH_MESSAGE,
        source: { persona: this.persona, nae: this.identity.name },
        authority: 'single',
        destination: { persona: from, nae: envelope.sender },
        scope: 'node',
        payload: NO_CONTENT,
        correlation: envelope.id,
      },
      envelope.trace,
      { content, carry: () => true },
    );
    return 'handled';
  }

  /** Content a member sent because this replica pulled it: checked against its digest, then the messages waiting for it go on. */
  async #receiveContentPush(envelope: Envelope): Promise<ReceiveResult> {
    verifyEnvelope(envelope);
    if (envelope.content === undefined || envelope.contentDigest === undefined) {
      throw new MalformedEnvelopeError('a content push carries content');
    }
    checkContent(envelope);
    this.#telemetry.count('safe_content_total', { persona: this.persona, result: 'pulled' });
    await this.#contentArrived(envelope.contentDigest, envelope.content);
    return 'handled';
  }

  /** Pulls the content of messages that waited long enough for it; refuses those whose time ran out. */
  async #pullContent(): Promise<void> {
    const { pulls, expired } = this.#content.tick(this.#clock.now());
    for (const { envelope } of expired) {
      this.#telemetry.count('safe_content_total', { persona: this.persona, result: 'expired' });
      this.#log.warn({ type: envelope.type, id: shortName(envelope.id) }, 'message dropped: its content never came');
    }
    for (const pull of pulls) {
      this.#telemetry.count('safe_content_total', { persona: this.persona, result: 'pull' });
      await this.send({
        type: CONTENT_PULL_MESSAGE,
        source: { persona: this.persona, nae: this.identity.name },
        authority: 'single',
        destination: { persona: pull.from.persona, nae: pull.from.name },
        scope: 'node',
        payload: pull.digest,
        correlation: NO_CONTENT,
      }).catch((error: unknown) => this.#log.warn({ err: asSafeError(error, 'content pull').message }, 'content pull not sent'));
    }
  }

  /**
   * The handler's outcome; a rule of the persona that says no becomes the requester's answer,
   * recorded like any other. Given the request's trace, a refusal for want of a record this node
   * may still be sent by account transfer is held instead (AWAITING_RECORD): see #awaitRecord.
   */
  async #handle(
    declaration: MessageDeclaration<unknown, S>,
    incoming: Incoming<unknown>,
    awaitWith?: Record<string, string>,
  ): Promise<Outcome | typeof AWAITING_RECORD> {
    try {
      return await declaration.handle(incoming, this.#context);
    } catch (error) {
      const safe = asSafeError(error, `${this.persona} ${incoming.type}`);
      if (safe.kind === 'internal') throw safe;
      if (awaitWith !== undefined && safe instanceof RecordMissingError && this.#awaitRecord(declaration, incoming, awaitWith))
        return AWAITING_RECORD;
      return this.#refusal(incoming, safe);
    }
  }

  /**
   * A member that entered the NAE's close group in a recent matrix change may not have been sent
   * its record yet: refusing now would leave the group's answer one member short of its quorum
   * (a MaidManager that does not know the client forwards no Put, and the DataManagers never
   * gather K − 1 copies). The request waits for the record, within the configured time and count;
   * the firewall answers repeats "syncing" meanwhile.
   */
  #awaitRecord(declaration: MessageDeclaration<unknown, S>, incoming: Incoming<unknown>, trace: Record<string, string>): boolean {
    const limits = awaitRecordLimits(this.params);
    const now = this.#clock.now();
    if (limits.ms === 0 || this.#awaitingCount >= limits.requests) return false;
    this.#forgetViews(now);
    const k = this.params.closeGroupSize;
    const nae = incoming.destination.nae;
    if (!this.#recentViews.some(({ view }) => !view.isInCloseGroup(this.identity.name, nae, k))) return false;
    const key = toHex(nae);
    this.#awaitingRecord.set(key, [...(this.#awaitingRecord.get(key) ?? []), { declaration, incoming, trace, until: now + limits.ms }]);
    this.#awaitingCount++;
    this.#telemetry.count('safe_record_awaits_total', { persona: this.persona, result: 'held' });
    this.#log.info({ type: incoming.type, nae: shortName(nae) }, 'request awaits the record account transfer brings');
    return true;
  }

  /**
   * A view of this persona as it was before a matrix change, for SAFE_AWAIT_RECORD_MS. Replicas
   * flapping make many changes: the newest RECENT_VIEWS are kept, so the memory stays bounded.
   */
  #rememberView(view: GroupView): void {
    const now = this.#clock.now();
    this.#forgetViews(now);
    this.#recentViews.push({ view, until: now + awaitRecordLimits(this.params).ms });
    if (this.#recentViews.length > RECENT_VIEWS) this.#recentViews.shift();
  }

  #forgetViews(now: number): void {
    while (this.#recentViews.length > 0 && (this.#recentViews[0]?.until ?? 0) <= now) this.#recentViews.shift();
  }

  /** Handles again the requests held for the NAE's record (now written here), or, with no NAE, those whose wait is over. */
  async #handleAwaiting(nae?: string): Promise<void> {
    if (this.#awaitingCount === 0) return;
    const now = this.#clock.now();
    // After each record written: only that NAE's requests, looked up, not the whole map scanned.
    const held = nae === undefined ? [...this.#awaitingRecord] : [[nae, this.#awaitingRecord.get(nae) ?? []] as const];
    for (const [key, waiting] of held) {
      const due = nae === undefined ? waiting.filter((w) => w.until <= now) : waiting;
      if (due.length === 0) continue;
      const rest = waiting.filter((w) => !due.includes(w));
      if (rest.length > 0) this.#awaitingRecord.set(key, rest);
      else this.#awaitingRecord.delete(key);
      this.#awaitingCount -= due.length;
      this.#telemetry.count(
        'safe_record_awaits_total',
        { persona: this.persona, result: nae === undefined ? 'expired' : 'record-written' },
        due.length,
      );
      for (const { declaration, incoming, trace } of due) {
        try {
          await this.#carryOut(await this.#handleNow(declaration, incoming), incoming, declaration.sync, trace);
        } catch (error) {
          this.#log.warn({ type: incoming.type, err: asSafeError(error, incoming.type).message }, 'held request failed');
        }
      }
    }
  }

  /**
   * A node announces itself in the membership and sends at once (a PmidNode's Offer): a replica
   * whose view has not caught up yet would refuse it, and if most of the close group did, the
   * request would be lost. A validly signed copy from a sender this view does not know waits for
   * the next views, within the same time and count as requests awaiting their record.
   */
  #awaitSender(envelope: Envelope, heldUntil: number | undefined): boolean {
    const persona = envelope.source.persona;
    // A node speaking for itself; a group's copies come from K members, and one this view has not caught up with changes nothing.
    if (envelope.authority !== 'single' || !isPersonaName(persona) || this.#routing.view(persona).has(envelope.sender)) return false;
    const limits = awaitRecordLimits(this.params);
    const now = this.#clock.now();
    const until = heldUntil ?? now + limits.ms;
    if (until <= now || this.#awaitingCount + this.#awaitingSender.length >= limits.requests) return false;
    verifyEnvelope(envelope);
    this.#awaitingSender.push({ envelope, until });
    this.#telemetry.count('safe_sender_awaits_total', { persona: this.persona, result: heldUntil === undefined ? 'held' : 'held-again' });
    if (heldUntil === undefined)
      this.#log.info({ type: envelope.type, sender: shortName(envelope.sender) }, 'copy awaits a view that knows its sender');
    return true;
  }

  /** Receives again the copies held for their sender (after a new view), or refuses those whose wait is over (`expiredOnly`). */
  async #receiveAwaitingSenders(expiredOnly: boolean): Promise<void> {
    if (this.#awaitingSender.length === 0) return;
    const now = this.#clock.now();
    const due = this.#awaitingSender.filter((held) => !expiredOnly || held.until <= now);
    this.#awaitingSender = this.#awaitingSender.filter((held) => !due.includes(held));
    for (const { envelope, until } of due) {
      if (until > now) await this.#receive(envelope, until);
      else {
        this.#telemetry.count('safe_sender_awaits_total', { persona: this.persona, result: 'expired' });
        this.#log.warn({ type: envelope.type, sender: shortName(envelope.sender) }, 'message rejected: its sender never joined this view');
        this.#count(envelope, {
          rejected: new SenderNotInGroupError(`${shortName(envelope.sender)} is not a known ${envelope.source.persona}`),
        });
      }
    }
  }

  /** The handler's outcome, refusal included: never held. */
  async #handleNow(declaration: MessageDeclaration<unknown, S>, incoming: Incoming<unknown>): Promise<Outcome> {
    const outcome = await this.#handle(declaration, incoming);
    return outcome === AWAITING_RECORD ? {} : outcome;
  }

  /**
   * A synced request whose actions this node already applied, because floor(K/2)+1 of its peers'
   * Sync copies reached it before its own copy of the request did: the firewall holds the answer,
   * but the peers still count on this node's Sync to resolve the action themselves. Now that the
   * request is here, the node proposes what the handler decides (and sends what it sends), once.
   * A real repeat of a request it handled proposes nothing again.
   */
  async #proposeIfNotYet(envelope: Envelope, declaration: MessageDeclaration<unknown, S>, payload: unknown): Promise<void> {
    const incoming = incomingOf(envelope, payload);
    const outcome = await this.#handleNow(declaration, incoming);
    // A member that handled the request proposed all its actions at once: one still awaiting its
    // proposal means it never did, so it carries the outcome out now (proposing again is a no-op).
    for (const [index, act] of (outcome.actions ?? []).entries()) {
      if (await this.#sync.awaitsOwnProposal(syncKey(incoming.id, index, act.type))) {
        await this.#carryOut(outcome, incoming, true, envelope.trace);
        return;
      }
    }
  }

  #count<R extends ReceiveResult>(envelope: Envelope, result: R): R {
    const label = typeof result === 'string' ? result : 'rejected';
    this.#telemetry.count('safe_messages_total', { persona: this.persona, type: envelope.type, result: label });
    return result;
  }

  #checkDestination(envelope: Envelope): 'mine' | 'not-mine' {
    if (envelope.destination.persona !== this.persona) return 'not-mine';
    if (envelope.destination.nae.length !== NAME_BYTES) throw new MalformedEnvelopeError('destination NAE must be 64 bytes');
    if (envelope.scope === 'node') return nameEquals(envelope.destination.nae, this.identity.name) ? 'mine' : 'not-mine';
    return this.isResponsible(envelope.destination.nae) ? 'mine' : 'not-mine';
  }

  #sourceCheck(envelope: Envelope, declaration: MessageDeclaration<unknown, S>): SourceCheck {
    const sourcePersona = envelope.source.persona;
    const { accumulate } = declaration;
    const wantsGroup = accumulate === 'group' || accumulate === 'first' || (accumulate === 'none' && envelope.authority === 'group');
    if (wantsGroup) {
      if (!isPersonaName(sourcePersona)) throw new WrongSourceError(`${sourcePersona} cannot speak as a group`);
      return { kind: 'group', view: this.#routing.view(sourcePersona), first: accumulate === 'first' };
    }
    // A single entity speaks for itself: its source NAE is its own name.
    if (!nameEquals(envelope.source.nae, envelope.sender)) {
      throw new WrongSourceError(`a single sender must speak for its own name`);
    }
    if (sourcePersona !== CLIENT) {
      if (!isPersonaName(sourcePersona) || !this.#routing.view(sourcePersona).has(envelope.sender)) {
        throw new SenderNotInGroupError(`${shortName(envelope.sender)} is not a known ${sourcePersona}`);
      }
    }
    return { kind: 'single' };
  }

  async #accumulate(envelope: Envelope, declaration: MessageDeclaration<unknown, S>): Promise<AccumulatorDecision> {
    const check = this.#sourceCheck(envelope, declaration);
    if (declaration.accumulate !== 'none') return this.#accumulator.accept(envelope, check);
    verifyEnvelope(envelope);
    if (check.kind === 'group' && !check.view.isInCloseGroup(envelope.sender, envelope.source.nae, this.params.closeGroupSize)) {
      throw new SenderNotInGroupError(
        `${shortName(envelope.sender)} is not in the ${check.view.persona} close group of ${shortName(envelope.source.nae)}`,
      );
    }
    return 'act';
  }

  /** A repeat is answered from the firewall: the recorded reply, or "syncing" to a waiting client. */
  async #answerRepeat(envelope: Envelope): Promise<void> {
    const record = await this.#firewall.lookup(envelope.id, envelope.source.persona === CLIENT);
    const { to, scope } = replyAddress(incomingOf(envelope, undefined));
    if (record !== null && record.state === 'done' && record.reply !== null) {
      await this.#emit(
        { type: record.reply.type, to, scope, payload: record.reply.payload, correlation: envelope.id },
        envelope.destination.nae,
        envelope.trace,
      );
    } else if ((record === null || record.state === 'syncing') && envelope.source.persona === CLIENT && envelope.replyTo) {
      const origin: ClientOrigin = { request: envelope.id, replyTo: envelope.replyTo };
      const syncing = answerClient(origin, { status: 'SYNCING', message: 'the group is still deciding', payload: new Uint8Array(0) });
      await this.#emit({ ...syncing, answers: undefined }, envelope.destination.nae, envelope.trace);
    }
  }

  #refusal(incoming: Incoming<unknown>, error: SafeError): Outcome {
    if (incoming.source.persona === CLIENT && incoming.replyTo) {
      return { send: [answerClient({ request: incoming.id, replyTo: incoming.replyTo }, replyError(error))] };
    }
    this.#log.info({ type: incoming.type, kind: error.kind, err: error.message }, 'request refused');
    return {};
  }

  async #carryOut(
    outcome: Outcome,
    incoming: Incoming<unknown> | undefined,
    synced: boolean,
    trace: Record<string, string>,
    speakingFor: Name | undefined = incoming?.destination.nae,
    cause: Uint8Array | undefined = incoming?.id,
  ): Promise<void> {
    for (const [index, act] of (outcome.actions ?? []).entries()) {
      if (synced && incoming !== undefined) await this.#proposeSync(incoming, index, act, trace);
      else await this.#applyAction(act, trace, cause);
    }
    for (const out of outcome.send ?? []) await this.#emit(out, speakingFor, trace, cause);
  }

  /**
   * Signs and sends one message. Unless it answers something, its correlation is its cause (the
   * message or agreed action that produced it): the id covers it, so two messages with the same
   * content but different causes (a second Delete of one chunk, a second Get) are different
   * messages, while the K members' copies of one cause still share an id.
   */
  async #emit(out: Outbound, speakingFor: Name | undefined, trace: Record<string, string>, cause?: Uint8Array): Promise<void> {
    const as = out.as ?? speakingFor ?? this.identity.name;
    const authority = out.authority ?? this.#definition.speaksAs;
    const bulk =
      out.content === undefined
        ? undefined
        : { content: out.content, carry: (id: Uint8Array) => authority === 'single' || this.#carriesContent(as, id) };
    await this.send(
      {
        type: out.type,
        source: { persona: this.persona, nae: authority === 'single' ? this.identity.name : as },
        authority,
        destination: out.to,
        scope: out.scope,
        payload: out.payload,
        correlation: out.correlation ?? cause ?? new Uint8Array(0),
        ...(out.replyTo ? { replyTo: out.replyTo } : {}),
      },
      trace,
      bulk,
    );
    if (out.answers !== undefined)
      await this.#firewall.update(out.answers, { type: out.type, payload: out.payload }, out.type === CLIENT_REPLY);
  }

  // ---- Sy ----

  async #proposeSync(incoming: Incoming<unknown>, index: number, act: Action, trace: Record<string, string>): Promise<void> {
    const key = syncKey(incoming.id, index, act.type);
    const syncAction = { type: act.type, nae: toHex(act.nae), payload: Buffer.from(act.payload).toString('base64') };
    const group = this.#context.closeGroup(this.persona, act.nae);
    const result = await this.#sync.propose(key, syncAction, group);
    await this.#broadcastSync(key, act, trace);
    if (result.resolvedNow) await this.#applyAgreed(act, key, trace);
  }

  async #broadcastSync(key: string, act: Action, trace: Record<string, string>): Promise<void> {
    const payload = syncProposalCodec.encode({ key, action: act.type, nae: act.nae, parameters: act.payload });
    for (const member of this.#context.closeGroup(this.persona, act.nae)) {
      if (nameEquals(member, this.identity.name)) continue;
      await this.#emit(
        { type: SYNC_MESSAGE, to: { persona: this.persona, nae: member }, scope: 'node', payload, as: act.nae },
        act.nae,
        trace,
      );
    }
  }

  async #receiveSync(envelope: Envelope): Promise<ReceiveResult> {
    verifyEnvelope(envelope);
    const proposal = syncProposalCodec.decode(envelope.payload);
    if (proposal.nae.length !== NAME_BYTES) throw new MalformedEnvelopeError('sync NAE must be 64 bytes');
    const nae = proposal.nae as Name;
    if (envelope.source.persona !== this.persona || !nameEquals(envelope.source.nae, nae)) {
      throw new WrongSourceError('a sync message must come from this persona, for its own NAE');
    }
    const group = this.#context.closeGroup(this.persona, nae);
    if (!group.some((member) => nameEquals(member, envelope.sender))) {
      throw new SenderNotInGroupError(`${shortName(envelope.sender)} is not in the close group of ${shortName(nae)}`);
    }
    if (!group.some((member) => nameEquals(member, this.identity.name))) return 'not-responsible';
    const declaration = this.#actions.get(proposal.action);
    if (declaration === undefined) throw new UnknownMessageTypeError(`${this.persona} has no action ${JSON.stringify(proposal.action)}`);
    declaration.payload.decode(proposal.parameters);
    const syncAction = { type: proposal.action, nae: toHex(nae), payload: Buffer.from(proposal.parameters).toString('base64') };
    const result = await this.#sync.receive(proposal.key, syncAction, envelope.sender, group);
    if (result.tell) await this.#broadcastSync(proposal.key, { type: proposal.action, nae, payload: proposal.parameters }, envelope.trace);
    if (result.conflicting) await this.#flushTransfers(false, { nae: toHex(nae) });
    if (result.resolvedNow)
      await this.#applyAgreed({ type: proposal.action, nae, payload: proposal.parameters }, proposal.key, envelope.trace);
    return 'synced';
  }

  /**
   * An action the group agreed (Sy), under its sync key. A record of its NAE still queued for a
   * newcomer goes to it first, as it is before the action changes it, with the action as an entry
   * still to apply: a record the action deletes would otherwise never reach the newcomer, nor
   * would what the action sends from it (the newcomer's copy of a DataManager's Delete to the
   * holders, without which the holders never gather K − 1 copies). In a span of this member's own:
   * what the action sends is this member's copy, and the receiver links each member's copy apart
   * (under the sync sender's context they would all look alike).
   */
  async #applyAgreed(act: Action, key: string, trace: Record<string, string>): Promise<void> {
    const span = this.#telemetry.startSpan(`${this.persona} agreed ${act.type}`, trace, []);
    span.setAttribute('safe.nae', toHex(act.nae).slice(0, 16));
    try {
      await this.#flushTransfers(false, { nae: toHex(act.nae), changing: key });
      await this.#applyAction(act, span.context(), Buffer.from(key, 'hex'));
      span.end();
    } catch (error) {
      span.end(error);
      throw error;
    }
  }

  async #applyAction(act: Action, trace: Record<string, string>, cause: Uint8Array | undefined): Promise<void> {
    const declaration = this.#actions.get(act.type);
    if (declaration === undefined) throw new UnknownMessageTypeError(`${this.persona} has no action ${JSON.stringify(act.type)}`);
    const outcome = await declaration.apply(declaration.payload.decode(act.payload), this.#context, act.nae);
    if (outcome) await this.#carryOut(outcome, undefined, false, trace, act.nae, cause);
  }

  async #tick(): Promise<void> {
    const { send, dropped } = await this.#sync.due();
    for (const entry of dropped) this.#log.warn({ key: entry.key, action: entry.action.type }, 'sync entry dropped unresolved');
    for (const entry of send) {
      const nae = Buffer.from(entry.action.nae, 'hex') as unknown as Name;
      await this.#broadcastSync(entry.key, { type: entry.action.type, nae, payload: Buffer.from(entry.action.payload, 'base64') }, {});
    }
    if (!this.#stopped) await this.#flushTransfers(true);
    if (!this.#stopped) await this.#pullStalled();
    if (!this.#stopped) await this.#handleAwaiting();
    if (!this.#stopped) await this.#receiveAwaitingSenders(true);
    if (!this.#stopped) await this.#pullContent();
    if (this.#definition.onTick && !this.#stopped) {
      try {
        const { actions, send } = await this.#definition.onTick(this.#context);
        await this.#carryOut({ actions }, undefined, false, {});
        for (const out of send ?? []) {
          const span = this.#causes.spanFor(this.#telemetry, this.persona, out);
          await this.#emit(out, undefined, span.context()).finally(() => span.end());
        }
      } catch (error) {
        this.#log.error({ err: asSafeError(error, 'tick').message }, 'tick handling failed');
      }
    }
  }

  // ---- churn ----

  async #updateRouting(next: RoutingTable): Promise<void> {
    const previous = this.#routing;
    this.#routing = next;
    const k = this.params.closeGroupSize;
    for (const view of [
      ...new Set([this.persona, ...next.allNodes().map((n) => n.persona), ...previous.allNodes().map((n) => n.persona)]),
    ]) {
      const change = new MatrixChange(this.identity.name, previous.view(view).names(), next.view(view).names(), k);
      if (change.isEmpty) continue;
      if (view === this.persona) {
        this.#rememberView(previous.view(view));
        try {
          // Hand records over before the sync entries of NAEs this node leaves are dropped: they travel with them.
          const withRecords = await this.#queueTransfers(change);
          await this.#flushTransfers(false);
          await this.#transferEntriesWithoutRecords(change, withRecords);
        } catch (error) {
          this.#log.error({ err: asSafeError(error, 'account transfer').message }, 'account transfer failed');
        }
        await this.#sync.onMatrixChange(change, (entry) => Buffer.from(entry.action.nae, 'hex') as unknown as Name);
        await this.transfer.forgetUnless((recordKey) => this.isResponsible(nameFromHex(naeHexOfTransferKey(recordKey))));
      }
      if (this.#definition.onChurn) {
        try {
          const outcome = await this.#definition.onChurn({ persona: view, change }, this.#context);
          await this.#carryOut(outcome, undefined, false, {});
        } catch (error) {
          this.#log.error({ err: asSafeError(error, 'churn').message }, 'churn handling failed');
        }
      }
    }
    await this.#receiveAwaitingSenders(false);
  }

  // ---- account transfer: sending ----

  /**
   * For every record: the members that entered its NAE's close group need it, and a record whose
   * close group this node left is dropped once handed over. Only keys are queued; a record already
   * queued gains the new targets and its drop follows the latest change. Returns the NAEs (hex)
   * whose records are on their way to a newcomer: their unresolved sync entries travel with them.
   */
  async #queueTransfers(change: MatrixChange): Promise<Set<string>> {
    const withRecords = new Set<string>();
    const records = this.#definition.records;
    if (records === undefined) return withRecords;
    const self = toHex(this.identity.name);
    for await (const refs of records.list(this.#context)) {
      for (const ref of refs) {
        const holders = change.checkHolders(ref.nae);
        const id = transferRecordKey(ref.nae, ref.key);
        const queued = this.#transferQueue.get(id);
        // Only a member that held the NAE before the change is a sender the newcomers accept.
        const targets = holders.wasResponsible ? holders.newHolders.map(toHex).filter((n) => n !== self) : [];
        if (queued === undefined && targets.length === 0 && holders.responsible) continue;
        const item = queued ?? { nae: ref.nae, key: ref.key, targets: new Set<string>(), drop: false };
        for (const target of targets) item.targets.add(target);
        item.drop = !holders.responsible;
        this.#transferQueue.set(id, item);
        if (targets.length > 0) withRecords.add(toHex(ref.nae));
      }
    }
    return withRecords;
  }

  /**
   * Unresolved sync entries of an NAE with no record here yet (the action that creates it is still
   * being agreed) go to the NAE's newcomers on their own (SPEC.md 4: unresolved entries are part
   * of the account transfer). Without them a join that pushes out members who had seen the action
   * leaves the members that stay short of floor(K/2)+1 for good.
   */
  async #transferEntriesWithoutRecords(change: MatrixChange, withRecords: ReadonlySet<string>): Promise<void> {
    if (this.#definition.records === undefined) return;
    const self = toHex(this.identity.name);
    const byTarget = new Map<string, SyncEntry[]>();
    for (const [nae, entries] of (await this.#sync.byNae()).unresolved) {
      if (withRecords.has(nae)) continue;
      const holders = change.checkHolders(nameFromHex(nae));
      if (!holders.wasResponsible) continue;
      for (const target of holders.newHolders.map(toHex)) {
        if (target !== self) byTarget.set(target, [...(byTarget.get(target) ?? []), ...entries]);
      }
    }
    const batchSize = transferBatchRecords(this.params);
    for (const [target, entries] of byTarget) {
      const bytesOf = (entry: SyncEntry) => accountTransferBatchCodec.encode({ records: [], entries: transferredEntries([entry]) }).length;
      const { batches, tooLarge } = packTransferBatches(entries, bytesOf, batchSize);
      for (const entry of tooLarge)
        this.#tooLargeToTransfer(target, nameFromHex(entry.action.nae), bytesOf(entry), `sync entry ${entry.action.type}`);
      for (const batch of batches) await this.#sendTransfer(target, [], batch);
    }
  }

  /**
   * Sends queued records, at most `transferBatchesPerTick` messages of `transferBatchRecords`
   * records each; the rest waits for the next tick. Each target is checked against the view as it
   * is now (a node that is no longer a holder is not sent the record, nor is anyone once this node
   * is no longer among the K+1 closest), values are read now, and a record this node is no longer
   * responsible for is dropped once it has been sent, at the first tick (`dropNow`) after that.
   *
   * `before` sends only the records of one NAE, whatever the tick's budget: just before the action
   * under sync key `changing` is applied to them (that action travels as an entry still to apply,
   * with the members this node vouches for, not among the actions their values hold), or when a
   * member decided one of its requests differently, for want of them (no `changing`).
   */
  async #flushTransfers(dropNow: boolean, before?: { readonly nae: string; readonly changing?: string }): Promise<void> {
    const records = this.#definition.records;
    if (records === undefined || this.#transferQueue.size === 0) return;
    const k = this.params.closeGroupSize;
    const batchSize = transferBatchRecords(this.params);
    let budget = before === undefined ? transferBatchesPerTick(this.params) : Number.POSITIVE_INFINITY;
    const view = this.#routing.view(this.persona);
    const self = toHex(this.identity.name);
    const open = new Map<string, TransferredRecord[]>();
    const ready: [string, TransferredRecord[]][] = [];
    const done: QueuedTransfer[] = [];
    for (const [id, item] of this.#transferQueue) {
      if (before !== undefined && (item.targets.size === 0 || toHex(item.nae) !== before.nae)) continue;
      const closest = view.closeGroup(item.nae, k + 1).map(toHex);
      const rank = closest.indexOf(self);
      if (rank >= 0 && rank < k) item.drop = false;
      const holders = new Set(closest.slice(0, k));
      for (const target of [...item.targets]) if (rank < 0 || target === self || !holders.has(target)) item.targets.delete(target);
      if (item.targets.size > 0) {
        const value = await records.read(this.#context, item.nae, item.key);
        if (value === undefined) item.targets.clear();
        for (const target of [...item.targets]) {
          let batch = open.get(target);
          if (batch !== undefined && batch.length >= batchSize) {
            ready.push([target, batch]);
            open.delete(target);
            batch = undefined;
          }
          if (batch === undefined) {
            if (budget === 0) break;
            budget--;
            batch = [];
            open.set(target, batch);
          }
          batch.push({ nae: item.nae, key: item.key, value: value as Uint8Array });
          item.targets.delete(target);
        }
      }
      // Out of messages for this tick: this record (and everything after it) waits.
      if (item.targets.size > 0) break;
      // A record this node leaves is dropped at a tick, not on the change itself: another change
      // right after (a member leaving) can make it a holder again, and it must still have it then.
      if (item.drop && !dropNow) continue;
      this.#transferQueue.delete(id);
      if (item.drop) done.push(item);
    }
    ready.push(...open.entries());
    if (ready.length > 0) {
      const { unresolved, applied } = await this.#sync.byNae(before?.changing);
      for (const [target, batch] of ready) {
        const records = batch.map((record) => ({
          ...record,
          applied: (applied.get(toHex(record.nae)) ?? []).map((entry) => ({
            key: entry.key,
            action: entry.action.type,
            parameters: Buffer.from(entry.action.payload, 'base64'),
          })),
        }));
        await this.#sendRecords(target, records, unresolved);
      }
    }
    for (const item of done) {
      await records.drop(this.#context, item.nae, item.key);
      await this.transfer.forget(transferRecordKey(item.nae, item.key));
    }
  }

  /**
   * A batch of records (at most `transferBatchRecords`) to a newcomer, split by bytes too: held
   * messages make records large, and one message carries at most the envelope's payload. Each
   * record is measured with its NAE's unresolved entries, which travel with it.
   */
  async #sendRecords(target: string, records: TransferredRecord[], unresolved: ReadonlyMap<string, SyncEntry[]>): Promise<void> {
    const entriesOf = (naes: Iterable<string>) => [...naes].flatMap((nae) => unresolved.get(nae) ?? []);
    const bytesOf = (record: TransferredRecord) =>
      accountTransferBatchCodec.encode({ records: [record], entries: transferredEntries(entriesOf([toHex(record.nae)])) }).length;
    const { batches, tooLarge } = packTransferBatches(records, bytesOf, records.length);
    for (const record of tooLarge) this.#tooLargeToTransfer(target, record.nae, bytesOf(record), 'record');
    for (const batch of batches) await this.#sendTransfer(target, batch, entriesOf(new Set(batch.map((r) => toHex(r.nae)))));
  }

  /** Said once, not retried: whatever the batching, no transfer message can carry it. */
  #tooLargeToTransfer(target: string, nae: Uint8Array, bytes: number, what: string): void {
    this.#log.error(
      { nae: shortName(nae), to: shortName(nameFromHex(target)), bytes, most: TRANSFER_MESSAGE_BYTES },
      `account transfer: a ${what} of ${bytes} bytes is over the ${TRANSFER_MESSAGE_BYTES} bytes a transfer message carries; not sent`,
    );
    this.#telemetry.count('safe_transfer_records_total', { persona: this.persona, result: 'too-large' });
  }

  /** One batch to a newcomer: records, and the unresolved sync entries of their NAEs (or of NAEs with no record yet). */
  async #sendTransfer(target: string, batch: TransferredRecord[], unresolved: readonly SyncEntry[]): Promise<void> {
    const entries = transferredEntries(unresolved);
    const sequence = new Uint8Array(8);
    new DataView(sequence.buffer).setBigUint64(0, BigInt(++this.#transferSequence));
    await this.#sendToMember(target, ACCOUNT_TRANSFER_MESSAGE, accountTransferBatchCodec.encode({ records: batch, entries }), sequence);
    this.#telemetry.count('safe_transfer_batches_total', { persona: this.persona, direction: 'sent' });
    this.#telemetry.count('safe_transfer_records_total', { persona: this.persona, result: 'sent' }, batch.length);
  }

  /** An account message from this node, speaking for itself, to another member of its persona. */
  #sendToMember(member: string, type: string, payload: Uint8Array, correlation: Uint8Array): Promise<void> {
    return this.send({
      type,
      source: { persona: this.persona, nae: this.identity.name },
      authority: 'single',
      destination: { persona: this.persona, nae: nameFromHex(member) },
      scope: 'node',
      payload,
      correlation,
    });
  }

  /**
   * Records whose transferred copies did not agree within `transferPullMs` (their value changed
   * under the senders, or too few sent it): their votes are forgotten and every other member of
   * the close group is asked for them again, a fresh round (SPEC.md 4: the newcomer pulls what it
   * lacks). At most a tick's worth of transfer messages' records per tick.
   */
  async #pullStalled(): Promise<void> {
    if (this.#definition.records === undefined) return;
    const limit = transferBatchRecords(this.params) * transferBatchesPerTick(this.params);
    const byMember = new Map<string, { nae: Name; key: Uint8Array }[]>();
    for (const recordKey of await this.transfer.stalled(transferPullMs(this.params), limit)) {
      await this.transfer.forget(recordKey);
      const nae = nameFromHex(naeHexOfTransferKey(recordKey));
      if (!this.isResponsible(nae)) continue;
      const key = Buffer.from(recordKey.slice(recordKey.indexOf(':') + 1), 'hex');
      for (const member of this.#context.closeGroup(this.persona, nae)) {
        if (nameEquals(member, this.identity.name)) continue;
        byMember.set(toHex(member), [...(byMember.get(toHex(member)) ?? []), { nae, key }]);
      }
    }
    for (const [member, records] of byMember) {
      await this.#sendToMember(member, ACCOUNT_PULL_MESSAGE, accountPullCodec.encode({ records }), new Uint8Array(0));
      this.#telemetry.count('safe_transfer_pulls_total', { persona: this.persona }, records.length);
    }
  }

  /** The records of a signed account message (`what`) from a member of this persona speaking for itself; throws otherwise. */
  #memberToMember(envelope: Envelope, what: string): PersonaRecords<S> {
    verifyEnvelope(envelope);
    const records = this.#definition.records;
    if (records === undefined) throw new UnknownMessageTypeError(`${this.persona} keeps no records to transfer`);
    if (envelope.source.persona !== this.persona || envelope.authority !== 'single' || !nameEquals(envelope.source.nae, envelope.sender)) {
      throw new WrongSourceError(`${what} comes from a member of this persona, speaking for itself`);
    }
    return records;
  }

  /**
   * A member asks for records again: each one this node holds, for an NAE whose close group has
   * both of them, is queued for it as an account transfer. One it does not hold is not answered.
   */
  async #receivePull(envelope: Envelope): Promise<ReceiveResult> {
    const records = this.#memberToMember(envelope, 'an account pull');
    const requester = envelope.sender;
    const k = this.params.closeGroupSize;
    const view = this.#routing.view(this.persona);
    // Every reference is checked before any is queued: a bad one changes nothing.
    const refs = accountPullCodec.decode(envelope.payload).records.map((ref) => {
      if (ref.nae.length !== NAME_BYTES) throw new MalformedPayloadError('a pulled NAE must be 64 bytes');
      const nae = ref.nae as Name;
      const group = view.closeGroup(nae, k);
      if (!group.some((member) => nameEquals(member, requester))) {
        throw new SenderNotInGroupError(`${shortName(requester)} is not in the close group of ${shortName(nae)}`);
      }
      return { nae, key: ref.key, mine: group.some((member) => nameEquals(member, this.identity.name)) };
    });
    let queued = 0;
    for (const { nae, key, mine } of refs) {
      if (!mine || (await records.read(this.#context, nae, key)) === undefined) continue;
      const id = transferRecordKey(nae, key);
      const item = this.#transferQueue.get(id) ?? { nae, key, targets: new Set<string>(), drop: false };
      item.targets.add(toHex(requester));
      this.#transferQueue.set(id, item);
      queued++;
    }
    if (queued > 0) await this.#flushTransfers(false);
    return 'transferred';
  }

  // ---- account transfer: receiving ----

  /**
   * A batch from a member: each record counts as that member's vote for its value and is written
   * once (K+1)/2 members sent the same value. A record whose sender is not among the K+1 closest
   * to its NAE (the K members before a join are the K+1 closest after it), or whose NAE this node
   * is not responsible for, is rejected and changes nothing. The batch's unresolved sync entries
   * are adopted once their NAE's records are in place.
   */
  async #receiveTransfer(envelope: Envelope): Promise<ReceiveResult> {
    const records = this.#memberToMember(envelope, 'an account transfer');
    const sender = envelope.sender;
    if (!this.#routing.view(this.persona).has(sender))
      throw new SenderNotInGroupError(`${shortName(sender)} is not a known ${this.persona}`);
    const batch = accountTransferBatchCodec.decode(envelope.payload);
    let accepted = 0;
    let rejected: SafeError | undefined;
    const reject = (error: unknown): void => {
      const safe = asSafeError(error, `${this.persona} ${ACCOUNT_TRANSFER_MESSAGE}`);
      rejected ??= safe;
      this.#telemetry.count('safe_transfer_records_total', { persona: this.persona, result: 'rejected' });
      this.#log.warn({ from: shortName(sender), kind: safe.kind, err: safe.message }, 'transferred record rejected');
    };
    // NAEs with a record not (yet) agreed here: their sync entries are not adopted from this copy.
    const waiting = new Set<string>();
    // What this node applied, by NAE: read once per batch, when a record is first written.
    let appliedHere: Map<string, AppliedEntry[]> | undefined;
    // And the votes it cast, by NAE: those on open actions of a record it writes were cast without it.
    let votesHere: Map<string, SlotVote[]> | undefined;
    const here: WhatThisNodeDid = {
      applied: async (nae) => {
        appliedHere ??= await this.#sync.appliedByNae();
        return appliedHere.get(toHex(nae)) ?? [];
      },
      votes: async (nae) => {
        votesHere ??= await this.#sync.votesByNae();
        return votesHere.get(toHex(nae)) ?? [];
      },
    };
    for (const record of batch.records) {
      try {
        const nae = this.#transferredNae(record.nae, sender);
        if (await this.#offerRecord(records, nae, record, sender, envelope.trace, here)) accepted++;
        else waiting.add(toHex(nae));
      } catch (error) {
        reject(error);
      }
    }
    for (const entry of batch.entries) {
      try {
        const nae = this.#transferredNae(entry.nae, sender);
        if (waiting.has(toHex(nae))) continue;
        await this.#adoptEntry(entry, nae, envelope.trace);
        accepted++;
      } catch (error) {
        reject(error);
      }
    }
    if (rejected !== undefined && accepted === 0 && waiting.size === 0) return { rejected };
    return 'transferred';
  }

  /** The NAE of a transferred record or entry, once the sender and this node are shown to belong to its group. */
  #transferredNae(raw: Uint8Array, sender: Name): Name {
    if (raw.length !== NAME_BYTES) throw new MalformedPayloadError('a transferred NAE must be 64 bytes');
    const nae = raw as Name;
    const k = this.params.closeGroupSize;
    const closest = this.#routing.view(this.persona).closeGroup(nae, k + 1);
    if (!closest.some((member) => nameEquals(member, sender))) {
      throw new SenderNotInGroupError(`${shortName(sender)} is not among the ${k + 1} closest to ${shortName(nae)}`);
    }
    if (!closest.slice(0, k).some((member) => nameEquals(member, this.identity.name))) {
      throw new NotResponsibleError(`${shortName(this.identity.name)} is not in the close group of ${shortName(nae)}`);
    }
    return nae;
  }

  /**
   * Counts the sender's vote; writes the value the moment it is agreed, and takes the actions the
   * agreeing members had applied to it as applied here. True once the record is written here.
   *
   * An action this node applied before the value came (agreed by its peers' Syncs while its record
   * was still on its way: a DataManager's AddSubscriber that found no record to add to) is in the
   * value only if the senders had applied it too (or another action of its slot): one they had not
   * is applied again on top of the value, or the written value would take its effect away here
   * for good (it resolves here only once).
   */
  async #offerRecord(
    records: PersonaRecords<S>,
    nae: Name,
    record: TransferredRecord,
    sender: Name,
    trace: Record<string, string>,
    here: WhatThisNodeDid,
  ): Promise<boolean> {
    const recordKey = transferRecordKey(nae, record.key);
    const applied = (record.applied ?? [])
      .filter((act) => SYNC_KEY.test(act.key) && this.#actions.has(act.action))
      .map((act) => ({ key: act.key, type: act.action, payload: Buffer.from(act.parameters).toString('base64') }));
    const agreed = await this.transfer.offer(recordKey, sender, record.value, applied);
    if (agreed !== undefined) {
      try {
        await records.write(this.#context, nae, record.key, record.value);
      } catch (error) {
        // Not written: forget the votes, so the record is not taken for written.
        await this.transfer.forget(recordKey);
        throw error;
      }
      const held = new Set(agreed.applied.map((act) => syncSlot(act.key)));
      for (const own of await here.applied(nae)) {
        if (held.has(syncSlot(own.key))) continue;
        const act = { type: own.action.type, nae, payload: Buffer.from(own.action.payload, 'base64') };
        await this.#applyAgreed(act, own.key, trace);
      }
      for (const act of agreed.applied) await this.#takeAsApplied(act, nae, trace);
      for (const { key, action, result } of await this.#sync.withdrawUninformed(
        await here.votes(nae),
        this.#context.closeGroup(this.persona, nae),
      )) {
        const act = { type: action.type, nae, payload: Buffer.from(action.payload, 'base64') };
        if (result.tell) await this.#broadcastSync(key, act, trace);
        if (result.resolvedNow) await this.#applyAgreed(act, key, trace);
      }
      await this.#handleAwaiting(toHex(nae));
      this.#telemetry.count('safe_transfer_records_total', { persona: this.persona, result: 'written' });
      return true;
    }
    return (await this.transfer.state(recordKey)) === 'written';
  }

  /**
   * An action whose effect came in a transferred record: never applied here again, and what it
   * owes (its declaration's `owed`: answers to whoever asked) is carried out as apply's would be,
   * under the same cause, so the answers are copies of the ones the members that applied it sent.
   */
  async #takeAsApplied(act: AppliedAction, nae: Name, trace: Record<string, string>): Promise<void> {
    if (!(await this.#sync.markApplied(act.key, { type: act.type, nae: toHex(nae), payload: act.payload }))) return;
    const declaration = this.#actions.get(act.type);
    if (declaration?.owed === undefined) return;
    try {
      const outcome = await declaration.owed(declaration.payload.decode(Buffer.from(act.payload, 'base64')), this.#context, nae);
      if (outcome) await this.#carryOut(outcome, undefined, false, trace, nae, Buffer.from(act.key, 'hex'));
    } catch (error) {
      this.#log.warn({ action: act.type, err: asSafeError(error, act.type).message }, 'what a transferred action owes could not be sent');
    }
  }

  async #adoptEntry(entry: TransferredSyncEntry, nae: Name, trace: Record<string, string>): Promise<void> {
    if (!SYNC_KEY.test(entry.key)) throw new MalformedPayloadError('a transferred sync entry needs a hex key');
    const declaration = this.#actions.get(entry.action);
    if (declaration === undefined) throw new UnknownMessageTypeError(`${this.persona} has no action ${JSON.stringify(entry.action)}`);
    declaration.payload.decode(entry.parameters);
    const action = { type: entry.action, nae: toHex(nae), payload: Buffer.from(entry.parameters).toString('base64') };
    const group = this.#context.closeGroup(this.persona, nae);
    const result = await this.#sync.adopt(entry.key, action, entry.seenBy.map(toHex), group);
    // Having adopted it, this member has seen the action: the members that stayed count it, as they
    // would have counted the proposals of those it replaced (which they no longer accept). It has
    // told the group (Sync's `told`), so it vouches for itself when it hands the entry on.
    if (result.tell) await this.#broadcastSync(entry.key, { type: entry.action, nae, payload: entry.parameters }, trace);
    if (result.resolvedNow) {
      await this.#applyAgreed({ type: entry.action, nae, payload: entry.parameters }, entry.key, trace);
    }
  }
}

/** Sync entries as an account-transfer batch carries them. */
function transferredEntries(entries: readonly SyncEntry[]): TransferredSyncEntry[] {
  return entries.map((entry) => ({
    nae: Buffer.from(entry.action.nae, 'hex'),
    key: entry.key,
    action: entry.action.type,
    parameters: Buffer.from(entry.action.payload, 'base64'),
    seenBy: entry.seenBy.map((member) => Buffer.from(member, 'hex')),
  }));
}
