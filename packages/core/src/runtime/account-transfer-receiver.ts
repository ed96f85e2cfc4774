import { type AccountTransfer, type AppliedAction, naeHexOfTransferKey, transferRecordKey } from '../account-transfer.js';
import { transferBatchesPerTick, transferBatchRecords, transferPullMs } from '../config.js';
import type { Envelope, MessageContent } from '../envelope.js';
import { asSafeError, MalformedPayloadError, NotResponsibleError, type SafeError, SenderNotInGroupError } from '../errors.js';
import { NAME_BYTES, type Name, nameEquals, nameFromHex, shortName, toHex } from '../name.js';
import type { ActionDeclaration, HandlerContext, Outcome, PersonaRecords } from '../persona.js';
import type { Telemetry } from '../ports.js';
import { type AppliedEntry, type SlotVote, type Sync, syncSlot } from '../sync.js';
import {
  ACCOUNT_PULL_MESSAGE,
  ACCOUNT_TRANSFER_MESSAGE,
  accountPullCodec,
  accountTransferBatchCodec,
  memberRecords,
  NO_CONTENT,
  nodeMessage,
  type ReceiveResult,
  type TransferredRecord,
  type TransferredSyncEntry,
} from './protocol.js';
import { declaredAction, fromSyncAction, type SyncRounds, toSyncAction } from './sync-rounds.js';

const SYNC_KEY = /^[0-9a-f]{1,128}$/;

/** What this node applied and voted for, by NAE, read once per account-transfer batch. */
interface WhatThisNodeDid {
  applied(nae: Name): Promise<readonly AppliedEntry[]>;
  votes(nae: Name): Promise<readonly SlotVote[]>;
}

export interface AccountTransferReceiverDeps<S> {
  readonly context: HandlerContext<S>;
  readonly telemetry: Telemetry;
  readonly records: PersonaRecords<S> | undefined;
  readonly actions: ReadonlyMap<string, ActionDeclaration<unknown, S>>;
  readonly sync: Sync;
  readonly transfer: AccountTransfer;
  readonly rounds: Pick<SyncRounds<S>, 'broadcast' | 'applyAgreed' | 'follow'>;
  /** Carries out what a transferred action owes, speaking for its NAE, caused by its sync key. */
  readonly carryOut: (outcome: Outcome, trace: Record<string, string>, speakingFor: Name, cause: Uint8Array) => Promise<void>;
  /** Handles again the requests held for the NAE's record (hex), now that it is written. */
  readonly recordWritten: (nae: string) => Promise<void>;
  readonly send: (content: MessageContent) => Promise<void>;
}

/** Account transfer, receiving: the records members hand to this node, written once enough agree, and pulled again when they do not. */
export class AccountTransferReceiver<S> {
  readonly #deps: AccountTransferReceiverDeps<S>;

  constructor(deps: AccountTransferReceiverDeps<S>) {
    this.#deps = deps;
  }

  /**
   * A batch from a member: each record counts as that member's vote for its value and is written
   * once (K+1)/2 members sent the same value. A record whose sender is not among the K+1 closest
   * to its NAE (the K members before a join are the K+1 closest after it), or whose NAE this node
   * is not responsible for, is rejected and changes nothing. The batch's unresolved sync entries
   * are adopted once their NAE's records are in place.
   */
  async receive(envelope: Envelope): Promise<ReceiveResult> {
    const { context, telemetry, sync } = this.#deps;
    const records = memberRecords(envelope, 'an account transfer', context.persona, this.#deps.records);
    const sender = envelope.sender;
    if (!context.routing().view(context.persona).has(sender))
      throw new SenderNotInGroupError(`${shortName(sender)} is not a known ${context.persona}`);
    const batch = accountTransferBatchCodec.decode(envelope.payload);
    let accepted = 0;
    let rejected: SafeError | undefined;
    const reject = (error: unknown): void => {
      const safe = asSafeError(error, `${context.persona} ${ACCOUNT_TRANSFER_MESSAGE}`);
      rejected ??= safe;
      telemetry.count('safe_transfer_records_total', { persona: context.persona, result: 'rejected' });
      context.log.warn({ from: shortName(sender), kind: safe.kind, err: safe.message }, 'transferred record rejected');
    };
    // NAEs with a record not (yet) agreed here: their sync entries are not adopted from this copy.
    const waiting = new Set<string>();
    // What this node applied, by NAE: read once per batch, when a record is first written.
    let appliedHere: Map<string, AppliedEntry[]> | undefined;
    // And the votes it cast, by NAE: those on open actions of a record it writes were cast without it.
    let votesHere: Map<string, SlotVote[]> | undefined;
    const here: WhatThisNodeDid = {
      applied: async (nae) => {
        appliedHere ??= await sync.appliedByNae();
        return appliedHere.get(toHex(nae)) ?? [];
      },
      votes: async (nae) => {
        votesHere ??= await sync.votesByNae();
        return votesHere.get(toHex(nae)) ?? [];
      },
    };
    for (const record of batch.records) {
      try {
        const nae = this.#transferredNae(record.nae, sender);
        if (await this.#offerRecord(records, nae, record, sender, envelope.trace, here)) accepted++;
        else waiting.add(toHex(nae));
      } catch (error) {
        reject(error);
      }
    }
    for (const entry of batch.entries) {
      try {
        const nae = this.#transferredNae(entry.nae, sender);
        if (waiting.has(toHex(nae))) continue;
        await this.#adoptEntry(entry, nae, envelope.trace);
        accepted++;
      } catch (error) {
        reject(error);
      }
    }
    if (rejected !== undefined && accepted === 0 && waiting.size === 0) return { rejected };
    return 'transferred';
  }

  /** The NAE of a transferred record or entry, once the sender and this node are shown to belong to its group. */
  #transferredNae(raw: Uint8Array, sender: Name): Name {
    const { context } = this.#deps;
    if (raw.length !== NAME_BYTES) throw new MalformedPayloadError('a transferred NAE must be 64 bytes');
    const nae = raw as Name;
    const k = context.params.closeGroupSize;
    const closest = context
      .routing()
      .view(context.persona)
      .closeGroup(nae, k + 1);
    if (!closest.some((member) => nameEquals(member, sender))) {
      throw new SenderNotInGroupError(`${shortName(sender)} is not among the ${k + 1} closest to ${shortName(nae)}`);
    }
    if (!closest.slice(0, k).some((member) => nameEquals(member, context.self))) {
      throw new NotResponsibleError(`${shortName(context.self)} is not in the close group of ${shortName(nae)}`);
    }
    return nae;
  }

  /**
   * Counts the sender's vote; writes the value the moment it is agreed, and takes the actions the
   * agreeing members had applied to it as applied here. True once the record is written here.
   *
   * An action this node applied before the value came (agreed by its peers' Syncs while its record
   * was still on its way: a DataManager's AddSubscriber that found no record to add to) is in the
   * value only if the senders had applied it too (or another action of its slot): one they had not
   * is applied again on top of the value, or the written value would take its effect away here
   * for good (it resolves here only once).
   */
  async #offerRecord(
    records: PersonaRecords<S>,
    nae: Name,
    record: TransferredRecord,
    sender: Name,
    trace: Record<string, string>,
    here: WhatThisNodeDid,
  ): Promise<boolean> {
    const { context, transfer, sync, rounds } = this.#deps;
    const recordKey = transferRecordKey(nae, record.key);
    const applied = (record.applied ?? [])
      .filter((act) => SYNC_KEY.test(act.key) && this.#deps.actions.has(act.action))
      .map((act) => ({ key: act.key, type: act.action, payload: Buffer.from(act.parameters).toString('base64') }));
    const agreed = await transfer.offer(recordKey, sender, record.value, applied);
    if (agreed === undefined) return (await transfer.state(recordKey)) === 'written';
    try {
      await records.write(context, nae, record.key, record.value);
    } catch (error) {
      // Not written: forget the votes, so the record is not taken for written.
      await transfer.forget(recordKey);
      throw error;
    }
    const held = new Set(agreed.applied.map((act) => syncSlot(act.key)));
    for (const own of await here.applied(nae)) {
      if (held.has(syncSlot(own.key))) continue;
      await rounds.applyAgreed(fromSyncAction(own.action, nae), own.key, trace);
    }
    for (const act of agreed.applied) await this.#takeAsApplied(act, nae, trace);
    const group = context.closeGroup(context.persona, nae);
    for (const { key, action, result } of await sync.withdrawUninformed(await here.votes(nae), group)) {
      await rounds.follow(result, key, fromSyncAction(action, nae), trace);
    }
    await this.#deps.recordWritten(toHex(nae));
    this.#deps.telemetry.count('safe_transfer_records_total', { persona: context.persona, result: 'written' });
    return true;
  }

  /**
   * An action whose effect came in a transferred record: never applied here again, and what it
   * owes (its declaration's `owed`: answers to whoever asked) is carried out as apply's would be,
   * under the same cause, so the answers are copies of the ones the members that applied it sent.
   */
  async #takeAsApplied(act: AppliedAction, nae: Name, trace: Record<string, string>): Promise<void> {
    const { context, sync } = this.#deps;
    if (!(await sync.markApplied(act.key, { type: act.type, nae: toHex(nae), payload: act.payload }))) return;
    const declaration = this.#deps.actions.get(act.type);
    if (declaration?.owed === undefined) return;
    try {
      const outcome = await declaration.owed(declaration.payload.decode(Buffer.from(act.payload, 'base64')), context, nae);
      if (outcome) await this.#deps.carryOut(outcome, trace, nae, Buffer.from(act.key, 'hex'));
    } catch (error) {
      context.log.warn({ action: act.type, err: asSafeError(error, act.type).message }, 'what a transferred action owes could not be sent');
    }
  }

  async #adoptEntry(entry: TransferredSyncEntry, nae: Name, trace: Record<string, string>): Promise<void> {
    const { context, sync } = this.#deps;
    if (!SYNC_KEY.test(entry.key)) throw new MalformedPayloadError('a transferred sync entry needs a hex key');
    declaredAction(this.#deps.actions, context.persona, entry.action).payload.decode(entry.parameters);
    const act = { type: entry.action, nae, payload: entry.parameters };
    const group = context.closeGroup(context.persona, nae);
    const result = await sync.adopt(entry.key, toSyncAction(act), entry.seenBy.map(toHex), group);
    // Having adopted it, this member has seen the action: the members that stayed count it, as they
    // would have counted the proposals of those it replaced (which they no longer accept). It has
    // told the group (Sync's `told`), so it vouches for itself when it hands the entry on.
    await this.#deps.rounds.follow(result, entry.key, act, trace);
  }

  /**
   * Records whose transferred copies did not agree within `transferPullMs` (their value changed
   * under the senders, or too few sent it): their votes are forgotten and every other member of
   * the close group is asked for them again, a fresh round (SPEC.md 4: the newcomer pulls what it
   * lacks). At most a tick's worth of transfer messages' records per tick.
   */
  async pullStalled(): Promise<void> {
    const { context, telemetry, transfer } = this.#deps;
    if (this.#deps.records === undefined) return;
    const limit = transferBatchRecords(context.params) * transferBatchesPerTick(context.params);
    const byMember = new Map<string, { nae: Name; key: Uint8Array }[]>();
    for (const recordKey of await transfer.stalled(transferPullMs(context.params), limit)) {
      await transfer.forget(recordKey);
      const nae = nameFromHex(naeHexOfTransferKey(recordKey));
      if (!context.isResponsible(nae)) continue;
      const key = Buffer.from(recordKey.slice(recordKey.indexOf(':') + 1), 'hex');
      for (const member of context.closeGroup(context.persona, nae)) {
        if (nameEquals(member, context.self)) continue;
        byMember.set(toHex(member), [...(byMember.get(toHex(member)) ?? []), { nae, key }]);
      }
    }
    for (const [member, records] of byMember) {
      const to = { persona: context.persona, nae: nameFromHex(member) };
      await this.#deps.send(nodeMessage(context, ACCOUNT_PULL_MESSAGE, to, accountPullCodec.encode({ records }), NO_CONTENT));
      telemetry.count('safe_transfer_pulls_total', { persona: context.persona }, records.length);
    }
  }

  /** Forgets the votes on records of NAEs this node is no longer responsible for. */
  async forgetOthers(): Promise<void> {
    const { context, transfer } = this.#deps;
    await transfer.forgetUnless((recordKey) => context.isResponsible(nameFromHex(naeHexOfTransferKey(recordKey))));
  }
}
