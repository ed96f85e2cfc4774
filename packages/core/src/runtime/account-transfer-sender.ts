import { type AccountTransfer, transferRecordKey } from '../account-transfer.js';
import { transferBatchesPerTick, transferBatchRecords } from '../config.js';
import type { Envelope, MessageContent } from '../envelope.js';
import { MalformedPayloadError, SenderNotInGroupError } from '../errors.js';
import { NAME_BYTES, type Name, nameEquals, nameFromHex, shortName, toHex } from '../name.js';
import type { HandlerContext, PersonaRecords } from '../persona.js';
import type { Telemetry } from '../ports.js';
import type { MatrixChange } from '../routing.js';
import type { Sync, SyncEntry } from '../sync.js';
import { packTransferBatches, TRANSFER_MESSAGE_BYTES } from '../transfer-batch.js';
import {
  ACCOUNT_TRANSFER_MESSAGE,
  accountPullCodec,
  accountTransferBatchCodec,
  memberRecords,
  nodeMessage,
  type ReceiveResult,
  type TransferredRecord,
  transferredEntries,
} from './protocol.js';

/** A record waiting to be handed over: keys only (its value is read again when it is sent). */
interface QueuedTransfer {
  readonly nae: Name;
  readonly key: Uint8Array;
  /** Nodes (hex) that entered the record's close group and have not been sent it yet. */
  readonly targets: Set<string>;
  /** This node is no longer responsible: drop the record once it has been handed over. */
  drop: boolean;
}

export interface AccountTransferSenderDeps<S> {
  readonly context: HandlerContext<S>;
  readonly telemetry: Telemetry;
  readonly records: PersonaRecords<S> | undefined;
  readonly sync: Sync;
  readonly transfer: AccountTransfer;
  readonly send: (content: MessageContent) => Promise<void>;
  /** Keys of actions agreed here but held for their turn (ArrivalOrder): not in the records yet. */
  readonly held?: () => Promise<ReadonlySet<string>>;
}

/** Account transfer, sending: the records (and unresolved sync entries) a node hands to the members that entered their close groups. */
export class AccountTransferSender<S> {
  readonly #deps: AccountTransferSenderDeps<S>;
  /** Account transfer still to send, in the order the matrix changes queued it. */
  readonly #queue = new Map<string, QueuedTransfer>();
  #sequence = 0;

  constructor(deps: AccountTransferSenderDeps<S>) {
    this.#deps = deps;
  }

  /** Records still waiting to be handed over or dropped. */
  get pending(): number {
    return this.#queue.size;
  }

  /** A matrix change in this persona: records are handed over before the sync entries of NAEs this node leaves are dropped (they travel with them). */
  async handOver(change: MatrixChange): Promise<void> {
    const withRecords = await this.#queueTransfers(change);
    await this.flush(false);
    await this.#transferEntriesWithoutRecords(change, withRecords);
  }

  #enqueue(nae: Name, key: Uint8Array, id = transferRecordKey(nae, key)): QueuedTransfer {
    const item = this.#queue.get(id) ?? { nae, key, targets: new Set<string>(), drop: false };
    this.#queue.set(id, item);
    return item;
  }

  /**
   * For every record: the members that entered its NAE's close group need it, and a record whose
   * close group this node left is dropped once handed over. Only keys are queued; a record already
   * queued gains the new targets and its drop follows the latest change. Returns the NAEs (hex)
   * whose records are on their way to a newcomer: their unresolved sync entries travel with them.
   */
  async #queueTransfers(change: MatrixChange): Promise<Set<string>> {
    const withRecords = new Set<string>();
    const { records, context } = this.#deps;
    if (records === undefined) return withRecords;
    const self = toHex(context.self);
    for await (const refs of records.list(context)) {
      for (const ref of refs) {
        const holders = change.checkHolders(ref.nae);
        const id = transferRecordKey(ref.nae, ref.key);
        // Only a member that held the NAE before the change is a sender the newcomers accept.
        const targets = holders.wasResponsible ? holders.newHolders.map(toHex).filter((n) => n !== self) : [];
        if (!this.#queue.has(id) && targets.length === 0 && holders.responsible) continue;
        const item = this.#enqueue(ref.nae, ref.key, id);
        for (const target of targets) item.targets.add(target);
        item.drop = !holders.responsible;
        if (targets.length > 0) withRecords.add(toHex(ref.nae));
      }
    }
    return withRecords;
  }

  /**
   * Unresolved sync entries of an NAE with no record here yet (the action that creates it is still
   * being agreed) go to the NAE's newcomers on their own (SPEC.md 4: unresolved entries are part
   * of the account transfer). Without them a join that pushes out members who had seen the action
   * leaves the members that stay short of floor(K/2)+1 for good.
   */
  async #transferEntriesWithoutRecords(change: MatrixChange, withRecords: ReadonlySet<string>): Promise<void> {
    const { records, context, sync } = this.#deps;
    if (records === undefined) return;
    const self = toHex(context.self);
    const byTarget = new Map<string, SyncEntry[]>();
    for (const [nae, entries] of (await sync.byNae()).unresolved) {
      if (withRecords.has(nae)) continue;
      const holders = change.checkHolders(nameFromHex(nae));
      if (!holders.wasResponsible) continue;
      for (const target of holders.newHolders.map(toHex)) {
        if (target !== self) byTarget.set(target, [...(byTarget.get(target) ?? []), ...entries]);
      }
    }
    const batchSize = transferBatchRecords(context.params);
    for (const [target, entries] of byTarget) {
      const bytesOf = (entry: SyncEntry) => accountTransferBatchCodec.encode({ records: [], entries: transferredEntries([entry]) }).length;
      const { batches, tooLarge } = packTransferBatches(entries, bytesOf, batchSize);
      for (const entry of tooLarge)
        this.#tooLarge(target, nameFromHex(entry.action.nae), bytesOf(entry), `sync entry ${entry.action.type}`);
      for (const batch of batches) await this.#sendTransfer(target, [], batch);
    }
  }

  /**
   * Sends queued records, at most `transferBatchesPerTick` messages of `transferBatchRecords`
   * records each; the rest waits for the next tick. Each target is checked against the view as it
   * is now (a node that is no longer a holder is not sent the record, nor is anyone once this node
   * is no longer among the K+1 closest), values are read now, and a record this node is no longer
   * responsible for is dropped once it has been sent, at the first tick (`dropNow`) after that.
   *
   * `before` sends only the records of one NAE, whatever the tick's budget: just before the action
   * under sync key `changing` is applied to them (that action travels as an entry still to apply,
   * with the members this node vouches for, not among the actions their values hold), or when a
   * member decided one of its requests differently, for want of them (no `changing`).
   */
  async flush(dropNow: boolean, before?: { readonly nae: string; readonly changing?: string }): Promise<void> {
    const { records, context, sync, transfer } = this.#deps;
    if (records === undefined || this.#queue.size === 0) return;
    const k = context.params.closeGroupSize;
    const batchSize = transferBatchRecords(context.params);
    let budget = before === undefined ? transferBatchesPerTick(context.params) : Number.POSITIVE_INFINITY;
    const view = context.routing().view(context.persona);
    const self = toHex(context.self);
    const open = new Map<string, TransferredRecord[]>();
    const ready: [string, TransferredRecord[]][] = [];
    const done: QueuedTransfer[] = [];
    for (const [id, item] of this.#queue) {
      if (before !== undefined && (item.targets.size === 0 || toHex(item.nae) !== before.nae)) continue;
      const closest = view.closeGroup(item.nae, k + 1).map(toHex);
      const rank = closest.indexOf(self);
      if (rank >= 0 && rank < k) item.drop = false;
      const holders = new Set(closest.slice(0, k));
      for (const target of [...item.targets]) if (rank < 0 || target === self || !holders.has(target)) item.targets.delete(target);
      if (item.targets.size > 0) {
        const value = await records.read(context, item.nae, item.key);
        if (value === undefined) item.targets.clear();
        for (const target of [...item.targets]) {
          let batch = open.get(target);
          if (batch !== undefined && batch.length >= batchSize) {
            ready.push([target, batch]);
            open.delete(target);
            batch = undefined;
          }
          if (batch === undefined) {
            if (budget === 0) break;
            budget--;
            batch = [];
            open.set(target, batch);
          }
          batch.push({ nae: item.nae, key: item.key, value: value as Uint8Array, applied: [] });
          item.targets.delete(target);
        }
      }
      // Out of messages for this tick: this record (and everything after it) waits.
      if (item.targets.size > 0) break;
      // A record this node leaves is dropped at a tick, not on the change itself: another change
      // right after (a member leaving) can make it a holder again, and it must still have it then.
      if (item.drop && !dropNow) continue;
      this.#queue.delete(id);
      if (item.drop) done.push(item);
    }
    ready.push(...open.entries());
    if (ready.length > 0) {
      const still = new Set(await this.#deps.held?.());
      if (before?.changing !== undefined) still.add(before.changing);
      const { unresolved, applied } = await sync.byNae(still);
      for (const [target, batch] of ready) {
        const records = batch.map((record) => ({
          ...record,
          applied: (applied.get(toHex(record.nae)) ?? []).map((entry) => ({
            key: entry.key,
            action: entry.action.type,
            parameters: Buffer.from(entry.action.payload, 'base64'),
          })),
        }));
        await this.#sendRecords(target, records, unresolved);
      }
    }
    for (const item of done) {
      await records.drop(context, item.nae, item.key);
      await transfer.forget(transferRecordKey(item.nae, item.key));
    }
  }

  /**
   * A batch of records (at most `transferBatchRecords`) to a newcomer, split by bytes too: held
   * messages make records large, and one message carries at most the envelope's payload. Each
   * record is measured with its NAE's unresolved entries, which travel with it.
   */
  async #sendRecords(target: string, records: TransferredRecord[], unresolved: ReadonlyMap<string, SyncEntry[]>): Promise<void> {
    const entriesOf = (naes: Iterable<string>) => [...naes].flatMap((nae) => unresolved.get(nae) ?? []);
    const bytesOf = (record: TransferredRecord) =>
      accountTransferBatchCodec.encode({ records: [record], entries: transferredEntries(entriesOf([toHex(record.nae)])) }).length;
    const { batches, tooLarge } = packTransferBatches(records, bytesOf, records.length);
    for (const record of tooLarge) this.#tooLarge(target, record.nae, bytesOf(record), 'record');
    for (const batch of batches) await this.#sendTransfer(target, batch, entriesOf(new Set(batch.map((r) => toHex(r.nae)))));
  }

  /** Said once, not retried: whatever the batching, no transfer message can carry it. */
  #tooLarge(target: string, nae: Uint8Array, bytes: number, what: string): void {
    this.#deps.context.log.error(
      { nae: shortName(nae), to: shortName(nameFromHex(target)), bytes, most: TRANSFER_MESSAGE_BYTES },
      `account transfer: a ${what} of ${bytes} bytes is over the ${TRANSFER_MESSAGE_BYTES} bytes a transfer message carries; not sent`,
    );
    this.#deps.telemetry.count('safe_transfer_records_total', { persona: this.#deps.context.persona, result: 'too-large' });
  }

  /** One batch to a newcomer: records, and the unresolved sync entries of their NAEs (or of NAEs with no record yet). */
  async #sendTransfer(target: string, batch: TransferredRecord[], unresolved: readonly SyncEntry[]): Promise<void> {
    const { context, telemetry } = this.#deps;
    const entries = transferredEntries(unresolved);
    const sequence = new Uint8Array(8);
    new DataView(sequence.buffer).setBigUint64(0, BigInt(++this.#sequence));
    const payload = accountTransferBatchCodec.encode({ records: batch, entries });
    const to = { persona: context.persona, nae: nameFromHex(target) };
    await this.#deps.send(nodeMessage(context, ACCOUNT_TRANSFER_MESSAGE, to, payload, sequence));
    telemetry.count('safe_transfer_batches_total', { persona: context.persona, direction: 'sent' });
    telemetry.count('safe_transfer_records_total', { persona: context.persona, result: 'sent' }, batch.length);
  }

  /**
   * A member asks for records again: each one this node holds, for an NAE whose close group has
   * both of them, is queued for it as an account transfer. One it does not hold is not answered.
   */
  async receivePull(envelope: Envelope): Promise<ReceiveResult> {
    const { context } = this.#deps;
    const records = memberRecords(envelope, 'an account pull', context.persona, this.#deps.records);
    const requester = envelope.sender;
    const k = context.params.closeGroupSize;
    const view = context.routing().view(context.persona);
    // Every reference is checked before any is queued: a bad one changes nothing.
    const refs = accountPullCodec.decode(envelope.payload).records.map((ref) => {
      if (ref.nae.length !== NAME_BYTES) throw new MalformedPayloadError('a pulled NAE must be 64 bytes');
      const nae = ref.nae as Name;
      const group = view.closeGroup(nae, k);
      if (!group.some((member) => nameEquals(member, requester))) {
        throw new SenderNotInGroupError(`${shortName(requester)} is not in the close group of ${shortName(nae)}`);
      }
      return { nae, key: ref.key, mine: group.some((member) => nameEquals(member, context.self)) };
    });
    let queued = 0;
    for (const { nae, key, mine } of refs) {
      if (!mine || (await records.read(context, nae, key)) === undefined) continue;
      this.#enqueue(nae, key).targets.add(toHex(requester));
      queued++;
    }
    if (queued > 0) await this.flush(false);
    return 'transferred';
  }
}
