import type { ChunkCache } from './chunk-cache.js';
import type { GroupParameters } from './config.js';
import type { Address, Authority, Scope } from './envelope.js';
import type { Name } from './name.js';
import type { Logger } from './ports.js';
import type { Codec } from './proto.js';
import type { MatrixChange, PersonaName, RankReport, RoutingTable, SourcePersona } from './routing.js';

/**
 * How copies are counted before the handler runs (SPEC.md 4):
 * - `group`: K − 1 copies from distinct members of the sending close group;
 * - `first`: the first copy from a member of the sending close group, the rest are late (a read
 *   such as Get<Data> from DataManager, "accumulate on 1": members that answered from their
 *   cache never send theirs, so waiting for K − 1 would starve the fetch);
 * - `single`: one copy from an authenticated entity (a client or a PmidNode);
 * - `none`: every authenticated copy is handled (e.g. GetPMIDHealth: "answer every call").
 */
export type Accumulation = 'group' | 'first' | 'single' | 'none';

/** A message after accumulation, with its payload decoded. */
export interface Incoming<P> {
  readonly id: Uint8Array;
  readonly type: string;
  readonly payload: P;
  readonly source: Address;
  readonly authority: Authority;
  readonly destination: Address;
  /** The sender of the copy that completed the quorum; for `single`, the authenticated entity. */
  readonly sender: Name;
  readonly correlation: Uint8Array;
  readonly replyTo?: Address;
  /** The bulk content (a chunk) of a message declared with `content`, checked against the digest its copies agreed on; empty otherwise. */
  readonly content: Uint8Array;
  /** false: its declaration has no firewall (Fw), so an answer to it is not recorded either: a repeat is handled again. */
  readonly firewalled?: false;
}

/** A message this node sends (So). The runtime signs it and puts it on the wire. */
export interface Outbound {
  readonly type: string;
  readonly to: Address;
  readonly scope: Scope;
  readonly payload: Uint8Array;
  /** The NAE this node speaks for as a group member; defaults to the NAE of the message being handled. */
  readonly as?: Name;
  /** Defaults to `group` for manager personas and `single` for entity personas (PmidNode). */
  readonly authority?: Authority;
  readonly correlation?: Uint8Array;
  readonly replyTo?: Address;
  /** Uf: this message answers request `answers`; the firewall keeps it to answer repeats. */
  readonly answers?: Uint8Array;
  /**
   * Bulk content (a chunk): every copy carries its digest, one designated copy the content
   * (for a group, the member of the sending group closest to the message id).
   */
  readonly content?: Uint8Array;
}

/** A change to the persona's store. Under `sync`, applied only once the close group of `nae` agrees. */
export interface Action {
  readonly type: string;
  readonly nae: Name;
  readonly payload: Uint8Array;
}

/** What a handler returns: messages to send and store changes. Handlers never send or write themselves. */
export interface Outcome {
  readonly send?: readonly Outbound[];
  readonly actions?: readonly Action[];
}

export const NOTHING: Outcome = {};

export interface HandlerContext<S> {
  readonly self: Name;
  readonly persona: PersonaName;
  readonly params: GroupParameters;
  readonly state: S;
  /** The replica's opportunistic cache of self-validating chunks (SPEC.md 4 Caching). */
  readonly cache: ChunkCache;
  readonly log: Logger;
  routing(): RoutingTable;
  /** The close group of `nae` among `persona`'s nodes, closest first. */
  closeGroup(persona: PersonaName, nae: Name): Name[];
  /** Whether this node is in its own persona's close group of `nae`. */
  isResponsible(nae: Name): boolean;
  now(): number;
}

export type Handler<P, S> = (message: Incoming<P>, ctx: HandlerContext<S>) => Outcome | Promise<Outcome>;

/** One row of a persona's table in SPEC.md. */
export interface MessageDeclaration<P, S> {
  readonly type: string;
  /** Who may send it. */
  readonly from: readonly SourcePersona[];
  readonly accumulate: Accumulation;
  /** Fw: repeats are answered from the firewall, never handled twice. */
  readonly firewall: boolean;
  /** Sy: the handler's actions are applied only once floor(K/2)+1 members of the group saw them. */
  readonly sync: boolean;
  /**
   * The message carries bulk content (a chunk) beside its payload: the copies agree on its digest,
   * it travels on one copy, and the handler runs once it is here and matches (Incoming.content).
   */
  readonly content?: boolean;
  /**
   * A client sends it to the close group of its own name (its account): addressed to any other
   * NAE it is refused with PERMISSION_DENIED, at the entry and by every member.
   */
  readonly toOwnName?: boolean;
  /**
   * Under Sy: the handler chooses its action by the NAE's record, which a concurrent request's
   * agreed action can change before this one's resolves. While its votes are open, a member handles
   * it again after each action applied at the NAE and moves its vote to what it decides now.
   */
  readonly redecides?: boolean;
  readonly payload: Codec<P>;
  readonly handle: Handler<P, S>;
}

export interface ActionDeclaration<P, S> {
  readonly type: string;
  readonly payload: Codec<P>;
  /** Writes the change; may send messages that follow from it (e.g. "both copies stored"). */
  readonly apply: (params: P, ctx: HandlerContext<S>, nae: Name) => Outcome | undefined | Promise<Outcome | undefined>;
  /**
   * What a member owes for this action when its effect reached it inside a transferred record
   * (account transfer) instead of through apply: the answers and waits of apply, with no change
   * to the store. The members that applied it may have left the group, and whoever asked counts
   * answers from the group as it is now.
   */
  readonly owed?: (params: P, ctx: HandlerContext<S>, nae: Name) => Outcome | undefined | Promise<Outcome | undefined>;
  /**
   * The rules this action runs depend on the order of one NAE's actions (a second root, a limit):
   * the group's agreed actions of the NAE are applied in the order their requests arrived, the
   * same on every member, not in the order their Syncs resolved (runtime/arrival-order.ts).
   */
  readonly ordered?: boolean;
}

/** A matrix change in some persona's XOR space, as this node sees it. */
export interface ChurnEvent {
  readonly persona: PersonaName;
  readonly change: MatrixChange;
}

/** One record of a manager's store, as account transfer sees it: the NAE it belongs to and its key there. */
export interface RecordRef {
  readonly nae: Name;
  /** The record's key within its NAE, as the persona defines it (may be empty: one record per NAE). */
  readonly key: Uint8Array;
}

/**
 * The store of a manager persona as account transfer (SPEC.md 4) uses it. On a matrix change of
 * its own persona the runtime lists every record, hands each to the members that entered its
 * NAE's close group and drops those this node is no longer responsible for; a receiver writes a
 * record once (K+1)/2 members sent the same value.
 */
export interface PersonaRecords<S> {
  /** Every record this replica holds, keys only, in batches, in a stable order. */
  list(ctx: HandlerContext<S>): AsyncIterable<readonly RecordRef[]>;
  /**
   * The record's value, encoded deterministically (members holding the same record produce the
   * same bytes); undefined when the record is not there (any more).
   */
  read(ctx: HandlerContext<S>, nae: Name, key: Uint8Array): Promise<Uint8Array | undefined>;
  /**
   * Replaces the record with an agreed value in one transaction (never half-written); writing the
   * same value again changes nothing. Throws a SafeError for a value or key that does not belong to `nae`.
   */
  write(ctx: HandlerContext<S>, nae: Name, key: Uint8Array, value: Uint8Array): Promise<void>;
  /** Removes the record (this node is no longer responsible for its NAE); no error when it is absent. */
  drop(ctx: HandlerContext<S>, nae: Name, key: Uint8Array): Promise<void>;
}

export interface PersonaDefinition<S> {
  readonly persona: PersonaName;
  /** Entity personas (PmidNode) speak for themselves; managers speak as groups. */
  readonly speaksAs: Authority;
  // biome-ignore lint/suspicious/noExplicitAny: a table holds declarations of many payload types
  readonly messages: readonly MessageDeclaration<any, S>[];
  // biome-ignore lint/suspicious/noExplicitAny: as above
  readonly actions: readonly ActionDeclaration<any, S>[];
  /** Churn in any persona this one cares about (its own: account transfer; PmidNodes: re-replication). */
  readonly onChurn?: (event: ChurnEvent, ctx: HandlerContext<S>) => Outcome | Promise<Outcome>;
  /** Each runtime tick (SAFE_TICK_MS): work the persona left for later, e.g. retries of what got no answer. */
  readonly onTick?: (ctx: HandlerContext<S>) => Outcome | Promise<Outcome>;
  /** A manager's records, for account transfer on churn in its own persona. Entity personas have none. */
  readonly records?: PersonaRecords<S>;
  /**
   * What this replica announces of the ranks of the nodes it manages (PmidManagers: SPEC.md 3.4
   * Ranking). The host re-announces when it changes, so every replica's routing view carries it.
   */
  readonly rankReports?: (state: S) => Promise<readonly RankReport[]>;
}

/** Declares one message type; exists so TypeScript infers the payload type for the handler. */
export function message<P, S>(declaration: MessageDeclaration<P, S>): MessageDeclaration<P, S> {
  return declaration;
}

export function action<P, S>(declaration: ActionDeclaration<P, S>): ActionDeclaration<P, S> {
  return declaration;
}

/** The address a reply to `incoming` goes to: the entry node for a client, the source group, or the sending entity. */
export function replyAddress(incoming: Incoming<unknown>): { to: Address; scope: Scope } {
  if (incoming.replyTo !== undefined) return { to: incoming.replyTo, scope: 'node' };
  if (incoming.authority === 'group') return { to: incoming.source, scope: 'close-group' };
  return { to: { persona: incoming.source.persona, nae: incoming.sender }, scope: 'node' };
}

/** Answers `incoming` (So + Uf): the runtime records the answer in the firewall. */
export function reply(incoming: Incoming<unknown>, type: string, payload: Uint8Array): Outbound {
  return { ...replyAddress(incoming), type, payload, correlation: incoming.id, answers: incoming.id };
}
