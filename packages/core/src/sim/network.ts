import { DEFAULT_GROUP_PARAMETERS, type GroupParameters } from '../config.js';
import type { Envelope } from '../envelope.js';
import { type Identity, identityFromSeed } from '../identity.js';
import { nameEquals, toHex } from '../name.js';
import { type NodeInfo, type PersonaName, type RankReport, RoutingTable, recipients, refreshRankReports } from '../routing.js';
import type { ReceiveResult, Replica, Transport } from '../runtime.js';
import { VirtualClock } from './clock.js';
import { SeededRandom } from './random.js';

export interface SimOptions {
  readonly seed: number;
  readonly params?: GroupParameters;
  /** Probability that a delivered copy is delivered again later. */
  readonly duplicateRate?: number;
  /** Probability that a copy is lost. Keep it low: group messages tolerate K − quorum losses. */
  readonly dropRate?: number;
  /** Deliver in-flight copies in random order (true) or in sending order (false). */
  readonly reorder?: boolean;
  /**
   * A node's rank reports (its persona's `rankReports`), read after every tick: a change is
   * announced to every node as a new view, as the membership does on the real stack.
   */
  readonly rankReports?: (node: SimNode) => Promise<readonly RankReport[]> | undefined;
}

export interface SimNode {
  readonly info: NodeInfo;
  // biome-ignore lint/suspicious/noExplicitAny: a network holds replicas of every persona
  readonly replica: Replica<any>;
}

/** Builds a replica once the network has given the new node its identity, transport and view. */
export type ReplicaFactory = (
  identity: Identity,
  transport: Transport,
  routing: RoutingTable,
  clock: VirtualClock,
  // biome-ignore lint/suspicious/noExplicitAny: as above
) => Replica<any> | Promise<Replica<any>>;

export interface DeliveryRecord {
  readonly envelope: Envelope;
  readonly to: string;
  readonly result: ReceiveResult;
}

/**
 * A deterministic in-process network: replicas of several personas, one seeded scheduler that
 * reorders, duplicates and drops copies, virtual time, and churn (nodes join and leave, each
 * join or leave delivered to every node as a new routing view, i.e. a matrix change).
 * Everything that happens follows from the seed, so a failing seed replays exactly.
 */
export class SimNetwork {
  readonly params: GroupParameters;
  readonly clock = new VirtualClock();
  readonly random: SeededRandom;
  readonly #options: SimOptions;
  readonly #nodes = new Map<string, SimNode>();
  #inFlight: Envelope[] = [];
  #routing = new RoutingTable();
  #delivered = 0;
  readonly log: DeliveryRecord[] = [];
  /** Keep the delivery log (tests that inspect results); off by default to save memory. */
  keepLog = false;

  constructor(options: SimOptions) {
    this.#options = options;
    this.params = options.params ?? DEFAULT_GROUP_PARAMETERS;
    this.random = new SeededRandom(options.seed);
  }

  get routing(): RoutingTable {
    return this.#routing;
  }

  get deliveredCount(): number {
    return this.#delivered;
  }

  get inFlight(): number {
    return this.#inFlight.length;
  }

  nodes(persona?: PersonaName): SimNode[] {
    return [...this.#nodes.values()].filter((n) => persona === undefined || n.info.persona === persona);
  }

  node(name: Uint8Array): SimNode | undefined {
    return this.#nodes.get(toHex(name));
  }

  /** A new identity drawn from the seed. */
  newIdentity(): Identity {
    return identityFromSeed(this.random.bytes(32));
  }

  readonly transport: Transport = {
    send: (envelope) => {
      if (this.#losing?.(envelope)) return;
      this.#inFlight.push(envelope);
    },
  };

  #losing: ((envelope: Envelope) => boolean) | undefined;

  /**
   * A crash's window: every copy matching `lost`, in flight now or sent until the returned
   * function is called, never arrives.
   */
  lose(lost: (envelope: Envelope) => boolean): () => void {
    this.#inFlight = this.#inFlight.filter((envelope) => !lost(envelope));
    this.#losing = lost;
    return () => {
      if (this.#losing === lost) this.#losing = undefined;
    };
  }

  /** Adds a node (a join: every node sees the matrix change). */
  async join(persona: PersonaName, factory: ReplicaFactory, identity = this.newIdentity()): Promise<SimNode> {
    const info: NodeInfo = { persona, name: identity.name, publicKey: identity.publicKey };
    const next = this.#routing.with(info);
    const replica = await factory(identity, this.transport, next, this.clock);
    const node = { info, replica };
    this.#nodes.set(toHex(identity.name), node);
    await this.#setRouting(next);
    return node;
  }

  /** Removes a node (it leaves or crashes: its in-flight copies to it are lost). */
  async leave(name: Uint8Array): Promise<SimNode | undefined> {
    const node = this.#nodes.get(toHex(name));
    if (node === undefined) return undefined;
    node.replica.stop();
    this.#nodes.delete(toHex(name));
    await this.#setRouting(this.#routing.without(node.info.persona, node.info.name));
    return node;
  }

  /**
   * Restarts a node in place, as a process killed and started again with its data dir and key:
   * the view does not change, and copies in flight reach the new replica (`factory` gives it the
   * stores and state the old one left). Undefined when there is no such node.
   */
  async restart(identity: Identity, factory: ReplicaFactory): Promise<SimNode | undefined> {
    const node = this.#nodes.get(toHex(identity.name));
    if (node === undefined) return undefined;
    node.replica.stop();
    const restarted = { info: node.info, replica: await factory(identity, this.transport, this.#routing, this.clock) };
    this.#nodes.set(toHex(identity.name), restarted);
    return restarted;
  }

  async #setRouting(next: RoutingTable): Promise<void> {
    this.#routing = next;
    for (const node of this.#nodes.values()) await node.replica.updateRouting(next);
  }

  #targets(envelope: Envelope): SimNode[] {
    return recipients(this.#routing, envelope.destination, envelope.scope, this.params.closeGroupSize)
      .map((name) => this.#nodes.get(toHex(name)))
      .filter((n): n is SimNode => n !== undefined);
  }

  /** Delivers one in-flight copy; false when nothing is in flight. */
  async step(): Promise<boolean> {
    if (this.#inFlight.length === 0) return false;
    const index = this.#options.reorder ? this.random.int(this.#inFlight.length) : 0;
    const [envelope] = this.#inFlight.splice(index, 1);
    if (envelope === undefined) return false;
    if (this.random.chance(this.#options.dropRate ?? 0)) return true;
    if (this.random.chance(this.#options.duplicateRate ?? 0)) this.#inFlight.push(envelope);
    for (const target of this.#targets(envelope)) {
      this.#delivered++;
      const result = await target.replica.receive(envelope);
      if (this.keepLog) this.log.push({ envelope, to: toHex(target.info.name), result });
    }
    return true;
  }

  /**
   * Runs until nothing is in flight and no timer is due within `maxIdleMs` of virtual time;
   * each idle moment advances the clock to the next timer and ticks every replica (sync resends).
   */
  async settle(options: { maxSteps?: number; maxIdleMs?: number; tickEveryMs?: number } = {}): Promise<void> {
    const maxSteps = options.maxSteps ?? 1_000_000;
    const maxIdleMs = options.maxIdleMs ?? 60_000;
    let steps = 0;
    let idleFor = 0;
    while (steps < maxSteps) {
      if (await this.step()) {
        steps++;
        idleFor = 0;
        continue;
      }
      // Let I/O the replicas started (database, disk) finish before calling the network idle.
      await new Promise((resolve) => setImmediate(resolve));
      if (this.#inFlight.length > 0) continue;
      const next = this.clock.nextTimerAt;
      if (next === undefined || next - this.clock.now() > maxIdleMs - idleFor) break;
      const wait = Math.max(0, next - this.clock.now());
      idleFor += wait;
      this.clock.advance(wait);
      await Promise.resolve();
    }
    if (steps >= maxSteps) throw new Error(`network did not settle within ${maxSteps} steps`);
  }

  /** Asks every replica to re-send what is unresolved (one sync round). */
  async tickAll(): Promise<void> {
    for (const node of this.#nodes.values()) await node.replica.tick();
    await this.#announceRankReports();
  }

  async #announceRankReports(): Promise<void> {
    const reportsOf = this.#options.rankReports;
    if (reportsOf === undefined) return;
    const next = await refreshRankReports(this.#routing, (info) => {
      const node = this.#nodes.get(toHex(info.name));
      return node && reportsOf(node);
    });
    if (next !== undefined) await this.#setRouting(next);
  }

  isMember(persona: PersonaName, name: Uint8Array): boolean {
    return this.nodes(persona).some((n) => nameEquals(n.info.name, name));
  }
}
