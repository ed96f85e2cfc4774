import { describe, expect, it } from 'vitest';
import { type Envelope, sealEnvelope } from '../envelope.js';
import { MalformedPayloadError, UnavailableError } from '../errors.js';
import { generateIdentity } from '../identity.js';
import { silentLogger } from '../ports.js';
import { VirtualClock } from '../sim/clock.js';
import { noTelemetry } from '../telemetry.js';
import { OwedCopies } from './owed-copies.js';

const identity = generateIdentity();
const copy = (n: number): Envelope =>
  sealEnvelope(
    {
      type: 'Delete',
      source: { persona: 'maid-manager', nae: identity.name },
      authority: 'group',
      destination: { persona: 'data-manager', nae: identity.name },
      scope: 'close-group',
      payload: Uint8Array.of(n),
      correlation: new Uint8Array(0),
    },
    identity,
  );

/** A bus that is away until `back()`; what it took, in order. */
function bus() {
  let away = true;
  const taken: number[] = [];
  return {
    taken,
    back: () => {
      away = false;
    },
    send(envelope: Envelope) {
      if (envelope.payload[0] === 99) throw new MalformedPayloadError('refused for good');
      if (away) throw new UnavailableError('Kafka is restarting');
      taken.push(envelope.payload[0] ?? -1);
    },
  };
}

function owedOver(transport: ReturnType<typeof bus>, clock = new VirtualClock(), limit = 100, limitBytes = 1_000_000) {
  return new OwedCopies({
    transport,
    log: silentLogger,
    telemetry: noTelemetry,
    persona: 'maid-manager',
    now: () => clock.now(),
    keepMs: 60_000,
    limit,
    limitBytes,
  });
}

describe('OwedCopies', () => {
  it('keeps what the bus refused as unavailable and sends it, in order and ahead of later copies, once the bus is back', async () => {
    const transport = bus();
    const owed = owedOver(transport);
    await owed.send(copy(1));
    await owed.send(copy(2));
    await owed.flush();
    expect(owed.size).toBe(2);
    transport.back();
    // The bus is back, but a later copy still waits behind the owed ones.
    await owed.send(copy(3));
    expect(transport.taken).toEqual([]);
    await owed.flush();
    expect(transport.taken).toEqual([1, 2, 3]);
    expect(owed.size).toBe(0);
    await owed.send(copy(4));
    expect(transport.taken).toEqual([1, 2, 3, 4]);
  });

  it('throws any other refusal at once; drops an owed copy refused for good, the oldest past the limit, and those owed longer than the firewall remembers', async () => {
    const transport = bus();
    await expect(owedOver(transport).send(copy(99))).rejects.toBeInstanceOf(MalformedPayloadError);

    const clock = new VirtualClock();
    const owed = owedOver(transport, clock, 3);
    for (const n of [1, 2, 3, 4]) await owed.send(copy(n));
    expect(owed.size).toBe(3);
    await owed.send(copy(99));
    transport.back();
    await owed.flush();
    expect(transport.taken).toEqual([3, 4]);

    // Bytes bound the copies too (one payload byte each here): the oldest goes first.
    const byBytes = owedOver(bus(), clock, 100, 2);
    for (const n of [1, 2, 3]) await byBytes.send(copy(n));
    expect(byBytes.size).toBe(2);

    const stale = owedOver(bus(), clock);
    await stale.send(copy(5));
    clock.advance(60_001);
    await stale.flush();
    expect(stale.size).toBe(0);
  });
});
