import { fromWireVersion, toWireVersion, type VersionName } from '@safe/chunks';
import {
  CLIENT_REPLY,
  clientReplyCodec,
  type HandlerContext,
  handles,
  type Incoming,
  InvalidNameError,
  nameEquals,
  parseName,
  reply,
  replyOk,
} from '@safe/core';
import { toVersionManager } from '@safe/messages';
import { versionsReplyCodec } from '../messages.js';
import { UnknownSdvError } from '../requests.js';
import { branchOf, tipsOf } from '../sdv.js';
import type { VersionManagerState } from '../state.js';
import type { StoredSdv } from '../store.js';

/** The SDV a read names, from this member's own state (reads are not synced: answered for speed). */
async function readSdv(msg: Incoming<{ name: Uint8Array }>, state: VersionManagerState): Promise<StoredSdv> {
  const name = parseName(msg.payload.name, 'SDV name');
  if (!nameEquals(msg.destination.nae, name)) throw new InvalidNameError('a read goes to the close group of the SDV name');
  const stored = await state.store.sdv(name);
  if (stored === undefined) throw new UnknownSdvError();
  return stored;
}

const answer = (msg: Incoming<unknown>, versions: readonly VersionName[]) =>
  reply(msg, CLIENT_REPLY, clientReplyCodec.encode(replyOk(versionsReplyCodec.encode({ versions: versions.map(toWireVersion) }))));

/** Get | MaidNode =>>>> | [Ac, Fw] VersionManager: the tips, highest first. Anyone who knows the name reads. */
export const getVersions = handles(toVersionManager.getVersions, async (msg, ctx: HandlerContext<VersionManagerState>) => {
  const stored = await readSdv(msg, ctx.state);
  return { send: [answer(msg, tipsOf(stored.sdv))] };
});

/** GetBranch | MaidNode =>>>> | [Ac, Fw] VersionManager: the branch from a tip back to its root or orphan. */
export const getBranch = handles(toVersionManager.getBranch, async (msg, ctx: HandlerContext<VersionManagerState>) => {
  const tip = fromWireVersion(msg.payload.tip, 'tip');
  const stored = await readSdv(msg, ctx.state);
  return { send: [answer(msg, branchOf(stored.sdv, tip))] };
});
