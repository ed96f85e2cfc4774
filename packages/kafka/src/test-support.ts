// Shared by the tests of this package (excluded from the build): numbered copies to send through the broker.
import { type Envelope, type Identity, type Name, sealEnvelope } from '@safe/core';

/** Copy number `seq` (the first 4 bytes of a `size`-byte payload) from `sender` to the NAE `nae` of `persona`. */
export function seqCopy(sender: Identity, persona: string, nae: Name, seq: number, trace: Record<string, string> = {}, size = 8): Envelope {
  const payload = new Uint8Array(size);
  new DataView(payload.buffer).setUint32(0, seq);
  return sealEnvelope(
    {
      type: 'test.seq',
      source: { persona: 'data-manager', nae: sender.name },
      authority: 'single',
      destination: { persona, nae },
      scope: 'close-group',
      payload,
      correlation: new Uint8Array(0),
    },
    sender,
    trace,
  );
}

/** The number `seqCopy` put in a copy. */
export const seqOf = (e: Envelope): number => new DataView(e.payload.buffer, e.payload.byteOffset, e.payload.byteLength).getUint32(0);
