import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_GROUP_PARAMETERS, type GroupParameters } from './config.js';
import { Firewall } from './firewall.js';
import { MemoryFirewallStore } from './memory/stores.js';
import { NAME_BYTES, toHex } from './name.js';
import { VirtualClock } from './sim/clock.js';

const params: GroupParameters = { ...DEFAULT_GROUP_PARAMETERS, firewallMemoryMs: 300_000 };
const id = (n: number) => new Uint8Array(NAME_BYTES).fill(n);
const reply = { type: 'PutResponse', payload: Uint8Array.of(7, 7) };

function setup() {
  const clock = new VirtualClock();
  const firewall = new Firewall(new MemoryFirewallStore(clock), params);
  return { clock, firewall };
}

describe('Firewall', () => {
  it('first admit returns null and records syncing', async () => {
    const { firewall } = setup();
    expect(await firewall.lookup(id(1), false)).toBeNull();
    expect(await firewall.admit(id(1), false)).toBeNull();
    expect(await firewall.lookup(id(1), false)).toEqual({ state: 'syncing' });
  });

  it('a repeat gets syncing, then after update() the recorded reply', async () => {
    const { firewall } = setup();
    expect(await firewall.admit(id(1), false)).toBeNull();
    expect(await firewall.admit(id(1), false)).toEqual({ state: 'syncing' });
    await firewall.update(id(1), reply, false);
    expect(await firewall.admit(id(1), false)).toEqual({ state: 'done', reply });
    expect(await firewall.lookup(id(1), false)).toEqual({ state: 'done', reply });
    // Done with nothing to send back is still done: a repeat is not handled again.
    await firewall.update(id(2), null, false);
    expect(await firewall.admit(id(2), false)).toEqual({ state: 'done', reply: null });
  });

  it('lookup never creates a record', async () => {
    const { firewall } = setup();
    expect(await firewall.lookup(id(3), false)).toBeNull();
    expect(await firewall.lookup(id(3), false)).toBeNull();
    expect(await firewall.admit(id(3), false)).toBeNull();
  });

  it('forgets a message after firewallMemoryMs (VirtualClock)', async () => {
    const { clock, firewall } = setup();
    expect(await firewall.admit(id(1), false)).toBeNull();
    clock.advance(params.firewallMemoryMs - 1);
    expect(await firewall.admit(id(1), false)).toEqual({ state: 'syncing' });
    clock.advance(1);
    expect(await firewall.lookup(id(1), false)).toBeNull();
    // Forgotten: the next copy is a first time again.
    expect(await firewall.admit(id(1), false)).toBeNull();
  });

  it('update() keeps the reply for a full firewallMemoryMs from the update', async () => {
    const { clock, firewall } = setup();
    expect(await firewall.admit(id(1), false)).toBeNull();
    clock.advance(200_000);
    await firewall.update(id(1), reply, false);
    clock.advance(params.firewallMemoryMs - 1);
    expect(await firewall.admit(id(1), false)).toEqual({ state: 'done', reply });
    clock.advance(1);
    expect(await firewall.admit(id(1), false)).toBeNull();
  });

  it('client requests go to the client store when there is one, the rest stay in the main store', async () => {
    const clock = new VirtualClock();
    const [main, clients] = [new MemoryFirewallStore(clock), new MemoryFirewallStore(clock)];
    const firewall = new Firewall(main, params, clients);
    expect(await firewall.admit(id(1), true)).toBeNull();
    expect(await firewall.admit(id(2), false)).toBeNull();
    await firewall.update(id(1), reply, true);
    expect(await clients.lookup(toHex(id(1)))).toEqual({ state: 'done', reply });
    expect(await main.lookup(toHex(id(1)))).toBeNull();
    expect(await main.lookup(toHex(id(2)))).toEqual({ state: 'syncing' });
    expect(await clients.lookup(toHex(id(2)))).toBeNull();
    expect(await firewall.lookup(id(1), true)).toEqual({ state: 'done', reply });
  });

  it('property: each id is new exactly once within its memory, independently of other ids', async () => {
    const ops = fc.array(
      fc.oneof(fc.record({ admit: fc.integer({ min: 0, max: 5 }) }), fc.record({ wait: fc.integer({ min: 0, max: 200_000 }) })),
      {
        maxLength: 40,
      },
    );
    await fc.assert(
      fc.asyncProperty(ops, async (steps) => {
        const { clock, firewall } = setup();
        // Model: id → time it was first admitted (records are not refreshed by admit).
        const admittedAt = new Map<number, number>();
        for (const step of steps) {
          if ('wait' in step) {
            clock.advance(step.wait);
            continue;
          }
          const at = admittedAt.get(step.admit);
          const live = at !== undefined && clock.now() - at < params.firewallMemoryMs;
          const record = await firewall.admit(id(step.admit), false);
          if (live) expect(record).toEqual({ state: 'syncing' });
          else {
            expect(record).toBeNull();
            admittedAt.set(step.admit, clock.now());
          }
        }
      }),
      { numRuns: 100 },
    );
  });
});
