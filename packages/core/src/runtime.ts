import { AccountTransfer } from './account-transfer.js';
import { Accumulator } from './accumulator.js';
import { ChunkCache, cacheLimits } from './chunk-cache.js';
import type { GroupParameters } from './config.js';
import { type Envelope, type MessageContent, sealEnvelope } from './envelope.js';
import { Firewall } from './firewall.js';
import type { Identity } from './identity.js';
import { type Name, shortName } from './name.js';
import type { ActionDeclaration, HandlerContext, Incoming, Outcome } from './persona.js';
import { type Clock, type Logger, silentLogger, systemClock, type Telemetry } from './ports.js';
import type { PersonaName, RoutingTable } from './routing.js';
import { AccountTransferReceiver } from './runtime/account-transfer-receiver.js';
import { AccountTransferSender } from './runtime/account-transfer-sender.js';
import { Admission } from './runtime/admission.js';
import { type Bulk, BulkContent } from './runtime/bulk-content.js';
import { Handling } from './runtime/handling.js';
import { HeldRequests } from './runtime/held-requests.js';
import { OpenDecisions } from './runtime/open-decisions.js';
import type { ReplicaOptions, ReplySink, Transport } from './runtime/options.js';
import { Outbox } from './runtime/outbox.js';
import { OwedCopies } from './runtime/owed-copies.js';
import {
  ACCOUNT_PULL_MESSAGE,
  ACCOUNT_TRANSFER_MESSAGE,
  CONTENT_PULL_MESSAGE,
  CONTENT_PUSH_MESSAGE,
  type ReceiveResult,
  SYNC_MESSAGE,
} from './runtime/protocol.js';
import { Reception } from './runtime/reception.js';
import { SerialQueue } from './runtime/serial-queue.js';
import { SyncRounds } from './runtime/sync-rounds.js';
import { Upkeep } from './runtime/upkeep.js';
import { Sync } from './sync.js';
import { noTelemetry } from './telemetry.js';
import { TraceCauses } from './trace-causes.js';

/** Copies owed to an unavailable bus a replica keeps at most (a Kafka restart's worth at full speed), and their bytes. */
const OWED_COPIES_LIMIT = 20_000;
const OWED_BYTES_LIMIT = 256 * 1024 * 1024;

export type { ReplicaOptions, ReplicaStores, ReplySink, Transport } from './runtime/options.js';
export {
  ACCOUNT_PULL_MESSAGE,
  ACCOUNT_TRANSFER_MESSAGE,
  type AccountPull,
  type AccountTransferBatch,
  accountPullCodec,
  accountTransferBatchCodec,
  CONTENT_PULL_MESSAGE,
  CONTENT_PUSH_MESSAGE,
  type ReceiveResult,
  SYNC_MESSAGE,
  type TransferredRecord,
  type TransferredSyncEntry,
} from './runtime/protocol.js';

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
  readonly #actions: ReadonlyMap<string, ActionDeclaration<unknown, S>>;
  readonly #firewall: Firewall;
  readonly #sync: Sync;
  readonly transfer: AccountTransfer;
  /** Chunks seen on a Get reply path (SPEC.md 4 Caching): the entry and the DataManagers answer from it. */
  readonly cache: ChunkCache;
  readonly #transport: Transport;
  /** The replica's own copies the bus refused while unavailable: sent again on ticks. */
  readonly #owed: OwedCopies;
  readonly #clock: Clock;
  readonly #telemetry: Telemetry;
  readonly #log: Logger;
  readonly #context: HandlerContext<S>;
  #routing: RoutingTable;
  readonly #queue = new SerialQueue();
  #replySink: ReplySink | undefined;
  #stopped = false;
  readonly #admission: Admission<S>;
  readonly #held: HeldRequests<S>;
  readonly #content: BulkContent<S>;
  readonly #outbox: Outbox<S>;
  readonly #handling: Handling<S>;
  readonly #rounds: SyncRounds<S>;
  readonly #sender: AccountTransferSender<S>;
  readonly #receiver: AccountTransferReceiver<S>;
  readonly #reception: Reception<S>;
  readonly #upkeep: Upkeep<S>;

  constructor(options: ReplicaOptions<S>) {
    this.identity = options.identity;
    this.persona = options.definition.persona;
    this.params = options.params;
    this.state = options.state;
    this.#actions = new Map(options.definition.actions.map((a) => [a.type, a]));
    this.#firewall = new Firewall(options.stores.firewall, options.params, options.stores.clientFirewall);
    this.#sync = new Sync(options.identity.name, options.stores.sync, options.params, () => this.#clock.now());
    this.transfer = new AccountTransfer(options.stores.transfer, options.params, () => this.#clock.now());
    this.cache = options.cache ?? new ChunkCache(cacheLimits(options.params));
    this.#transport = options.transport;
    this.#routing = options.routing;
    this.#clock = options.clock ?? systemClock;
    this.#telemetry = options.telemetry ?? noTelemetry;
    this.#log = (options.logger ?? silentLogger).child({ persona: this.persona, node: shortName(this.identity.name) });
    const context: HandlerContext<S> = {
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
    this.#context = context;
    const telemetry = this.#telemetry;
    this.#owed = new OwedCopies({
      transport: options.transport,
      log: this.#log,
      telemetry,
      persona: this.persona,
      now: () => this.#clock.now(),
      keepMs: this.params.firewallMemoryMs,
      limit: OWED_COPIES_LIMIT,
      limitBytes: OWED_BYTES_LIMIT,
    });
    const causes = new TraceCauses();
    const stopped = () => this.#stopped;
    const send = (content: MessageContent, trace?: Record<string, string>, bulk?: Bulk) => this.send(content, trace, bulk);
    const carryOut = (outcome: Outcome, trace: Record<string, string>, speakingFor: Name, cause: Uint8Array | undefined) =>
      this.#carryOut(outcome, undefined, false, trace, speakingFor, cause);
    this.#admission = new Admission({
      context,
      messages: new Map(options.definition.messages.map((m) => [m.type, m])),
      accumulator: new Accumulator(options.stores.accumulator, options.params),
    });
    const decisions = new OpenDecisions<S>({
      persona: this.persona,
      log: this.#log,
      telemetry,
      now: () => this.#clock.now(),
      keepMs: this.params.firewallMemoryMs,
      open: async (key) => (await this.#sync.standing(key)) === 'open',
      handle: (declaration, incoming) => this.#handling.handleNow(declaration, incoming),
      carryOut: (outcome, incoming, trace) => this.#carryOut(outcome, incoming, true, trace),
    });
    this.#held = new HeldRequests({
      context,
      telemetry,
      handleAgain: async (declaration, incoming, trace) => {
        const outcome = await this.#handling.handleNow(declaration, incoming);
        await this.#carryOut(outcome, incoming, declaration.sync, trace);
        decisions.remember(declaration, incoming, trace, outcome);
      },
      receiveAgain: (envelope, until) => this.#reception.receive(envelope, until),
      count: (envelope, result) => this.#count(envelope, result),
    });
    this.#outbox = new Outbox({
      context,
      speaksAs: options.definition.speaksAs,
      firewall: this.#firewall,
      send,
      carries: (speakingFor, id) => this.#content.carries(speakingFor, id),
    });
    this.#handling = new Handling({
      context,
      telemetry,
      firewall: this.#firewall,
      outbox: this.#outbox,
      held: this.#held,
      sync: this.#sync,
      causes,
      carryOut: (outcome, incoming, synced, trace) => this.#carryOut(outcome, incoming, synced, trace),
      count: (envelope, result) => this.#count(envelope, result),
      decisions,
    });
    this.#content = new BulkContent({
      context,
      telemetry,
      send,
      act: (envelope, declaration, payload) => this.#handling.act(envelope, declaration, payload),
    });
    this.#sender = new AccountTransferSender({
      context,
      telemetry,
      records: options.definition.records,
      sync: this.#sync,
      transfer: this.transfer,
      send,
      held: () => this.#rounds.held(),
    });
    this.#rounds = new SyncRounds({
      context,
      telemetry,
      sync: this.#sync,
      actions: this.#actions,
      emit: (out, speakingFor, trace) => this.#outbox.emit(out, speakingFor, trace),
      carryOut,
      flushTransfers: (before) => this.#sender.flush(false, before),
      applied: (nae, key) => decisions.applied(nae, key),
    });
    this.#receiver = new AccountTransferReceiver({
      context,
      telemetry,
      records: options.definition.records,
      actions: this.#actions,
      sync: this.#sync,
      transfer: this.transfer,
      rounds: this.#rounds,
      carryOut,
      recordWritten: (nae) => this.#held.handleAwaiting(nae),
      send,
    });
    this.#reception = new Reception({
      context,
      telemetry,
      admission: this.#admission,
      held: this.#held,
      content: this.#content,
      outbox: this.#outbox,
      handling: this.#handling,
      own: this.#own,
      replySink: () => this.#replySink,
      stopped,
      count: (envelope, result) => this.#count(envelope, result),
    });
    this.#upkeep = new Upkeep({
      context,
      telemetry,
      definition: options.definition,
      sync: this.#sync,
      rounds: this.#rounds,
      sender: this.#sender,
      receiver: this.#receiver,
      held: this.#held,
      content: this.#content,
      outbox: this.#outbox,
      causes,
      carryOut: (outcome) => this.#carryOut(outcome, undefined, false, {}),
      stopped,
    });
    // A node that starts has entered every close group it is in: its records may still be on their way.
    this.#held.rememberView(options.routing.without(this.persona, this.identity.name).view(this.persona));
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
  async send(content: MessageContent, trace: Record<string, string> = {}, bulk?: Bulk): Promise<void> {
    if (bulk === undefined) {
      await this.#owed.send(sealEnvelope(content, this.identity, trace));
      return;
    }
    const digest = this.#content.keepSent(bulk.content);
    const sealed = sealEnvelope({ ...content, contentDigest: digest }, this.identity, trace);
    await this.#owed.send(bulk.carry(sealed.id) ? { ...sealed, content: bulk.content } : sealed);
  }

  /** Puts someone else's signed copy on the wire unchanged (the entry forwarding a client's request). */
  async forward(envelope: Envelope): Promise<void> {
    await this.#transport.send(envelope);
  }

  /** Carries out an outcome that no message caused (start-up announcements, timers). */
  dispatch(outcome: Outcome): Promise<void> {
    return this.#queue.run(() => this.#carryOut(outcome, undefined, false, {}));
  }

  /** Handles one delivered copy. Never throws: a bad copy is rejected with a typed error and changes nothing. */
  receive(envelope: Envelope): Promise<ReceiveResult> {
    return this.#queue.run(() => this.#reception.receive(envelope));
  }

  /** Applies a new routing view; every change in a persona's node set is a matrix change. */
  updateRouting(next: RoutingTable): Promise<void> {
    return this.#queue.run(() => this.#updateRouting(next));
  }

  /** Re-sends unresolved sync entries this node originated; drops those past the attempt limit. */
  tick(): Promise<void> {
    // Beside the queue: while the bus is still away, a flush waits out its deadline without holding up handling.
    if (this.#owed.size > 0) void this.#owed.flush();
    return this.#queue.run(() => this.#upkeep.tick());
  }

  /** Copies owed to the bus (it refused them as unavailable), waiting to be sent again. */
  get owedCopies(): number {
    return this.#owed.size;
  }

  /** Records still waiting to be handed over (sent on the next ticks, at most the per-tick limit each) or dropped (at the next tick). */
  get pendingTransfers(): number {
    return this.#sender.pending;
  }

  /** Waits for everything queued so far. */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  stop(): void {
    this.#stopped = true;
    // Kept in memory only: a replica that stops while the bus is away loses them (issue 16's crash case).
    if (this.#owed.size > 0) this.#log.error({ owed: this.#owed.size }, 'stopped with copies still owed to the bus; they are lost');
  }

  /** The runtime's own messages, by type: each handled by the part of the replica it concerns. */
  readonly #own: ReadonlyMap<string, (envelope: Envelope) => Promise<ReceiveResult>> = new Map([
    [SYNC_MESSAGE, (envelope: Envelope) => this.#rounds.receive(envelope)],
    [ACCOUNT_TRANSFER_MESSAGE, (envelope: Envelope) => this.#receiver.receive(envelope)],
    [ACCOUNT_PULL_MESSAGE, (envelope: Envelope) => this.#sender.receivePull(envelope)],
    [CONTENT_PULL_MESSAGE, (envelope: Envelope) => this.#content.receivePull(envelope)],
    [CONTENT_PUSH_MESSAGE, (envelope: Envelope) => this.#content.receivePush(envelope)],
  ]);

  /**
   * The entry's check of a client request to this persona, before it goes on the bus: the same
   * row checks every member makes, so a request they would all refuse is refused at once.
   */
  checkRequest(envelope: Envelope): void {
    if (envelope.destination.persona === this.persona) this.#admission.declared(envelope);
  }

  #count<R extends ReceiveResult>(envelope: Envelope, result: R): R {
    const label = typeof result === 'string' ? result : 'rejected';
    this.#telemetry.count('safe_messages_total', { persona: this.persona, type: envelope.type, result: label });
    return result;
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
      if (synced && incoming !== undefined) await this.#rounds.propose(incoming, index, act, trace);
      else await this.#rounds.apply(act, trace, cause);
    }
    // Signed and queued in order (one NAE's copies keep it on the bus), acknowledged together.
    await Promise.all((outcome.send ?? []).map((out) => this.#outbox.emit(out, speakingFor, trace, cause)));
  }

  async #updateRouting(next: RoutingTable): Promise<void> {
    const previous = this.#routing;
    this.#routing = next;
    await this.#upkeep.followRouting(previous, next);
  }
}
