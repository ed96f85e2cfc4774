import type { ChunkCopy } from '@safe/chunks';
import { LossReason } from '@safe/chunks';
import type { Name, Outbound } from '@safe/core';
import { lostCodec } from './messages.js';

/** Lost -> the node's own PmidManagers: it no longer holds the copy, and why. */
export function reportLost(self: Uint8Array, held: { name: Uint8Array; copy: ChunkCopy }, reason: LossReason): Outbound {
  return {
    type: 'Lost',
    to: { persona: 'pmid-manager', nae: self as Name },
    scope: 'close-group',
    // LOST is the proto default: left out, so the bytes are those a node before reasons sent.
    payload: lostCodec.encode({ name: held.name, copy: held.copy, ...(reason === LossReason.LOST ? {} : { reason }) }),
  };
}
