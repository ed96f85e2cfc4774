import { type GroupParameters, groupQuorum } from './config.js';
import { type Envelope, verifyEnvelope } from './envelope.js';
import { SenderNotInGroupError, WrongSourceError } from './errors.js';
import { nameEquals, shortName, toHex } from './name.js';
import type { AccumulationResult, AccumulatorStore } from './ports.js';
import type { GroupView } from './routing.js';

export type AccumulatorDecision =
  /** Quorum just reached: act on the message, once. */
  | 'act'
  /** Counted; still below quorum. */
  | 'pending'
  /** Quorum was reached earlier; a further member's copy. Nothing to do. */
  | 'late'
  /** This sender's copy was already counted: a retry or a duplicate delivery. */
  | 'repeat';

/** Where a copy must come from for the accumulator to count it. */
export type SourceCheck =
  /**
   * A close group: the sender must be among the K members of `view` closest to the source NAE;
   * K − 1 copies act, or the first when `first` (accumulate on 1).
   */
  | { readonly kind: 'group'; readonly view: GroupView; readonly first?: boolean }
  /** One authenticated entity: its signature is its authority; quorum 1. */
  | { readonly kind: 'single' };

/**
 * Ac: counts copies of one message from distinct, authenticated senders of the right group and
 * says "act" exactly once, when K − 1 of them (1 for a single authenticated sender) have arrived.
 * A copy that fails any check throws a typed error and is not counted.
 */
export class Accumulator {
  readonly #store: AccumulatorStore;
  readonly #params: GroupParameters;

  constructor(store: AccumulatorStore, params: GroupParameters) {
    this.#store = store;
    this.#params = params;
  }

  /** Checks a copy and counts it. */
  async accept(envelope: Envelope, source: SourceCheck): Promise<AccumulatorDecision> {
    verifyEnvelope(envelope);
    let quorum = 1;
    if (source.kind === 'group') {
      if (envelope.authority !== 'group') {
        throw new WrongSourceError(`${envelope.type} must come from a ${source.view.persona} group`);
      }
      const k = this.#params.closeGroupSize;
      const member = source.view.get(envelope.sender);
      if (member === undefined || !source.view.isInCloseGroup(envelope.sender, envelope.source.nae, k)) {
        throw new SenderNotInGroupError(
          `${shortName(envelope.sender)} is not in the ${source.view.persona} close group of ${shortName(envelope.source.nae)}`,
        );
      }
      if (!nameEquals(member.publicKey, envelope.senderPublicKey)) {
        throw new SenderNotInGroupError(`${shortName(envelope.sender)} signed with a key the routing view does not know`);
      }
      quorum = source.first === true ? 1 : groupQuorum(this.#params, source.view.size);
    } else if (envelope.authority !== 'single') {
      throw new WrongSourceError(`${envelope.type} must come from a single authenticated sender`);
    }
    const result: AccumulationResult = await this.#store.add(
      toHex(envelope.id),
      toHex(envelope.sender),
      quorum,
      this.#params.accumulatorMemoryMs,
    );
    if (result.reached) return 'act';
    // A second delivery of a copy already counted: a repeat to answer only once the message was acted on.
    if (result.repeat) return result.count >= quorum ? 'repeat' : 'pending';
    return result.count > quorum ? 'late' : 'pending';
  }
}
