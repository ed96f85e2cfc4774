import type { ChunkCopy } from '@safe/chunks';
import { copyName } from '@safe/chunks';
import { toHex } from '@safe/core';
import { migrate, type SqlDatabase } from '@safe/sql';
import { loadPmidManagerConfig, type PmidManagerConfig } from './config.js';
import { migrations } from './migrations.js';
import { PmidManagerStore } from './store.js';

export interface PmidManagerState {
  readonly store: PmidManagerStore;
  readonly config: PmidManagerConfig;
  /**
   * Sacrificial copies a node reported deleted for room (agreed) before its store of them was
   * agreed here, by `lossKey`, with the id of its report and when it was agreed: the RecordStored
   * that follows records nothing and passes the loss on instead (actions/record-stored.ts).
   * Bounded, oldest out; one older than the accumulator's memory answers no store on its way.
   */
  readonly lostBeforeStored: Map<string, { readonly report: Uint8Array; readonly at: number }>;
}

/** Losses remembered ahead of their store at most: a node's word cannot grow the replica's memory without bound. */
export const LOST_BEFORE_STORED_LIMIT = 1024;

export function lossKey(pmid: Uint8Array, name: Uint8Array, copy: ChunkCopy): string {
  return `${toHex(pmid)}:${toHex(name)}:${copyName(copy)}`;
}

/** Remembers a loss agreed before the store it undoes (the oldest goes beyond the limit). */
export function rememberLostBeforeStored(state: PmidManagerState, key: string, report: Uint8Array, at: number): void {
  state.lostBeforeStored.delete(key);
  state.lostBeforeStored.set(key, { report, at });
  while (state.lostBeforeStored.size > LOST_BEFORE_STORED_LIMIT) {
    const oldest = state.lostBeforeStored.keys().next().value;
    if (oldest === undefined) break;
    state.lostBeforeStored.delete(oldest);
  }
}

/** The report of a loss that came before this store, taken (once); undefined when there is none since `since`. */
export function takeLostBeforeStored(state: PmidManagerState, key: string, since: number): Uint8Array | undefined {
  const loss = state.lostBeforeStored.get(key);
  state.lostBeforeStored.delete(key);
  return loss !== undefined && loss.at >= since ? loss.report : undefined;
}

/** Brings the replica's schema up to date and opens its state. */
export async function openPmidManagerState(
  db: SqlDatabase,
  config: PmidManagerConfig = loadPmidManagerConfig({}),
): Promise<PmidManagerState> {
  await migrate(db, migrations);
  return { store: new PmidManagerStore(db), config, lostBeforeStored: new Map() };
}
