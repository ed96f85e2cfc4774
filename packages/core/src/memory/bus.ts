import type { Envelope } from '../envelope.js';
import { toHex } from '../name.js';
import { type RoutingTable, recipients } from '../routing.js';
import type { ReceiveResult, Replica, Transport } from '../runtime.js';

/**
 * The group bus inside one process (the embedded testnet): copies are delivered asynchronously,
 * in sending order, to the named node or to the close group of the destination NAE.
 */
export class MemoryBus implements Transport {
  readonly #k: number;
  // biome-ignore lint/suspicious/noExplicitAny: one bus carries every persona's replicas
  readonly #replicas = new Map<string, Replica<any>>();
  readonly #receivers = new Map<string, (envelope: Envelope) => Promise<ReceiveResult>>();
  #routing: RoutingTable;
  #inFlight = 0;
  #idleWaiters: (() => void)[] = [];
  onRejected: ((envelope: Envelope, result: ReceiveResult) => void) | undefined;

  constructor(routing: RoutingTable, closeGroupSize: number) {
    this.#routing = routing;
    this.#k = closeGroupSize;
  }

  /** `receive`, if given, is called instead of the replica's own (a host wraps it, e.g. to trace copies). */
  // biome-ignore lint/suspicious/noExplicitAny: as above
  attach(replica: Replica<any>, receive?: (envelope: Envelope) => Promise<ReceiveResult>): void {
    this.#replicas.set(toHex(replica.name), replica);
    if (receive) this.#receivers.set(toHex(replica.name), receive);
    else this.#receivers.delete(toHex(replica.name));
  }

  detach(name: Uint8Array): void {
    this.#replicas.delete(toHex(name));
    this.#receivers.delete(toHex(name));
  }

  setRouting(routing: RoutingTable): void {
    this.#routing = routing;
  }

  send(envelope: Envelope): void {
    this.#inFlight++;
    setImmediate(() => {
      void this.#deliver(envelope).finally(() => {
        if (--this.#inFlight === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
      });
    });
  }

  async #deliver(envelope: Envelope): Promise<void> {
    const targets = recipients(this.#routing, envelope.destination, envelope.scope, this.#k);
    await Promise.all(
      targets.map(async (name) => {
        const replica = this.#replicas.get(toHex(name));
        if (replica === undefined) return;
        const receive = this.#receivers.get(toHex(name));
        const result = await (receive ? receive(envelope) : replica.receive(envelope));
        if (typeof result !== 'string') this.onRejected?.(envelope, result);
      }),
    );
  }

  /** Resolves once nothing is in flight. */
  idle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }
}
