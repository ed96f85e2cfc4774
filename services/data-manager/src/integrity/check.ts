import { copyGroupName } from '@safe/chunks';
import { type Fields, type HandlerContext, type Name, nameEquals, type Outbound, sha512, toHex } from '@safe/core';
import { toDataManager, toPmidNode } from '@safe/messages';
import type { HolderLost } from '@safe/proto/data_manager';
import { type GetResponse, type HolderLoss, type IntegrityAnswer, send as sendTo } from '../messages.js';
import { askHolder, carriesChunk, isLive } from '../rules.js';
import { copyKey, type DataManagerState, type IntegrityCheck } from '../state.js';
import type { HeldCopy } from '../store.js';

const encoder = new TextEncoder();
const NONCE_TAG = encoder.encode('integrity-nonce');
const PAGE_TAG = encoder.encode('integrity-page');
const FETCH_TAG = encoder.encode('integrity-fetch');
const VERDICT_TAG = encoder.encode('integrity-verdict');

function u64(value: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setFloat64(0, value);
  return out;
}

/**
 * Data integrity checks (SPEC.md 3.3): every member of a copy group asks each live stored holder
 * for SHA-512(content ‖ nonce) with the same nonce, so the K members' IntegrityChecks are copies
 * of one group message (the PmidNode answers once K − 1 agree to ask, as for Get) and every
 * member gets the same answers and reaches the same verdict. The nonce is derived from what the
 * members share and a holder cannot know beforehand: the copy group, the trigger (the integrity
 * period's number or the PmidNode that came back), the record's `createdBy` tag (never sent to a
 * PmidNode) and the holder list. `trigger` is what every member sees alike.
 */
export async function startIntegrityChecks(
  ctx: HandlerContext<DataManagerState>,
  copies: readonly HeldCopy[],
  trigger: Uint8Array,
): Promise<Outbound[]> {
  const { state } = ctx;
  expireChecks(ctx);
  const send: Outbound[] = [];
  for (const held of copies) {
    if (state.checks.size >= state.config.integrityBatch) break;
    const group = copyGroupName(held.name, held.copy);
    const key = copyKey(held.name, held.copy);
    if (!ctx.isResponsible(group) || state.checks.has(key)) continue;
    const record = await state.store.record(held.name, held.copy);
    if (record === undefined) continue;
    const holders = (await state.store.holders(record.id)).filter((h) => h.state === 'stored' && isLive(ctx, h.pmid)).map((h) => h.pmid);
    if (holders.length === 0) continue;
    const nonce = sha512(NONCE_TAG, group, trigger, u64(record.createdBy), ...holders);
    state.checks.set(key, {
      name: held.name,
      copy: held.copy,
      group,
      nonce,
      holders,
      answers: new Map(),
      lost: [],
      sources: [],
      startedAt: ctx.now(),
    });
    for (const pmid of holders) {
      send.push(
        sendTo(
          toPmidNode.integrityCheck,
          { nae: pmid, scope: 'node', as: group, correlation: nonce },
          { name: held.name, copy: held.copy, nonce },
        ),
      );
    }
  }
  return send;
}

/**
 * The periodic check (onTick): once per `integrityPeriodMs`, a page of `integrityBatch` copies
 * starting at a name derived from the period's number. A shared start (rather than each replica's
 * own cursor) keeps the members of a copy group on the same copies although each holds other
 * groups' records too; over the periods every copy is reached.
 */
export async function periodicIntegrityChecks(ctx: HandlerContext<DataManagerState>): Promise<Outbound[]> {
  const { state } = ctx;
  expireChecks(ctx);
  if (state.config.integrityPeriodMs === 0) return [];
  const epoch = Math.floor(ctx.now() / state.config.integrityPeriodMs);
  const first = state.integrityEpoch === -1;
  if (epoch === state.integrityEpoch) return [];
  state.integrityEpoch = epoch;
  // A replica that just started waits for the next period, so members that started at different times check together.
  if (first) return [];
  const trigger = u64(epoch);
  return startIntegrityChecks(ctx, await state.store.copiesFrom(sha512(PAGE_TAG, trigger), state.config.integrityBatch), trigger);
}

/** Checks whose holders did not all answer within `getRetryMs` end without a verdict. */
function expireChecks(ctx: HandlerContext<DataManagerState>): void {
  for (const [key, check] of ctx.state.checks) if (ctx.now() - check.startedAt >= ctx.state.config.getRetryMs) ctx.state.checks.delete(key);
}

/** A holder's answer; once every holder answered, the verdict. An answer from a node not asked, or for another nonce, changes nothing. */
export function answerCheck(ctx: HandlerContext<DataManagerState>, sender: Name, answer: IntegrityAnswer): Outbound[] {
  const key = copyKey(answer.name, answer.copy);
  const check = ctx.state.checks.get(key);
  if (check === undefined || check.sources.length > 0 || !Buffer.from(check.nonce).equals(answer.nonce)) return [];
  const hex = toHex(sender);
  if (!check.holders.some((h) => nameEquals(h, sender)) || check.answers.has(hex)) return [];
  check.answers.set(hex, answer.held ? answer.digest : null);
  if (check.answers.size < check.holders.length) return [];
  return judge(ctx, key, check);
}

const digestOf = (check: IntegrityCheck, pmid: Name) => {
  const answer = check.answers.get(toHex(pmid));
  return answer ? toHex(answer) : undefined;
};

/**
 * Two or more holders agreeing, more than any other answer: the rest lost the copy. Otherwise
 * (two holders disagreeing, or one) the content is read from the holders in record order and
 * checked against its name; each answer is judged by it. "Don't have it" is always a loss.
 */
function judge(ctx: HandlerContext<DataManagerState>, key: string, check: IntegrityCheck): Outbound[] {
  const votes = new Map<string, number>();
  for (const pmid of check.holders) {
    const digest = digestOf(check, pmid);
    if (digest !== undefined) votes.set(digest, (votes.get(digest) ?? 0) + 1);
  }
  const [top, second] = [...votes].sort(([, a], [, b]) => b - a);
  if (top !== undefined && top[1] >= 2 && (second === undefined || second[1] < top[1])) {
    return conclude(
      ctx,
      key,
      check,
      check.holders.filter((pmid) => digestOf(check, pmid) !== top[0]),
    );
  }
  check.lost.push(...check.holders.filter((pmid) => digestOf(check, pmid) === undefined));
  check.sources = check.holders.filter((pmid) => digestOf(check, pmid) !== undefined);
  return check.sources.length === 0 ? conclude(ctx, key, check, []) : [fetchFrom(check)];
}

function fetchFrom(check: IntegrityCheck): Outbound {
  const [source] = check.sources as [Name];
  return { ...askHolder(source, check.name, check.copy), as: check.group, correlation: sha512(FETCH_TAG, check.nonce, source) };
}

/** A holder's answer to a check's Get (empty when no check waits on it): the content that hashes to its name judges the answers. */
export function continueCheck(ctx: HandlerContext<DataManagerState>, sender: Name, answer: GetResponse): Outbound[] {
  const key = copyKey(answer.name, answer.copy);
  const check = ctx.state.checks.get(key);
  const source = check?.sources[0];
  if (check === undefined || source === undefined || !nameEquals(source, sender)) return [];
  if (carriesChunk(answer)) {
    const expected = toHex(sha512(answer.content, check.nonce));
    return conclude(
      ctx,
      key,
      check,
      check.sources.filter((pmid) => digestOf(check, pmid) !== expected),
    );
  }
  // It cannot give content matching the name: its own copy is lost whatever it answered.
  check.lost.push(source);
  check.sources.shift();
  return check.sources.length > 0 ? [fetchFrom(check)] : conclude(ctx, key, check, []);
}

/** The verdict: each lost holder goes to the group as HolderCorrupt, acted on only once K − 1 members send the same. */
function conclude(ctx: HandlerContext<DataManagerState>, key: string, check: IntegrityCheck, more: readonly Name[]): Outbound[] {
  ctx.state.checks.delete(key);
  const lost = [...check.lost, ...more];
  if (lost.length > 0)
    ctx.log.warn(
      { chunk: toHex(check.name).slice(0, 16), copy: check.copy, lost: lost.map((p) => toHex(p).slice(0, 16)) },
      'integrity check failed',
    );
  return lost.map((pmid) => {
    // `reason` left out (LOST), as the verdict always was: the members' copies keep the bytes they accumulate on.
    const verdict: HolderLoss = { name: check.name, copy: check.copy, pmid };
    const to = { nae: check.group, scope: 'close-group', as: check.group, correlation: sha512(VERDICT_TAG, check.nonce, pmid) } as const;
    return sendTo(toDataManager.holderCorrupt, to, verdict as Fields<HolderLost>);
  });
}
