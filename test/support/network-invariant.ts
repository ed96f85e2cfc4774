import { CHUNK_COPIES, type ChunkCopy, copyName, MUST_STORE_COPIES } from '@safe/chunks';
import { type HandlerContext, type Identity, type Name, nameOf, sha512, toHex } from '@safe/core';
import { chunkRecordValueCodec, copyKey, type DataManagerState, parseChunkRecordKey } from '@safe/data-manager';
import { accountRecordCodec } from '@safe/maid-manager';
import type { PmidNodeState } from '@safe/pmid-node';
import { checkRecordInvariant } from './records-invariant.js';
import type { SimNet } from './sim-network.js';

const copyId = (name: Uint8Array, copy: ChunkCopy) => `${toHex(name)}.${copyName(copy)}`;
const short = (hex: string) => hex.slice(0, 8);

/** The live PmidNodes whose own disks hold the copy. */
export async function liveHolders(net: SimNet, name: Name, copy: ChunkCopy): Promise<Name[]> {
  const out: Name[] = [];
  for (const node of net.sim.nodes('pmid-node')) {
    if (await (node.replica.context as HandlerContext<PmidNodeState>).state.chunks.has(name, copy)) out.push(node.info.name);
  }
  return out;
}

/**
 * Every copy on a live PmidNode's disk: `name(hex).COPY` → the PmidNodes (hex) holding it. One
 * directory listing per node, so checking many chunks costs no more than checking one.
 */
export async function liveCopies(net: SimNet): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  for (const node of net.sim.nodes('pmid-node')) {
    for (const { name, copy } of await (node.replica.state as PmidNodeState).chunks.list()) {
      const id = copyId(name, copy);
      const on = out.get(id) ?? new Set<string>();
      on.add(toHex(node.info.name));
      out.set(id, on);
    }
  }
  return out;
}

/** The PmidNodes (hex) holding some copy, any copy, of the chunk. */
export function holdersOfAnyCopy(copies: Map<string, Set<string>>, name: Name): Set<string> {
  return new Set(CHUNK_COPIES.flatMap((copy) => [...(copies.get(copyId(name, copy)) ?? [])]));
}

/** Repairs in flight on each DataManager replica. */
export const repairsInFlight = (net: SimNet): number[] =>
  net.sim.nodes('data-manager').map((n) => (n.replica.context as HandlerContext<DataManagerState>).state.repairs.size);

/**
 * Settles; a repair still in flight then got no answer (its group's members fell out of step, or
 * a message went to a node that left): past `repairRetryMs` a tick gives it up and starts again.
 */
export async function settleRepairs(net: SimNet, rounds = 20): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    await net.settleChurn();
    if (repairsInFlight(net).every((n) => n === 0)) return;
    net.sim.clock.advance(net.dataManagerConfig.repairRetryMs);
    await net.sim.tickAll();
  }
}

/**
 * What one client has stored, as the client itself knows it: acknowledged Puts less acknowledged
 * Deletes. Each Put of a name is one copy charged at the chunk's size; a Delete takes one away.
 */
export class ClientFiles {
  readonly client: Identity;
  readonly #files = new Map<string, { content: Uint8Array; copies: number }>();
  /** Every name this client ever stored (hex), deleted or not. */
  readonly everStored = new Set<string>();

  constructor(client: Identity) {
    this.client = client;
  }

  put(content: Uint8Array): void {
    const hex = toHex(nameOf(content));
    const file = this.#files.get(hex) ?? { content, copies: 0 };
    file.copies++;
    this.#files.set(hex, file);
    this.everStored.add(hex);
  }

  delete(name: Name): void {
    const hex = toHex(name);
    const file = this.#files.get(hex);
    if (file === undefined) throw new Error(`the client never stored ${short(hex)}`);
    if (--file.copies === 0) this.#files.delete(hex);
  }

  /** The contents the client holds at least one copy of. */
  get live(): Uint8Array[] {
    return [...this.#files.values()].map((f) => f.content);
  }

  copies(name: Name): number {
    return this.#files.get(toHex(name))?.copies ?? 0;
  }

  /** What the account must charge: every copy at its size. */
  get stored(): number {
    return [...this.#files.values()].reduce((sum, f) => sum + f.content.length * f.copies, 0);
  }
}

/**
 * SPEC.md 5a on a settled network, for the clients' own view of what they stored:
 * (a) every manager record on exactly the K replicas closest to it, all agreeing;
 * (b) every must-store copy of every live chunk on at least `copiesPerGroup` live PmidNodes;
 * (c) every client's account (the MaidManagers' record of it) charges exactly its live copies:
 *     stored bytes, and one entry per name with its copies and cost; each chunk record counts
 *     exactly the clients' copies as subscribers;
 * (d) a deleted name is charged no more (no entry left), and a chunk no client holds any more
 *     has no record left and no copy on a live PmidNode.
 * Returns what is wrong (empty when nothing).
 */
export async function checkNetworkInvariant(net: SimNet, clients: readonly ClientFiles[]): Promise<string[]> {
  const { violations, held } = await checkRecordInvariant(net);
  const copies = await liveCopies(net);
  const needed = net.dataManagerConfig.copiesPerGroup;

  const subscribers = new Map<string, number>();
  for (const files of clients) {
    for (const content of files.live) {
      const hex = toHex(nameOf(content));
      subscribers.set(hex, (subscribers.get(hex) ?? 0) + files.copies(nameOf(content)));
    }
  }
  for (const hex of subscribers.keys()) {
    for (const copy of MUST_STORE_COPIES) {
      const on = copies.get(`${hex}.${copyName(copy)}`)?.size ?? 0;
      if (on < needed) violations.push(`chunk ${short(hex)}/${copyName(copy)} on ${on} live PmidNodes, fewer than ${needed}`);
    }
  }

  const recorded = new Set<string>();
  for (const record of held['data-manager'].values()) {
    const chunk = parseChunkRecordKey(record.key);
    const value = [...record.values.values()].find((v) => v !== '(gone)');
    if (chunk === undefined || value === undefined) continue;
    const { subscribers: actual, deleted } = chunkRecordValueCodec.decode(Buffer.from(value, 'hex'));
    if (deleted) continue; // a tombstone: the copy was deleted
    const hex = toHex(chunk.name);
    recorded.add(hex);
    const expected = subscribers.get(hex) ?? 0;
    if (actual !== expected)
      violations.push(`chunk ${short(hex)}/${copyName(chunk.copy)}: ${actual} subscribers, the clients hold ${expected} copies`);
  }

  for (const files of clients) {
    const who = `client ${short(toHex(files.client.name))}`;
    // The account as the MaidManagers hold it (what GetAccount answers from); the record
    // invariant above already holds every member of the group to the same value.
    const record = [...held['maid-manager'].values()].find((r) => toHex(r.nae) === toHex(files.client.name));
    const value = record && [...record.values.values()].find((v) => v !== '(gone)');
    if (value === undefined) {
      violations.push(`${who}: no account`);
      continue;
    }
    const account = accountRecordCodec.decode(Buffer.from(value, 'hex'));
    if (account.stored !== files.stored)
      violations.push(`${who}: account stored ${account.stored}, its live copies are ${files.stored} bytes`);
    const entries = new Map(account.entries.map((e) => [toHex(e.key), e]));
    for (const content of files.live) {
      const name = nameOf(content);
      const entry = entries.get(toHex(sha512(name)));
      const copies = files.copies(name);
      entries.delete(toHex(sha512(name)));
      if (entry?.copies !== copies || entry.cost !== copies * content.length)
        violations.push(
          `${who}: entry of ${short(toHex(name))} is ${JSON.stringify(entry && { copies: entry.copies, cost: entry.cost })}, the client holds ${copies} copies`,
        );
    }
    if (entries.size > 0) violations.push(`${who}: ${entries.size} entries for names it no longer holds (charged after Delete)`);
    for (const hex of files.everStored) {
      if (subscribers.has(hex)) continue;
      const name = Buffer.from(hex, 'hex') as unknown as Name;
      if (recorded.has(hex)) violations.push(`deleted chunk ${short(hex)}: a DataManager record is left`);
      const on = holdersOfAnyCopy(copies, name);
      if (on.size > 0) violations.push(`deleted chunk ${short(hex)}: still on live PmidNodes ${[...on].map(short).join(', ')}`);
    }
  }
  return violations;
}

/** Where a chunk stands, copy by copy: each DataManager's holder list (live or not, state) and the live PmidNodes holding it. For failure messages. */
export async function describeChunk(net: SimNet, name: Name): Promise<string> {
  const copies = await liveCopies(net);
  const lines: string[] = [];
  for (const copy of CHUNK_COPIES) {
    lines.push(
      `${short(toHex(name))}/${copyName(copy)}: on live PmidNodes [${[...(copies.get(copyId(name, copy)) ?? [])].map(short).join(' ')}]`,
    );
    for (const dm of net.dataManagersOf(name, copy)) {
      const state = (dm.replica.context as HandlerContext<DataManagerState>).state;
      const record = await state.store.record(name, copy);
      const holders = record ? await state.store.holders(record.id) : [];
      const list = holders.map((h) => `${short(toHex(h.pmid))}${net.sim.node(h.pmid) ? '' : '(gone)'}:${h.state}`);
      const fetch = state.pendingGets.get(copyKey(name, copy));
      const pending = fetch
        ? `; a Get waits on ${short(toHex(fetch.current))} since ${net.sim.clock.now() - fetch.sentAt} ms (${fetch.waiting.length} waiting)`
        : '';
      const holding = record ? `subscribers ${record.subscribers} holders ${list.join(' ')}` : 'no record';
      lines.push(`  DataManager ${short(toHex(dm.info.name))}: ${holding}${pending}`);
    }
  }
  return lines.join('\n');
}
