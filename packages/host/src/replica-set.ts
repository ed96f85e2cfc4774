import { type Logger, Replica, type ReplicaOptions, type RoutingTable } from '@safe/core';
import type { Cleanup } from './cleanup.js';
import { describe } from './start-step.js';

export interface ReplicaSetOptions {
  readonly log: Logger;
  /** How long the shutdown waits for work in flight before it stops the replicas anyway. */
  readonly graceMs: number;
  /**
   * What must settle before the replicas stop, when more than their own queues: the embedded
   * testnet's in-memory bus (copies between its replicas). Once stopped, each then finishes what it holds.
   */
  readonly settle?: () => Promise<unknown>;
}

/**
 * The replicas of one process, on whatever adapters (stores, transport, telemetry) the caller
 * passes: one in a replica process, every replica of the network in the embedded testnet. Its
 * cleanup (in the 'replica' stage, after the inputs stopped): finish what is in flight, then stop.
 */
export class ReplicaSet {
  readonly #replicas: Replica<unknown>[] = [];
  readonly #options: ReplicaSetOptions;

  constructor(cleanup: Cleanup, options: ReplicaSetOptions) {
    this.#options = options;
    cleanup.defer('replica', () => this.#drain());
  }

  /** A replica on these adapters, stopped with the others at shutdown. */
  compose<S>(options: ReplicaOptions<S>): Replica<S> {
    const replica = new Replica<S>(options);
    this.#replicas.push(replica as Replica<unknown>);
    return replica;
  }

  get all(): readonly Replica<unknown>[] {
    return this.#replicas;
  }

  /** One sync tick of every replica. */
  async tick(): Promise<void> {
    await Promise.all(this.#replicas.map((replica) => replica.tick()));
  }

  /** A new membership view: each replica takes it as matrix changes. */
  async follow(routing: RoutingTable): Promise<void> {
    await Promise.all(this.#replicas.map((replica) => replica.updateRouting(routing)));
  }

  async #drain(): Promise<void> {
    const { log, graceMs, settle } = this.#options;
    const idle = () => Promise.all(this.#replicas.map((replica) => replica.idle()));
    if (!(await within((settle ?? idle)(), graceMs)))
      log.warn({ graceMs }, 'shutdown: the replicas were still busy after the grace period');
    for (const replica of this.#replicas) replica.stop();
    if (settle !== undefined) await within(idle(), graceMs);
  }
}

/** Waits for `promise`, or gives up after `ms` (the caller moves on either way): true when it settled in time. */
export async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface TickOptions {
  readonly everyMs: number;
  readonly log: Logger;
}

/**
 * Runs `round` every `everyMs` (a round still running skips the next), e.g. the sync tick and what
 * follows it. Stops taking rounds first at shutdown; the last one is awaited before the replicas drain.
 */
export function startTicks(cleanup: Cleanup, options: TickOptions, round: () => Promise<void>): void {
  let running: Promise<void> | undefined;
  const ticker = setInterval(() => {
    if (running !== undefined) return;
    running = round()
      .catch((error: unknown) => options.log.warn({ err: describe(error) }, 'tick failed'))
      .finally(() => {
        running = undefined;
      });
  }, options.everyMs);
  ticker.unref();
  cleanup.defer('ticks', () => clearInterval(ticker));
  // Registered after the replicas, so it runs before they drain (latest first within a stage).
  cleanup.defer('replica', async () => {
    if (running !== undefined) await cleanup.attempt('sync tick', () => running);
  });
}
