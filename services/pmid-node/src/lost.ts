import type { ChunkCopy } from '@safe/chunks';
import { LossReason } from '@safe/chunks';
import type { Fields, Name, Outbound } from '@safe/core';
import { toPmidManager } from '@safe/messages';
import type { Lost } from '@safe/proto/pmid_manager';
import { send } from './messages.js';

/** Lost -> the node's own PmidManagers: it no longer holds the copy, and why. */
export function reportLost(self: Uint8Array, held: { name: Uint8Array; copy: ChunkCopy }, reason: LossReason): Outbound {
  // LOST is the proto default: left out, so the bytes are those a node before reasons sent (hence the cast).
  const report = { name: held.name, copy: held.copy, ...(reason === LossReason.LOST ? {} : { reason }) } as Fields<Lost>;
  return send(toPmidManager.lost, { nae: self as Name, scope: 'close-group' }, report);
}
