import { generateIdentity, PermissionDeniedError, type ReceiveResult, sealEnvelope, silentLogger, UnavailableError } from '@safe/core';
import { describe, expect, it } from 'vitest';
import { handleDirect } from './direct-retry.js';

const envelope = sealEnvelope(
  {
    type: 'Sync',
    source: { persona: 'data-manager', nae: generateIdentity().name },
    authority: 'single',
    destination: { persona: 'data-manager', nae: generateIdentity().name },
    scope: 'node',
    payload: new Uint8Array([1]),
    correlation: new Uint8Array(0),
  },
  generateIdentity(),
);
const unavailable: ReceiveResult = { rejected: new UnavailableError('postgres: the database system is shutting down') };
const fast = { minMs: 5, maxMs: 20, log: silentLogger };

/** A replica that answers `results` in turn (the last one from then on), counting the calls. */
function replica(...results: ReceiveResult[]) {
  let calls = 0;
  return {
    handle: async () => results[Math.min(calls++, results.length - 1)] as ReceiveResult,
    calls: () => calls,
  };
}

describe('handleDirect', () => {
  it('handles a copy rejected as unavailable again until the replica takes it', async () => {
    const r = replica(unavailable, unavailable, 'handled');
    const result = await handleDirect(envelope, r.handle, { ...fast, forMs: 10_000, signal: new AbortController().signal });
    expect(result).toBe('handled');
    expect(r.calls()).toBe(3);
  });

  it('takes any other rejection as final at once', async () => {
    const denied: ReceiveResult = { rejected: new PermissionDeniedError('not in the close group') };
    const r = replica(denied, 'handled');
    expect(await handleDirect(envelope, r.handle, { ...fast, forMs: 10_000, signal: new AbortController().signal })).toBe(denied);
    expect(r.calls()).toBe(1);
  });

  it('gives the copy up, answering the last rejection, once it has been tried for forMs', async () => {
    const r = replica(unavailable);
    const result = await handleDirect(envelope, r.handle, { ...fast, forMs: 100, signal: new AbortController().signal });
    expect(result).toBe(unavailable);
    expect(r.calls()).toBeGreaterThan(1);
  });

  it('stops trying on shutdown', async () => {
    const stopping = new AbortController();
    const r = replica(unavailable);
    const handled = handleDirect(envelope, r.handle, { ...fast, forMs: 60_000, signal: stopping.signal });
    stopping.abort();
    await expect(handled).rejects.toThrow();
    const calls = r.calls();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(r.calls()).toBe(calls);
  });
});
