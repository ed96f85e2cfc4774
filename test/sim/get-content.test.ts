import { randomBytes } from 'node:crypto';
import {
  type ClientReplyValue,
  type Envelope,
  type HandlerContext,
  type Name,
  nameEquals,
  nameOf,
  type ReceiveResult,
  ReplyStatus,
} from '@safe/core';
import type { DataManagerState } from '@safe/data-manager';
import type { PmidNodeState } from '@safe/pmid-node';
import { ChunkCopy } from '@safe/proto/messages';
import { afterEach, describe, expect, it } from 'vitest';
import { SimNet } from '../support/sim-network.js';

/**
 * Issue 15 ("hash once"): on the Get path the chunk travels as the envelope's bulk content, named
 * by the digest the id and signature cover, not in the payload (which every id and verify would
 * hash again). Every receiver checks the content against the digest before using it.
 */
let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

const CALL_MS = 10_000;

async function withChunk(seed: number): Promise<{ sim: SimNet; content: Uint8Array; name: Name }> {
  const sim = await SimNet.start({ seed });
  net = sim;
  const client = sim.newClient();
  await sim.setUpClient(client);
  const content = randomBytes(3000);
  expect((await sim.put(client, content)).status).toBe(ReplyStatus.OK);
  await sim.sim.settle();
  return { sim, content, name: nameOf(content) };
}

/** Starts a Get through the Gateway; the function returned reads its outcome once there is one. */
function begin(sim: SimNet, name: Name): () => ClientReplyValue | Error | undefined {
  let outcome: ClientReplyValue | Error | undefined;
  sim.gateway.call(sim.getRequest(sim.newClient(), name), CALL_MS).then(
    (reply) => {
      outcome = reply;
    },
    (error: unknown) => {
      outcome = error instanceof Error ? error : new Error(String(error));
    },
  );
  return () => outcome;
}

const tampered = (envelope: Envelope): Envelope => {
  const content = new Uint8Array(envelope.content ?? []);
  content[0] = (content[0] ?? 0) ^ 0xff;
  return { ...envelope, content };
};

const pendingOf = (sim: SimNet, name: Name) =>
  sim.dataManagersOf(name, ChunkCopy.PRIMARY).map((dm) => {
    const state = (dm.replica.context as HandlerContext<DataManagerState>).state;
    return [...state.pendingGets.keys()].length;
  });

const refusedFor = (result: ReceiveResult) => (typeof result === 'object' ? result.rejected.constructor.name : result);

describe('the chunk of a Get travels as bulk content (issue 15)', () => {
  it('a holder answers with the chunk as content under its digest, and so does the group to the entry', async () => {
    const { sim, content, name } = await withChunk(1);
    const seen: Envelope[] = [];
    sim.sim.lose((e) => {
      if (e.type === 'GetResponse' || (e.type === 'ClientReply' && e.source.persona === 'data-manager')) seen.push(e);
      return false;
    });
    const reply = await sim.get(sim.newClient(), name);
    expect(reply.status).toBe(ReplyStatus.OK);
    expect(Buffer.from(sim.decodeGet(reply)).equals(content)).toBe(true);
    const responses = seen.filter((e) => e.type === 'GetResponse');
    const replies = seen.filter((e) => e.type === 'ClientReply');
    expect(responses.length).toBeGreaterThan(0);
    expect(replies.length).toBeGreaterThan(0);
    for (const e of [...responses, ...replies]) {
      // The id covers the digest, never the chunk: the payload is small, the content is the chunk.
      expect(e.payload.length).toBeLessThan(200);
      expect(Buffer.from(e.content ?? []).equals(content)).toBe(true);
      expect(nameEquals(e.contentDigest ?? new Uint8Array(0), name)).toBe(true);
    }
  });

  it('a holder without the chunk answers an error with no content (the digest of nothing); the next holder answers', async () => {
    const { sim, content, name } = await withChunk(4);
    const [dm] = sim.dataManagersOf(name, ChunkCopy.PRIMARY);
    if (dm === undefined) throw new Error('no DataManager');
    const state = (dm.replica.context as HandlerContext<DataManagerState>).state;
    const record = await state.store.record(name, ChunkCopy.PRIMARY);
    if (record === undefined) throw new Error('no record');
    const [top] = (await state.store.holders(record.id)).filter((h) => h.state === 'stored').map((h) => h.pmid);
    const holder = top === undefined ? undefined : sim.sim.node(top);
    if (holder === undefined) throw new Error('no holder');
    expect(await (holder.replica.context as HandlerContext<PmidNodeState>).state.chunks.delete(name, ChunkCopy.PRIMARY)).toBe(true);
    const responses: Envelope[] = [];
    sim.sim.lose((e) => {
      if (e.type === 'GetResponse') responses.push(e);
      return false;
    });
    const reply = await sim.get(sim.newClient(), name);
    expect(Buffer.from(sim.decodeGet(reply)).equals(content)).toBe(true);
    const failed = responses.find((e) => nameEquals(e.sender, holder.info.name));
    expect(failed?.content?.length ?? 0).toBe(0);
    expect(nameEquals(failed?.contentDigest ?? new Uint8Array(0), nameOf(new Uint8Array(0)))).toBe(true);
  });

  it('a GetResponse whose content does not match its digest is refused and changes nothing', async () => {
    const { sim, content, name } = await withChunk(2);
    const held: Envelope[] = [];
    const stop = sim.sim.lose((e) => {
      if (e.type !== 'GetResponse') return false;
      held.push(e);
      return true;
    });
    const outcome = begin(sim, name);
    await sim.sim.settle({ maxIdleMs: 0 });
    stop();
    const [response] = held;
    if (response === undefined) throw new Error('no GetResponse');
    expect(pendingOf(sim, name).every((n) => n === 1)).toBe(true);
    for (const dm of sim.dataManagersOf(name, ChunkCopy.PRIMARY)) {
      expect(refusedFor(await dm.replica.receive(tampered(response)))).toBe('ContentMismatchError');
      const { content: _, ...bare } = response;
      expect(refusedFor(await dm.replica.receive(bare as Envelope))).toBe('MalformedEnvelopeError');
    }
    await sim.sim.settle({ maxIdleMs: 0 });
    expect(outcome()).toBeUndefined();
    expect(pendingOf(sim, name).every((n) => n === 1)).toBe(true);
    // The genuine answer still goes through.
    for (const dm of sim.dataManagersOf(name, ChunkCopy.PRIMARY)) await dm.replica.receive(response);
    await sim.sim.settle({ maxIdleMs: 0 });
    const reply = outcome();
    if (reply === undefined || reply instanceof Error) throw reply ?? new Error('unanswered');
    expect(Buffer.from(sim.decodeGet(reply)).equals(content)).toBe(true);
    expect(pendingOf(sim, name).every((n) => n === 0)).toBe(true);
  });

  it('the entry counts no reply whose content does not match its digest', async () => {
    const { sim, content, name } = await withChunk(3);
    const held: Envelope[] = [];
    const stop = sim.sim.lose((e) => {
      if (e.type !== 'ClientReply' || e.source.persona !== 'data-manager') return false;
      held.push(e);
      return true;
    });
    const outcome = begin(sim, name);
    await sim.sim.settle({ maxIdleMs: 0 });
    stop();
    expect(held.length).toBeGreaterThanOrEqual(3);
    const entry = sim.sim.nodes('maid-manager')[0];
    if (entry === undefined) throw new Error('no entry');
    for (const copy of held) await entry.replica.receive(tampered(copy));
    await sim.sim.settle({ maxIdleMs: 0 });
    expect(outcome()).toBeUndefined();
    for (const copy of held) await entry.replica.receive(copy);
    await sim.sim.settle({ maxIdleMs: 0 });
    const reply = outcome();
    if (reply === undefined || reply instanceof Error) throw reply ?? new Error('unanswered');
    expect(Buffer.from(sim.decodeGet(reply)).equals(content)).toBe(true);
  });
});
