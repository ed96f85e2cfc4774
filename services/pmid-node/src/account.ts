import type { ChunkCopy } from '@safe/chunks';
import { copyName } from '@safe/chunks';
import { MalformedPayloadError, NAME_BYTES, type Name, SafeError, toHex } from '@safe/core';
import type { ChunkStore } from './chunk-store.js';
import type { SendAccountBatch } from './messages.js';

/** Incomplete SendAccount rounds kept at once; a newer round pushes the oldest out. */
const MAX_ROUNDS = 2;
/** Most batches one round may have (at the largest batch size, far more copies than any disk holds). */
const MAX_BATCHES = 1 << 20;
/** Copies stored by a Put that a SendAccount may not know yet (the newest, FIFO). */
const RECENT_PUTS = 4096;

export interface ListedCopy {
  readonly name: Name;
  readonly copy: ChunkCopy;
}

const copyKey = (name: Uint8Array, copy: ChunkCopy): string => `${toHex(name)}.${copyName(copy)}`;

/**
 * The PmidNode's side of SendAccount (SPEC.md 3.5): gathers the batches of one round (each
 * accumulated from the PmidManager group by the runtime) and, once a round is whole, makes the
 * disk match it. It also remembers the copies stored since the last round: the managers took their
 * list when the node came back, so a copy a Put stored after that is not on it and must stay.
 */
export class AccountCheck {
  readonly #rounds = new Map<string, { batches: number; parts: Map<number, ListedCopy[]> }>();
  readonly #recentPuts = new Set<string>();

  /** Remembers a copy a Put just stored. */
  stored(name: Uint8Array, copy: ChunkCopy): void {
    const key = copyKey(name, copy);
    this.#recentPuts.delete(key);
    this.#recentPuts.add(key);
    if (this.#recentPuts.size > RECENT_PUTS) {
      const oldest = this.#recentPuts.values().next().value;
      if (oldest !== undefined) this.#recentPuts.delete(oldest);
    }
  }

  /** Adds one agreed batch; the whole list once every batch of its round is in, else undefined. Throws for a malformed batch. */
  add(batch: SendAccountBatch): ListedCopy[] | undefined {
    if (batch.round.length !== NAME_BYTES) throw new MalformedPayloadError('a SendAccount round is 64 bytes');
    if (batch.batches < 1 || batch.batches > MAX_BATCHES || batch.batch >= batch.batches) {
      throw new MalformedPayloadError(`SendAccount batch ${batch.batch} of ${batch.batches}`);
    }
    const listed: ListedCopy[] = batch.chunks.map((c) => {
      if (c.name.length !== NAME_BYTES) throw new MalformedPayloadError('a listed chunk name is 64 bytes');
      return { name: c.name as Name, copy: c.copy };
    });
    const id = toHex(batch.round);
    let round = this.#rounds.get(id);
    if (round === undefined) {
      round = { batches: batch.batches, parts: new Map() };
      this.#rounds.set(id, round);
      for (const old of this.#rounds.keys()) if (this.#rounds.size > MAX_ROUNDS) this.#rounds.delete(old);
    }
    if (round.batches !== batch.batches) throw new MalformedPayloadError('SendAccount batches disagree on their count');
    round.parts.set(batch.batch, listed);
    if (round.parts.size < round.batches) return undefined;
    this.#rounds.delete(id);
    return [...round.parts.entries()].sort(([a], [b]) => a - b).flatMap(([, part]) => part);
  }

  /**
   * Makes the disk match the account: deletes every copy not listed (deleted or lost while the node
   * was away) unless a Put stored it since, and returns the listed copies that are missing or no
   * longer hash to their name (a corrupt one is deleted too) — the node reports those as lost.
   */
  async reconcile(chunks: ChunkStore, listed: readonly ListedCopy[]): Promise<ListedCopy[]> {
    const wanted = new Set(listed.map((c) => copyKey(c.name, c.copy)));
    for (const held of await chunks.list()) {
      const key = copyKey(held.name, held.copy);
      if (!wanted.has(key) && !this.#recentPuts.has(key)) await chunks.delete(held.name, held.copy);
    }
    this.#recentPuts.clear();
    const lost: ListedCopy[] = [];
    for (const copy of listed) {
      try {
        await chunks.get(copy.name, copy.copy);
      } catch (error) {
        if (!(error instanceof SafeError) || error.kind === 'internal') throw error;
        await chunks.delete(copy.name, copy.copy);
        lost.push(copy);
      }
    }
    return lost;
  }
}
