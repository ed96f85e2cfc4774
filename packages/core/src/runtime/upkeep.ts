import { asSafeError } from '../errors.js';
import type { Name } from '../name.js';
import type { HandlerContext, Outcome, PersonaDefinition } from '../persona.js';
import type { Telemetry } from '../ports.js';
import { MatrixChange, type PersonaName, type RoutingTable } from '../routing.js';
import type { Sync } from '../sync.js';
import type { TraceCauses } from '../trace-causes.js';
import type { AccountTransferReceiver } from './account-transfer-receiver.js';
import type { AccountTransferSender } from './account-transfer-sender.js';
import type { BulkContent } from './bulk-content.js';
import type { HeldRequests } from './held-requests.js';
import type { Outbox } from './outbox.js';
import type { SyncRounds } from './sync-rounds.js';

export interface UpkeepDeps<S> {
  readonly context: HandlerContext<S>;
  readonly telemetry: Telemetry;
  readonly definition: PersonaDefinition<S>;
  readonly sync: Pick<Sync, 'onMatrixChange'>;
  readonly rounds: Pick<SyncRounds<S>, 'resendDue'>;
  readonly sender: Pick<AccountTransferSender<S>, 'flush' | 'handOver'>;
  readonly receiver: Pick<AccountTransferReceiver<S>, 'pullStalled' | 'forgetOthers'>;
  readonly held: Pick<HeldRequests<S>, 'handleAwaiting' | 'receiveAwaitingSenders' | 'rememberView'>;
  readonly content: Pick<BulkContent<S>, 'pullDue'>;
  readonly outbox: Pick<Outbox<S>, 'emit'>;
  readonly causes: TraceCauses;
  /** Carries out an outcome that no message caused (a timer's, a churn's). */
  readonly carryOut: (outcome: Outcome) => Promise<void>;
  readonly stopped: () => boolean;
}

/** What a replica does on its own, not for a message: the work of a tick, and following a new routing view (churn). */
export class Upkeep<S> {
  readonly #deps: UpkeepDeps<S>;

  constructor(deps: UpkeepDeps<S>) {
    this.#deps = deps;
  }

  /** Re-sends due sync entries, hands over and pulls records, retries held work, then the persona's own tick. */
  async tick(): Promise<void> {
    const { rounds, sender, receiver, held, content, definition, stopped } = this.#deps;
    await rounds.resendDue();
    if (!stopped()) await sender.flush(true);
    if (!stopped()) await receiver.pullStalled();
    if (!stopped()) await held.handleAwaiting();
    if (!stopped()) await held.receiveAwaitingSenders(true);
    if (!stopped()) await content.pullDue();
    if (definition.onTick && !stopped()) await this.#personaTick(definition.onTick);
  }

  async #personaTick(onTick: NonNullable<PersonaDefinition<S>['onTick']>): Promise<void> {
    const { context, telemetry, outbox, causes } = this.#deps;
    try {
      const { actions, send } = await onTick(context);
      await this.#deps.carryOut({ actions });
      for (const out of send ?? []) {
        const span = causes.spanFor(telemetry, context.persona, out);
        await outbox.emit(out, undefined, span.context()).finally(() => span.end());
      }
    } catch (error) {
      context.log.error({ err: asSafeError(error, 'tick').message }, 'tick handling failed');
    }
  }

  /** Every change in a persona's node set between `previous` and `next` is a matrix change. */
  async followRouting(previous: RoutingTable, next: RoutingTable): Promise<void> {
    const { context, definition, held } = this.#deps;
    const { persona, self, log } = context;
    const k = context.params.closeGroupSize;
    const personas = new Set([persona, ...next.allNodes().map((n) => n.persona), ...previous.allNodes().map((n) => n.persona)]);
    for (const view of personas) {
      const change = new MatrixChange(self, previous.view(view).names(), next.view(view).names(), k);
      if (change.isEmpty) continue;
      if (view === persona) await this.#ownGroupChanged(change, previous, view);
      if (definition.onChurn) {
        try {
          const outcome = await definition.onChurn({ persona: view, change }, context);
          await this.#deps.carryOut(outcome);
        } catch (error) {
          log.error({ err: asSafeError(error, 'churn').message }, 'churn handling failed');
        }
      }
    }
    await held.receiveAwaitingSenders(false);
  }

  /** This persona's own close groups changed: records are handed over, sync entries follow the new holders. */
  async #ownGroupChanged(change: MatrixChange, previous: RoutingTable, persona: PersonaName): Promise<void> {
    const { sender, sync, receiver, held, context } = this.#deps;
    held.rememberView(previous.view(persona));
    try {
      await sender.handOver(change);
    } catch (error) {
      context.log.error({ err: asSafeError(error, 'account transfer').message }, 'account transfer failed');
    }
    await sync.onMatrixChange(change, (entry) => Buffer.from(entry.action.nae, 'hex') as unknown as Name);
    await receiver.forgetOthers();
  }
}
