import {
  type AccountPull as AccountPullMessage,
  AccountPullSchema,
  type AccountTransferBatch as AccountTransferBatchMessage,
  AccountTransferBatchSchema,
  type SyncProposal as SyncProposalMessage,
  SyncProposalSchema,
  type TransferredRecord as TransferredRecordMessage,
  type TransferredSyncEntry as TransferredSyncEntryMessage,
} from '@safe/proto/messages';
import { type Address, type Envelope, type MessageContent, verifyEnvelope } from '../envelope.js';
import { type SafeError, UnknownMessageTypeError, WrongSourceError } from '../errors.js';
import { nameEquals } from '../name.js';
import type { HandlerContext, Incoming, PersonaRecords } from '../persona.js';
import { type Fields, protoCodec } from '../proto.js';
import type { PersonaName } from '../routing.js';
import type { SyncEntry } from '../sync.js';

/** The runtime's own messages (not in any persona's table) and their payloads. */

export type ReceiveResult =
  | 'handled'
  | 'pending'
  /** A copy from a sender this replica's view does not know yet: held, not counted, until it does. */
  | 'held'
  | 'late'
  | 'duplicate'
  | 'not-responsible'
  | 'reply'
  | 'synced'
  | 'transferred'
  | { readonly rejected: SafeError };

export const SYNC_MESSAGE = 'Sync';
/** Account transfer (SPEC.md 4): a batch of records a member hands to a node that entered their close groups. */
export const ACCOUNT_TRANSFER_MESSAGE = 'AccountTransfer';
export const ACCOUNT_PULL_MESSAGE = 'AccountPull';
/** A member that has a message's quorum but not its content asks one of the message's senders for it (payload: the digest). */
export const CONTENT_PULL_MESSAGE = 'ContentPull';
/** The answer to a ContentPull: the content, on the copy, under its digest. */
export const CONTENT_PUSH_MESSAGE = 'ContentPush';
export const NO_CONTENT = new Uint8Array(0);

/**
 * A record as account transfer carries it; `applied`: the NAE's actions whose effect is in `value`
 * (applied at the sender).
 */
export type TransferredRecord = Fields<TransferredRecordMessage>;
/** A sync entry as account transfer carries it; `seenBy`: the members that told the group they have seen it (Sync.byNae): the sender only if it did. */
export type TransferredSyncEntry = Fields<TransferredSyncEntryMessage>;
export type AccountTransferBatch = Fields<AccountTransferBatchMessage>;
export const accountTransferBatchCodec = protoCodec(AccountTransferBatchSchema);
export type AccountPull = Fields<AccountPullMessage>;
export const accountPullCodec = protoCodec(AccountPullSchema);

export type SyncProposal = Fields<SyncProposalMessage>;
export const syncProposalCodec = protoCodec(SyncProposalSchema);

/** Sync entries as an account-transfer batch carries them. */
export function transferredEntries(entries: readonly SyncEntry[]): TransferredSyncEntry[] {
  return entries.map((entry) => ({
    nae: Buffer.from(entry.action.nae, 'hex'),
    key: entry.key,
    action: entry.action.type,
    parameters: Buffer.from(entry.action.payload, 'base64'),
    seenBy: entry.seenBy.map((member) => Buffer.from(member, 'hex')),
  }));
}

export function incomingOf(envelope: Envelope, payload: unknown, firewalled = true): Incoming<unknown> {
  return {
    id: envelope.id,
    type: envelope.type,
    payload,
    source: envelope.source,
    authority: envelope.authority,
    destination: envelope.destination,
    sender: envelope.sender,
    correlation: envelope.correlation,
    ...(envelope.replyTo ? { replyTo: envelope.replyTo } : {}),
    content: envelope.content ?? NO_CONTENT,
    ...(firewalled ? {} : { firewalled: false as const }),
  };
}

/** A message from this node, speaking for itself, to one node (`scope: 'node'`). */
export function nodeMessage(
  context: HandlerContext<unknown>,
  type: string,
  destination: Address,
  payload: Uint8Array,
  correlation: Uint8Array,
): MessageContent {
  return {
    type,
    source: { persona: context.persona, nae: context.self },
    authority: 'single',
    destination,
    scope: 'node',
    payload,
    correlation,
  };
}

/** The records of a signed account message (`what`) from a member of this persona speaking for itself; throws otherwise. */
export function memberRecords<S>(
  envelope: Envelope,
  what: string,
  persona: PersonaName,
  records: PersonaRecords<S> | undefined,
): PersonaRecords<S> {
  verifyEnvelope(envelope);
  if (records === undefined) throw new UnknownMessageTypeError(`${persona} keeps no records to transfer`);
  if (envelope.source.persona !== persona || envelope.authority !== 'single' || !nameEquals(envelope.source.nae, envelope.sender)) {
    throw new WrongSourceError(`${what} comes from a member of this persona, speaking for itself`);
  }
  return records;
}
