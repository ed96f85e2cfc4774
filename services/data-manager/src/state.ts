import type { ChunkCopy, PutContext } from '@safe/chunks';
import { copyName } from '@safe/chunks';
import { type ClientOrigin, type Name, toHex } from '@safe/core';
import { migrate, type SqlDatabase } from '@safe/sql';
import type { DataManagerConfig } from './config.js';
import type { HolderLoss } from './messages.js';
import { migrations } from './migrations.js';
import { DataManagerStore, type HeldCopy } from './store.js';

/** A Get in progress (pending-gets.ts): the clients waiting, the holder asked last and those of the round not asked yet. */
export interface PendingGet {
  readonly name: Name;
  readonly waiting: ClientOrigin[];
  current: Name;
  remaining: Name[];
  sentAt: number;
  /** The round's asks' correlation: the client request that started the Get, hashed again for each round after. */
  readonly correlation: Uint8Array;
}

export interface DataManagerState {
  readonly store: DataManagerStore;
  readonly config: DataManagerConfig;
  /** Content of copies not yet stored on enough holders, to retry on another one. Bounded, oldest out. */
  readonly pendingContent: Map<string, Uint8Array>;
  /** Puts of a chunk whose first store is still under way; answered when it completes. */
  readonly waiters: Map<string, PutContext[]>;
  readonly pendingGets: Map<string, PendingGet>;
  /** Re-replications in flight (churn/repair.ts), by copy key; at most `maxRepairs`. */
  readonly repairs: Map<string, Repair>;
  /** PmidNodes gone with copies not yet checked or re-stored (hex); at most one entry per PmidNode. */
  readonly departed: Set<string>;
  /**
   * Copies short of live holders with no departed PmidNode to blame, by copy key, until they are
   * back at their count (churn/repair.ts): a live holder lost the copy (integrity check,
   * HolderLost) or a chosen holder's store stalled.
   */
  readonly lostCopies: Map<string, HeldCopy>;
  /**
   * When this replica first saw each chosen holder still pending (`copyKey@pmid hex`), for the
   * stalled-store check (churn/repair.ts); only holders pending now, at most one page of them.
   */
  readonly pendingSince: Map<string, number>;
  /**
   * Losses agreed ahead of the holder's stored answer (actions/mark-holder-lost.ts), by
   * `copyKey@pmid hex`, applied right after it. Bounded like the pending content: oldest out.
   */
  readonly lossesAhead: Map<string, { readonly loss: HolderLoss; readonly at: number }>;
  /**
   * Subscribers agreed ahead of the record itself, by copy key: a concurrent Put's AddSubscriber,
   * which its proposers decided on a CreateRecord applied there before it was here. Added when
   * the record's CreateRecord is applied, once; bounded like the pending content, oldest out.
   */
  readonly subscribersAhead: Map<string, { readonly contexts: readonly (PutContext | null | undefined)[]; readonly at: number }>;
  /** Data integrity checks awaiting holders' answers (integrity/check.ts), by copy key; at most `integrityBatch`. */
  readonly checks: Map<string, IntegrityCheck>;
  /** The last integrity period a page of copies was checked in. */
  integrityEpoch: number;
  /** When the tick next sweeps tombstones and leftovers (churn/leftovers.ts). */
  nextSweepAt: number;
  /** What this replica heard of its close peers' farming rates (farming/refresh.ts). */
  readonly farming: FarmingPeers;
}

/** The close peers' farming rates, for the group value (their median with this replica's own). */
export interface FarmingPeers {
  /** The latest refresh each close peer sent, by hex name: current close peers only, so at most K. */
  readonly peers: Map<string, PeerRate>;
  /** When this replica last sent its rate to its close peers (the periodic refresh). */
  lastSentAt: number;
  /** The sequence of the last refresh this replica sent: each one is later than the one before. */
  sequence: number;
}

/** One close peer's latest refresh. */
export interface PeerRate {
  readonly rate: number;
  /**
   * The rate is the peer's own measure, moved by sacrificial copies, not one it adopted: only those
   * are what a newcomer adopts from, or newcomers would echo each other.
   */
  readonly moved: boolean;
  /** Its sender's sequence: a refresh that arrives after a later one is ignored. */
  readonly sequence: number;
}

/** One copy's integrity check: the holders asked, their answers (undefined: not yet; null: "don't have it"). */
export interface IntegrityCheck {
  readonly name: Name;
  readonly copy: ChunkCopy;
  readonly group: Name;
  readonly nonce: Uint8Array;
  readonly holders: readonly Name[];
  readonly answers: Map<string, Uint8Array | null>;
  /** Holders judged to have lost the copy so far. */
  readonly lost: Name[];
  /** When no majority agrees: the holders still to read the content from, to judge the answers by it. */
  sources: Name[];
  readonly startedAt: number;
}

/** A PmidNode to read a repair's content from, and which copy of the chunk to ask it for. */
export interface RepairSource {
  readonly pmid: Name;
  readonly copy: ChunkCopy;
}

/** One copy being stored again: its content read from the first of `sources` (none: have it), stored on `target`. */
export interface Repair {
  readonly name: Name;
  /** The copy group repaired (its NAE): the order in which members take repairs. */
  readonly group: Name;
  readonly sources: RepairSource[];
  readonly target: Name;
  /** Shared by the group's members (same record, same view), so their copies of Get and Put accumulate. */
  readonly correlation: Uint8Array;
  readonly startedAt: number;
}

export function copyKey(name: Uint8Array, copy: ChunkCopy): string {
  return `${toHex(name)}:${copyName(copy)}`;
}

/** One holder of one copy: `copyKey@pmid hex`. */
export function copyHolderKey(name: Uint8Array, copy: ChunkCopy, pmid: Uint8Array): string {
  return `${copyKey(name, copy)}@${toHex(pmid)}`;
}

/** Brings the replica's schema up to date and opens its state. */
export async function openDataManagerState(db: SqlDatabase, config: DataManagerConfig): Promise<DataManagerState> {
  await migrate(db, migrations);
  const store = new DataManagerStore(db);
  // Read once at open: the scrape and the group value need the replica's own rate at hand.
  await store.farmingRate(config.farmingPolicy);
  return {
    store,
    config,
    pendingContent: new Map(),
    waiters: new Map(),
    pendingGets: new Map(),
    repairs: new Map(),
    departed: new Set(),
    lostCopies: new Map(),
    nextSweepAt: 0,
    pendingSince: new Map(),
    lossesAhead: new Map(),
    subscribersAhead: new Map(),
    checks: new Map(),
    integrityEpoch: -1,
    farming: { peers: new Map(), lastSentAt: Number.NEGATIVE_INFINITY, sequence: 0 },
  };
}

export function keepContent(state: DataManagerState, key: string, content: Uint8Array): void {
  if (state.config.pendingContentLimit === 0) return;
  rememberNewest(state.pendingContent, key, content, state.config.pendingContentLimit);
}

/** Sets `key` as the newest entry of a bounded in-memory map; past `limit` entries the oldest go. */
export function rememberNewest<V>(map: Map<string, V>, key: string, value: V, limit: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > limit) {
    const oldest = map.keys().next().value;
    if (oldest === undefined) break;
    map.delete(oldest);
  }
}
