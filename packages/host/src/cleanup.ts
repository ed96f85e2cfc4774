import type { Logger } from '@safe/core';
import { describe } from './start-step.js';

/**
 * The stages of a replica's graceful shutdown, in ARCHITECTURE.md's order: stop taking work
 * (sync ticks, gRPC, the membership, the consumer), let the replica finish what it holds, then
 * close the clients, the stores and the admin port. Not the reverse of the start order (gRPC
 * starts after the consumer but closes first), hence stages rather than one LIFO stack.
 */
export const SHUTDOWN_STAGES = [
  'ticks',
  'grpc',
  'leave membership',
  'consumer',
  'replica',
  'producer',
  'direct channels',
  'kafka admin',
  'membership',
  'postgres',
  'redis',
  'admin server',
  'data dir',
] as const;

export type ShutdownStage = (typeof SHUTDOWN_STAGES)[number];

/**
 * What a start step registers as it succeeds, undone at shutdown stage by stage (within a stage,
 * the latest registered first). A step that fails half-way has registered what it started, so a
 * failed start is undone by the same run.
 */
export class Cleanup {
  readonly #log: Logger;
  readonly #stages = new Map<ShutdownStage, (() => unknown)[]>(SHUTDOWN_STAGES.map((stage) => [stage, []]));

  constructor(log: Logger) {
    this.#log = log;
  }

  /** `run` at shutdown, in `stage`; if it throws, the shutdown stops there. */
  defer(stage: ShutdownStage, run: () => unknown): void {
    this.#stages.get(stage)?.push(run);
  }

  /** `run` at shutdown, in `stage`; a failure is logged (`shutdown: <what> failed`) and the shutdown goes on. */
  deferStep(stage: ShutdownStage, what: string, run: () => unknown): void {
    this.defer(stage, () => this.attempt(what, run));
  }

  /** Runs `run` now; a failure is logged as `shutdown: <what> failed`. */
  async attempt(what: string, run: () => unknown): Promise<void> {
    try {
      await run();
    } catch (error) {
      this.#log.warn({ err: describe(error) }, `shutdown: ${what} failed`);
    }
  }

  /** Runs what was registered, stage by stage, once: a second call finds nothing left. */
  async run(): Promise<void> {
    for (const stage of SHUTDOWN_STAGES) {
      const runs = this.#stages.get(stage) ?? [];
      while (runs.length > 0) await runs.pop()?.();
    }
  }
}
