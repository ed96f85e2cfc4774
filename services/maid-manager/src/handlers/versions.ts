import { fromWireOrigin, fromWireVersion, sdvLimit, sdvName, toWireOrigin } from '@safe/chunks';
import {
  answerClient,
  type HandlerContext,
  handles,
  type Incoming,
  nameEquals,
  originOf,
  type PayloadOf,
  parseName,
  UnknownClientError,
  WrongSourceError,
} from '@safe/core';
import { toMaidManager, toVersionManager } from '@safe/messages';
import { send } from '../messages.js';
import type { MaidManagerState } from '../state.js';

/**
 * The owner and account checks of a versioned-data mutation: the client has an account, and the
 * SDV is named with the client's own name (so it can only change its own). Returns the SDV's name.
 */
async function ownSdv(
  msg: Incoming<PayloadOf<typeof toMaidManager.putVersion | typeof toMaidManager.deleteBranchTillFork>>,
  state: MaidManagerState,
) {
  if (!(await state.store.exists(msg.sender))) throw new UnknownClientError('unknown client: create an account first');
  const { dataName, type } = msg.payload;
  const nae = sdvName(parseName(dataName, 'data name'), type, msg.sender);
  const origin = originOf(msg);
  return { nae, origin: origin ? toWireOrigin(origin) : null };
}

/** PutVersion | MaidNode =>>>> | [Ac, Fw] MaidManager [So] =>>>> VersionManager, which answers through VersionResult. */
export const putVersion = handles(toMaidManager.putVersion, async (msg, ctx: HandlerContext<MaidManagerState>) => {
  const { dataName, type, old, newVersion, maxVersions, maxBranches } = msg.payload;
  if (old != null) fromWireVersion(old, 'parent version');
  fromWireVersion(newVersion, 'new version');
  sdvLimit('maxVersions', maxVersions);
  sdvLimit('maxBranches', maxBranches);
  const { nae, origin } = await ownSdv(msg, ctx.state);
  const payload = { dataName, type, owner: msg.sender, old, newVersion, maxVersions, maxBranches, origin };
  return { send: [send(toVersionManager.putVersion, { nae, scope: 'close-group' }, payload)] };
});

/** DeleteBranchTillFork | MaidNode =>>>> | [Ac, Fw] MaidManager [So] =>>>> VersionManager, answered likewise. */
export const deleteBranchTillFork = handles(toMaidManager.deleteBranchTillFork, async (msg, ctx: HandlerContext<MaidManagerState>) => {
  const { dataName, type, tip } = msg.payload;
  fromWireVersion(tip, 'tip');
  const { nae, origin } = await ownSdv(msg, ctx.state);
  const payload = { dataName, type, owner: msg.sender, tip, origin };
  return { send: [send(toVersionManager.deleteBranchTillFork, { nae, scope: 'close-group' }, payload)] };
});

/** VersionResult | VersionManager ->>>> | [Ac, Fw] MaidManager [So]: the VersionManagers' final answer, passed on to the client. */
export const versionResult = handles(toMaidManager.versionResult, (msg) => {
  const { dataName, type, origin, reply } = msg.payload;
  if (!nameEquals(msg.source.nae, sdvName(parseName(dataName, 'data name'), type, msg.destination.nae))) {
    throw new WrongSourceError("a VersionManager group answers only for an SDV of this MaidManager group's client");
  }
  const to = fromWireOrigin(origin);
  if (to === undefined || reply == null) return {};
  return { send: [answerClient(to, reply)] };
});
