import { type Envelope, verifyEnvelope } from '../envelope.js';
import { asSafeError, MalformedEnvelopeError, SenderNotInGroupError, UnknownMessageTypeError, WrongSourceError } from '../errors.js';
import { NAME_BYTES, type Name, nameEquals, shortName, toHex } from '../name.js';
import type { Action, ActionDeclaration, HandlerContext, Incoming, Outbound, Outcome } from '../persona.js';
import type { Telemetry } from '../ports.js';
import { type Sync, type SyncAction, type SyncResult, syncKey } from '../sync.js';
import { ArrivalOrder } from './arrival-order.js';
import { type ReceiveResult, SYNC_MESSAGE, syncProposalCodec } from './protocol.js';

/** An action as the sync store keeps it (NAE in hex, parameters in base64). */
export function toSyncAction(act: Action): SyncAction {
  return { type: act.type, nae: toHex(act.nae), payload: Buffer.from(act.payload).toString('base64') };
}

/** An action the sync store kept, for `nae` (by default the one it names). */
export function fromSyncAction(action: SyncAction, nae: Name = Buffer.from(action.nae, 'hex') as unknown as Name): Action {
  return { type: action.type, nae, payload: Buffer.from(action.payload, 'base64') };
}

/** The group's one declared action of `type`; throws for a type the persona does not have. */
export function declaredAction<S>(
  actions: ReadonlyMap<string, ActionDeclaration<unknown, S>>,
  persona: string,
  type: string,
): ActionDeclaration<unknown, S> {
  const declaration = actions.get(type);
  if (declaration === undefined) throw new UnknownMessageTypeError(`${persona} has no action ${JSON.stringify(type)}`);
  return declaration;
}

export interface SyncRoundsDeps<S> {
  readonly context: HandlerContext<S>;
  readonly telemetry: Telemetry;
  readonly sync: Sync;
  readonly actions: ReadonlyMap<string, ActionDeclaration<unknown, S>>;
  /** Signs and sends one message speaking for `speakingFor`. */
  readonly emit: (out: Outbound, speakingFor: Name, trace: Record<string, string>) => Promise<void>;
  /** Carries out what an applied action returned, speaking for its NAE, caused by its sync key. */
  readonly carryOut: (outcome: Outcome, trace: Record<string, string>, speakingFor: Name, cause: Uint8Array | undefined) => Promise<void>;
  /** Sends the NAE's records still queued for a newcomer, before `changing` (a sync key) changes them. */
  readonly flushTransfers: (before: { readonly nae: string; readonly changing?: string }) => Promise<void>;
  /** An agreed action was applied here: requests decided on the NAE's record before it may decide otherwise now. */
  readonly applied?: (nae: Name, key: string) => Promise<void>;
}

/** Sy: proposing a request's actions to the close group, counting the members' proposals, applying what they agree. */
export class SyncRounds<S> {
  readonly #deps: SyncRoundsDeps<S>;
  /** Actions declared `ordered`: applied in their requests' arrival order, NAE by NAE. */
  readonly #order: ArrivalOrder;

  constructor(deps: SyncRoundsDeps<S>) {
    this.#deps = deps;
    this.#order = new ArrivalOrder({
      settled: async (key) => (await deps.sync.standing(key)) !== 'open',
      resolved: async (key) => (await deps.sync.standing(key)) === 'resolved',
      apply: (act, key, trace) => this.#applyNow(act, key, trace),
      places: {
        all: async () => (await deps.sync.places()).map((entry) => ({ key: entry.key, act: fromSyncAction(entry.action), ...entry.place })),
        keep: ({ key, act, ...place }) => deps.sync.keepPlace(key, toSyncAction(act), place),
        forget: (key) => deps.sync.forgetPlace(key),
      },
      now: () => deps.context.now(),
      params: deps.context.params,
    });
  }

  /** Keys of ordered actions agreed here and waiting for their turn. */
  held(): Promise<ReadonlySet<string>> {
    return this.#order.held();
  }

  #ordered(act: Action): boolean {
    return declaredAction(this.#deps.actions, this.#deps.context.persona, act.type).ordered === true;
  }

  async propose(incoming: Incoming<unknown>, index: number, act: Action, trace: Record<string, string>): Promise<void> {
    const { context, sync } = this.#deps;
    const key = syncKey(incoming.id, index, act.type);
    // This member's own copy of the request: its place in the NAE's order, before any agreement.
    if (this.#ordered(act)) await this.#order.arrived(act, key);
    const group = context.closeGroup(context.persona, act.nae);
    const result = await sync.propose(key, toSyncAction(act), group);
    await this.broadcast(key, act, trace);
    if (result.resolvedNow) await this.applyAgreed(act, key, trace);
  }

  /** Tells the rest of the close group that this node has seen the action (`resent`: again, still waiting). */
  async broadcast(key: string, act: Action, trace: Record<string, string>, resent = false): Promise<void> {
    const { context } = this.#deps;
    const peers = context.closeGroup(context.persona, act.nae).filter((member) => !nameEquals(member, context.self));
    await this.#tell(peers, key, act, trace, resent);
  }

  async #tell(peers: readonly Name[], key: string, act: Action, trace: Record<string, string>, resent: boolean): Promise<void> {
    const { context } = this.#deps;
    const payload = syncProposalCodec.encode({ key, action: act.type, nae: act.nae, parameters: act.payload, resent });
    // Together, not one acknowledgement after another: the bus sends them in one request.
    await Promise.all(
      peers.map((member) =>
        this.#deps.emit(
          { type: SYNC_MESSAGE, to: { persona: context.persona, nae: member }, scope: 'node', payload, as: act.nae },
          act.nae,
          trace,
        ),
      ),
    );
  }

  /** What a sync step asks of this member next: tell the group it has seen the action, apply it once agreed. */
  async follow(result: SyncResult, key: string, act: Action, trace: Record<string, string>): Promise<void> {
    if (result.tell) await this.broadcast(key, act, trace);
    if (result.resolvedNow) await this.applyAgreed(act, key, trace);
  }

  async receive(envelope: Envelope): Promise<ReceiveResult> {
    const { context, sync } = this.#deps;
    verifyEnvelope(envelope);
    const proposal = syncProposalCodec.decode(envelope.payload);
    if (proposal.nae.length !== NAME_BYTES) throw new MalformedEnvelopeError('sync NAE must be 64 bytes');
    const nae = proposal.nae as Name;
    if (envelope.source.persona !== context.persona || !nameEquals(envelope.source.nae, nae)) {
      throw new WrongSourceError('a sync message must come from this persona, for its own NAE');
    }
    const group = context.closeGroup(context.persona, nae);
    if (!group.some((member) => nameEquals(member, envelope.sender))) {
      throw new SenderNotInGroupError(`${shortName(envelope.sender)} is not in the close group of ${shortName(nae)}`);
    }
    if (!group.some((member) => nameEquals(member, context.self))) return 'not-responsible';
    declaredAction(this.#deps.actions, context.persona, proposal.action).payload.decode(proposal.parameters);
    const act: Action = { type: proposal.action, nae, payload: proposal.parameters };
    const result = await sync.receive(proposal.key, toSyncAction(act), envelope.sender, group, proposal.resent);
    if (result.tell) await this.broadcast(proposal.key, act, envelope.trace);
    // The sender still waits for an action applied here: its peers' Syncs never reached it.
    if (result.answer) await this.#tell([envelope.sender], proposal.key, act, envelope.trace, false);
    if (result.conflicting) await this.#deps.flushTransfers({ nae: toHex(nae) });
    if (result.resolvedNow) await this.applyAgreed(act, proposal.key, envelope.trace);
    return 'synced';
  }

  /**
   * An action the group agreed (Sy), under its sync key. A record of its NAE still queued for a
   * newcomer goes to it first, as it is before the action changes it, with the action as an entry
   * still to apply: a record the action deletes would otherwise never reach the newcomer, nor
   * would what the action sends from it (the newcomer's copy of a DataManager's Delete to the
   * holders, without which the holders never gather K − 1 copies).
   *
   * In a span of this member's own: what the action sends is this member's copy, and the receiver
   * links each member's copy apart (under the sync sender's context they would all look alike).
   * An `ordered` action waits for its turn (ArrivalOrder).
   */
  async applyAgreed(act: Action, key: string, trace: Record<string, string>): Promise<void> {
    if (this.#ordered(act)) await this.#order.agreed(act, key, trace);
    else await this.#applyNow(act, key, trace);
  }

  async #applyNow(act: Action, key: string, trace: Record<string, string>): Promise<void> {
    const span = this.#deps.telemetry.startSpan(`${this.#deps.context.persona} agreed ${act.type}`, trace, []);
    span.setAttribute('safe.nae', toHex(act.nae).slice(0, 16));
    try {
      await this.#deps.flushTransfers({ nae: toHex(act.nae), changing: key });
      await this.apply(act, span.context(), Buffer.from(key, 'hex'), () => this.#deps.sync.reopen(key));
      await this.#deps.applied?.(act.nae, key);
      span.end();
    } catch (error) {
      span.end(error);
      throw error;
    }
  }

  /** `unapplied`: runs when the state change itself failed as unavailable (it wrote nothing), before the error goes on. */
  async apply(act: Action, trace: Record<string, string>, cause: Uint8Array | undefined, unapplied?: () => Promise<void>): Promise<void> {
    const { context } = this.#deps;
    const declaration = declaredAction(this.#deps.actions, context.persona, act.type);
    let outcome: Awaited<ReturnType<typeof declaration.apply>>;
    try {
      outcome = await declaration.apply(declaration.payload.decode(act.payload), context, act.nae);
    } catch (error) {
      if (unapplied !== undefined && asSafeError(error, 'apply').kind === 'unavailable') await unapplied().catch(() => {});
      throw error;
    }
    if (outcome) await this.#deps.carryOut(outcome, trace, act.nae, cause);
  }

  /** Re-sends unresolved entries this node originated; drops those past the attempt limit. */
  async resendDue(): Promise<void> {
    const { send, dropped } = await this.#deps.sync.due();
    for (const entry of dropped)
      this.#deps.context.log.warn({ key: entry.key, action: entry.action.type }, 'sync entry dropped unresolved');
    for (const entry of send) await this.broadcast(entry.key, fromSyncAction(entry.action), {}, true);
    // Dropped entries free the ordered actions queued behind them.
    await this.#order.tick();
  }
}
