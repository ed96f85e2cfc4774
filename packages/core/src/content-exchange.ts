import { contentDigest, namesNoContent } from './content.js';
import type { Envelope } from './envelope.js';
import { closestNames, type Name, nameEquals, toHex } from './name.js';

/**
 * Bulk content a replica holds by digest, oldest out first, within a byte budget: content that
 * came before its message's quorum, and content this replica sent or handled, which peers that
 * missed it may pull. Nothing here is needed for correctness once evicted: a message whose
 * content is gone pulls it again from one of its senders.
 */
export class ContentStore {
  readonly #budget: number;
  readonly #entries = new Map<string, { readonly content: Uint8Array; until: number }>();
  #bytes = 0;

  constructor(budgetBytes: number) {
    this.#budget = budgetBytes;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get budget(): number {
    return this.#budget;
  }

  /** Keeps `content` under `digest` until `until`, evicting the oldest to make room; false when it is larger than the whole budget. */
  keep(digest: string, content: Uint8Array, until: number): boolean {
    const held = this.#entries.get(digest);
    if (held !== undefined) {
      // Moved to the newest end, so the map stays in order of expiry and prune stops at the first live entry.
      this.#entries.delete(digest);
      this.#entries.set(digest, { content: held.content, until: Math.max(held.until, until) });
      return true;
    }
    if (content.length > this.#budget) return false;
    for (const [key, entry] of this.#entries) {
      if (this.#bytes + content.length <= this.#budget) break;
      this.#remove(key, entry.content);
    }
    this.#entries.set(digest, { content, until });
    this.#bytes += content.length;
    return true;
  }

  get(digest: string): Uint8Array | undefined {
    return this.#entries.get(digest)?.content;
  }

  /** Forgets content whose time is over: the oldest entries, up to the first still live (one tick costs what expired, not what is held). */
  prune(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.until > now) break;
      this.#remove(key, entry.content);
    }
  }

  #remove(key: string, content: Uint8Array): void {
    this.#entries.delete(key);
    this.#bytes -= content.length;
  }
}

/** A message that reached its quorum without its content: handled once the content comes (by a late copy or a pull). */
export interface AwaitingContent<T> {
  readonly envelope: Envelope;
  readonly work: T;
  readonly since: number;
  nextPull: number;
  pulls: number;
}

/** Where a pull for a digest goes: one of the members that sent a copy of the message. */
export interface ContentPull {
  readonly digest: Uint8Array;
  readonly from: { readonly persona: string; readonly name: Name };
}

export interface ContentExchangeOptions {
  readonly self: Name;
  readonly budgetBytes: number;
  /** How long a message with its quorum waits for the content copy before pulling it from a sender, and between pulls. */
  readonly waitMs: number;
  /** How long content, senders and waiting messages are remembered (the accumulator's memory). */
  readonly memoryMs: number;
  /** Most messages waiting for content at once; past it a message is refused. */
  readonly maxAwaiting: number;
}

const NO_CONTENT = new Uint8Array(0);

/** Senders remembered per message id for pulls; oldest out past this many ids. */
const MAX_SENDER_IDS = 8192;

/**
 * The receiving side of content that travels once (ARCHITECTURE.md "Group message"): the K copies
 * of a message agree on a digest, one designated copy carries the content. This keeps what came,
 * remembers who sent each message (the members to pull from), and holds messages whose quorum
 * came before their content until it comes.
 */
export class ContentExchange<T> {
  readonly store: ContentStore;
  readonly #options: ContentExchangeOptions;
  readonly #senders = new Map<string, { readonly persona: string; readonly names: Name[]; readonly until: number }>();
  readonly #awaiting = new Map<string, AwaitingContent<T>[]>();
  #awaitingCount = 0;

  constructor(options: ContentExchangeOptions) {
    this.#options = options;
    this.store = new ContentStore(options.budgetBytes);
  }

  get awaitingCount(): number {
    return this.#awaitingCount;
  }

  /** A counted copy of a message with content: keeps its content (already checked against the digest) and notes its sender. */
  noteCopy(envelope: Envelope, now: number): void {
    const id = toHex(envelope.id);
    const known = this.#senders.get(id);
    if (known === undefined) {
      if (this.#senders.size >= MAX_SENDER_IDS) this.#senders.delete(this.#senders.keys().next().value as string);
      this.#senders.set(id, { persona: envelope.source.persona, names: [envelope.sender], until: now + this.#options.memoryMs });
    } else if (!known.names.some((name) => nameEquals(name, envelope.sender))) known.names.push(envelope.sender);
    if (envelope.content !== undefined && envelope.contentDigest !== undefined) {
      this.store.keep(toHex(envelope.contentDigest), envelope.content, now + this.#options.memoryMs);
    }
  }

  /** Content this replica sent or handled, kept for peers that pull it. */
  keepSent(content: Uint8Array, now: number): Name {
    const digest = contentDigest(content);
    this.store.keep(toHex(digest), content, now + this.#options.memoryMs);
    return digest;
  }

  /** The content of `envelope`'s message, if this replica has it (no content, for the digest of nothing). */
  contentOf(envelope: Envelope): Uint8Array | undefined {
    if (envelope.content !== undefined) return envelope.content;
    if (namesNoContent(envelope.contentDigest)) return NO_CONTENT;
    return envelope.contentDigest === undefined ? undefined : this.store.get(toHex(envelope.contentDigest));
  }

  /** Holds a message whose quorum came before its content; false when too many already wait. */
  await(envelope: Envelope, work: T, now: number): boolean {
    if (this.#awaitingCount >= this.#options.maxAwaiting || envelope.contentDigest === undefined) return false;
    const key = toHex(envelope.contentDigest);
    const entry: AwaitingContent<T> = { envelope, work, since: now, nextPull: now + this.#options.waitMs, pulls: 0 };
    this.#awaiting.set(key, [...(this.#awaiting.get(key) ?? []), entry]);
    this.#awaitingCount++;
    return true;
  }

  /** The messages waiting for `digest`, taken out: their content has come. */
  takeAwaiting(digest: Uint8Array): AwaitingContent<T>[] {
    const key = toHex(digest);
    const waiting = this.#awaiting.get(key);
    if (waiting === undefined) return [];
    this.#awaiting.delete(key);
    this.#awaitingCount -= waiting.length;
    return waiting;
  }

  /**
   * Due pulls (each waiting message asks the next of its senders in turn, every `waitMs`), and
   * the waiting messages whose time ran out, taken out. Forgets old senders and content.
   */
  tick(now: number): { pulls: ContentPull[]; expired: AwaitingContent<T>[] } {
    this.store.prune(now);
    // Noted in time order with one memory: the expired ones are the oldest.
    for (const [id, known] of this.#senders) {
      if (known.until > now) break;
      this.#senders.delete(id);
    }
    const pulls: ContentPull[] = [];
    const expired: AwaitingContent<T>[] = [];
    if (this.#awaitingCount === 0) return { pulls: [], expired: [] };
    for (const [key, waiting] of this.#awaiting) {
      const rest: AwaitingContent<T>[] = [];
      for (const entry of waiting) {
        if (entry.since + this.#options.memoryMs <= now) {
          expired.push(entry);
          continue;
        }
        rest.push(entry);
        if (entry.nextPull > now) continue;
        const from = this.#pullTarget(entry);
        entry.nextPull = now + this.#options.waitMs;
        entry.pulls++;
        if (from !== undefined) pulls.push({ digest: entry.envelope.contentDigest as Uint8Array, from });
      }
      if (rest.length > 0) this.#awaiting.set(key, rest);
      else this.#awaiting.delete(key);
      this.#awaitingCount -= waiting.length - rest.length;
    }
    return { pulls, expired };
  }

  /** The sender to ask next: senders in turn, the designated one (closest to the id) first. */
  #pullTarget(entry: AwaitingContent<T>): ContentPull['from'] | undefined {
    const known = this.#senders.get(toHex(entry.envelope.id));
    const names = (known?.names ?? [entry.envelope.sender]).filter((name) => !nameEquals(name, this.#options.self));
    if (names.length === 0) return undefined;
    const ordered = closestNames(entry.envelope.id as Name, names, names.length);
    const name = ordered[entry.pulls % ordered.length] as Name;
    return { persona: known?.persona ?? entry.envelope.source.persona, name };
  }
}
