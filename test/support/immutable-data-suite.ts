import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { MAX_CHUNK_BYTES } from '@safe/chunks';
import { getBytes, putBytes, removeFile, SafeClient } from '@safe/client';
import { clientRequest, generateIdentity, type Name, nameOf, SafeError, toHex } from '@safe/core';
import { connectGateway, type GatewayClient } from '@safe/grpc';
import { toDataManager, toMaidManager } from '@safe/messages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, sealRequest as request } from './client-request.js';

/** What the suite runs against: a network's Gateway, and a way to look for what a chunk left behind. */
export interface SuiteNetwork {
  /** host:port of a Gateway. */
  readonly endpoint: string;
  /**
   * Every trace a chunk could leave in the network: DataManager records of it and copies of it on
   * PmidNodes. The checks that bad input "changes nothing" count these.
   */
  tracesOf(name: Name): Promise<number>;
  /** How long a client call may take (default: the SDK's and the raw client's own). */
  readonly clientTimeoutMs?: number;
  close(): Promise<void>;
}

/**
 * End to end through gRPC: the client SDK the `safe` CLI uses, or hand-built envelopes where the
 * input must be bad. The same bodies run against the embedded testnet (test/e2e) and the
 * multi-process testnet on the real stack (test/stack); `start` brings the network up.
 */
export function defineImmutableDataSuite(title: string, start: () => Promise<SuiteNetwork>, startTimeoutMs = 120_000): void {
  describe(title, () => {
    let network: SuiteNetwork;
    let client: SafeClient;
    let raw: GatewayClient;
    const tracesOf = (name: Name) => network.tracesOf(name);

    beforeAll(async () => {
      network = await start();
      const timeoutMs = network.clientTimeoutMs;
      client = await SafeClient.connect({ endpoint: network.endpoint, identity: generateIdentity(), ...(timeoutMs ? { timeoutMs } : {}) });
      await client.ensureReady();
      raw = timeoutMs ? connectGateway(network.endpoint, timeoutMs) : connectGateway(network.endpoint);
    }, startTimeoutMs);

    afterAll(async () => {
      client?.close();
      raw?.close();
      await network?.close();
    }, startTimeoutMs);

    /**
     * What a Get of a deleted file ends with. A Delete is answered before it has reached every
     * DataManager and PmidNode (the network always answers it with success), so on a network
     * whose members are really apart a Get right after it can meet a group that has not agreed
     * yet (or members that still serve the chunk): it is asked again, with a short deadline,
     * until it says 'not-found' or a minute and a half has passed; the last answer is returned
     * ('found' if the chunk never went away). The embedded testnet says 'not-found' at once.
     */
    async function getAfterDelete(name: Name): Promise<string> {
      const quick = await SafeClient.connect({ endpoint: network.endpoint, identity: client.identity, timeoutMs: 10_000 });
      try {
        const until = Date.now() + 90_000;
        let last = '';
        while (Date.now() < until) {
          last = await getBytes(quick, name).then(
            () => 'found',
            (error: unknown) => (error instanceof SafeError ? error.kind : String(error)),
          );
          if (last === 'not-found') return last;
          await new Promise((again) => setTimeout(again, 500));
        }
        return last;
      } finally {
        quick.close();
      }
    }

    async function statusOf(promise: Promise<unknown>): Promise<{ code: number; details: string }> {
      try {
        await promise;
      } catch (error) {
        const { code, details } = error as { code: number; details: string };
        return { code, details };
      }
      throw new Error('the call succeeded');
    }

    describe('files round-trip byte-identical through the Gateway', () => {
      it.each([
        ['0 B', 0],
        ['1 B', 1],
        ['exactly 1 MiB', MAX_CHUNK_BYTES],
        ['3.5 MiB', 3.5 * MAX_CHUNK_BYTES],
      ])('%s', async (_label, size) => {
        const content = randomBytes(size);
        const stored = await putBytes(client, content);
        expect(toHex(stored.name)).toMatch(/^[0-9a-f]{128}$/);
        const back = await getBytes(client, stored.name);
        expect(Buffer.from(back).equals(content)).toBe(true);
      });

      it('charges the account for what it stored and frees it on delete; a deleted file is gone', async () => {
        const before = await client.account();
        const content = randomBytes(200_000);
        const stored = await putBytes(client, content);
        const after = await client.account();
        expect(after.stored - before.stored).toBeGreaterThanOrEqual(content.length);

        await removeFile(client, stored.name);
        expect((await client.account()).stored).toBe(before.stored);
        expect(await getAfterDelete(stored.name)).toBe('not-found');
      });
    });

    describe('bad input gets a specific status and changes nothing', () => {
      it('(the checks can see what a stored chunk leaves behind)', async () => {
        const name = await client.putChunk(randomBytes(3000));
        expect(await tracesOf(name)).toBeGreaterThanOrEqual(2);
      });

      it('a chunk whose content does not hash to its name: INVALID_ARGUMENT', async () => {
        const before = await client.account();
        const name = nameOf(randomBytes(32));
        const put = clientRequest(toMaidManager.put, client.name, { name, nonce: randomBytes(16) });
        const answer = await statusOf(raw.send(request(client.identity, put, randomBytes(1000))));
        expect(answer.code).toBe(status.INVALID_ARGUMENT);
        expect(answer.details).toMatch(/does not hash to its name/);
        expect(await client.account()).toEqual(before);
        expect(await tracesOf(name)).toBe(0);
      });

      it('a chunk over the 1 MiB limit: INVALID_ARGUMENT', async () => {
        const before = await client.account();
        const content = randomBytes(MAX_CHUNK_BYTES + 1);
        const name = nameOf(content);
        const put = clientRequest(toMaidManager.put, client.name, { name, nonce: randomBytes(16) });
        const answer = await statusOf(raw.send(request(client.identity, put, content)));
        expect(answer.code).toBe(status.INVALID_ARGUMENT);
        expect(answer.details).toMatch(/more than the limit/);
        expect(await client.account()).toEqual(before);
        expect(await tracesOf(name)).toBe(0);
      });

      /** A signed Put request for fresh content, as the SDK would send it. */
      function signedPut(content: Uint8Array) {
        return request(
          client.identity,
          clientRequest(toMaidManager.put, client.name, { name: nameOf(content), nonce: randomBytes(16) }),
          content,
        );
      }

      it('content that does not match the digest the request signed: INVALID_ARGUMENT, nothing stored', async () => {
        const before = await client.account();
        const content = randomBytes(700);
        const put = clientRequest(toMaidManager.put, client.name, { name: nameOf(content), nonce: randomBytes(16) });
        const forged = request(client.identity, put, randomBytes(700), { digest: nameOf(content) });
        const answer = await statusOf(raw.send(forged));
        expect(answer.code).toBe(status.INVALID_ARGUMENT);
        expect(answer.details).toMatch(/does not match its digest/);
        expect(await client.account()).toEqual(before);
        expect(await tracesOf(nameOf(content))).toBe(0);
      });

      it('a Put that names its content by digest but carries none: INVALID_ARGUMENT', async () => {
        const content = randomBytes(700);
        const put = clientRequest(toMaidManager.put, client.name, { name: nameOf(content), nonce: randomBytes(16) });
        const bare = request(client.identity, put, undefined, { digest: nameOf(content) });
        const answer = await statusOf(raw.send(bare));
        expect(answer.code).toBe(status.INVALID_ARGUMENT);
        expect(answer.details).toMatch(/carries none/);
        expect(await tracesOf(nameOf(content))).toBe(0);
      });

      it('a request with a bad signature: UNAUTHENTICATED', async () => {
        const before = await client.account();
        const content = randomBytes(500);
        const envelope = signedPut(content);
        const signature = new Uint8Array(envelope.signature);
        signature[0] = (signature[0] ?? 0) ^ 0xff;
        const answer = await statusOf(raw.send({ ...envelope, signature }));
        expect(answer.code).toBe(status.UNAUTHENTICATED);
        expect(await client.account()).toEqual(before);
        expect(await tracesOf(nameOf(content))).toBe(0);
      });

      it('a request with no signature at all: UNAUTHENTICATED', async () => {
        const content = randomBytes(500);
        const answer = await statusOf(raw.send({ ...signedPut(content), signature: new Uint8Array(0) }));
        expect(answer.code).toBe(status.UNAUTHENTICATED);
        expect(await tracesOf(nameOf(content))).toBe(0);
      });

      it('an unknown client: PERMISSION_DENIED, and no account is created', async () => {
        const stranger = generateIdentity();
        const content = randomBytes(500);
        const put = clientRequest(toMaidManager.put, stranger.name, { name: nameOf(content), nonce: randomBytes(16) });
        const answer = await statusOf(raw.send(request(stranger, put, content)));
        expect(answer.code).toBe(status.PERMISSION_DENIED);
        expect(answer.details).toMatch(/unknown client/);
        expect(await tracesOf(nameOf(content))).toBe(0);
        const account = await statusOf(
          raw.send(request(stranger, clientRequest(toMaidManager.getAccount, stranger.name, { nonce: randomBytes(8) }))),
        );
        expect(account.code).toBe(status.PERMISSION_DENIED);
      });

      it('a name that is not 64 bytes: INVALID_ARGUMENT', async () => {
        const before = await client.account();
        const content = randomBytes(100);
        const short = nameOf(content).subarray(0, 32);
        const shortPut = clientRequest(toMaidManager.put, client.name, { name: short, nonce: randomBytes(16) });
        const put = await statusOf(raw.send(request(client.identity, shortPut, content, { digest: short })));
        expect(put.code).toBe(status.INVALID_ARGUMENT);
        expect(put.details).toMatch(/64 bytes/);
        const shortGet = clientRequest(toDataManager.get, new Uint8Array(32) as Name, { name: short, nonce: randomBytes(8) });
        const get = await statusOf(raw.send(request(client.identity, shortGet)));
        expect(get.code).toBe(status.INVALID_ARGUMENT);
        expect(await client.account()).toEqual(before);
      });

      it('a Get of a name nobody stored: NOT_FOUND', async () => {
        const name = nameOf(randomBytes(64));
        const answer = await statusOf(
          raw.send(request(client.identity, clientRequest(toDataManager.get, name, { name, nonce: randomBytes(8) }))),
        );
        expect(answer.code).toBe(status.NOT_FOUND);
        expect(await tracesOf(name)).toBe(0);
      });

      it('a signed request whose payload does not decode: INVALID_ARGUMENT at once, nothing changed', async () => {
        const before = await client.account();
        // 0x0f: field 1 with wire type 7, which protobuf does not have.
        const undecodable = Uint8Array.of(0x0f);
        const put = rawRequest(toMaidManager.put, client.name, undecodable);
        const answer = await statusOf(raw.send(request(client.identity, put, randomBytes(10))));
        expect(answer.code).toBe(status.INVALID_ARGUMENT);
        expect(answer.details).toMatch(/not a valid safe\.v1\.PutRequest/);
        const get = await statusOf(raw.send(request(client.identity, rawRequest(toDataManager.get, client.name, undecodable))));
        expect(get.code).toBe(status.INVALID_ARGUMENT);
        expect(await client.account()).toEqual(before);
      });

      it("a request to another client's account: PERMISSION_DENIED at once, neither account changed", async () => {
        const other = await SafeClient.connect({ endpoint: network.endpoint, identity: generateIdentity() });
        try {
          await other.ensureReady();
          const [mine, theirs] = [await client.account(), await other.account()];
          const content = randomBytes(300);
          const theirPut = clientRequest(toMaidManager.put, other.name, { name: nameOf(content), nonce: randomBytes(16) });
          const put = await statusOf(raw.send(request(client.identity, theirPut, content)));
          expect(put.code).toBe(status.PERMISSION_DENIED);
          expect(put.details).toMatch(/own account/);
          const peek = clientRequest(toMaidManager.getAccount, other.name, { nonce: randomBytes(8) });
          const account = await statusOf(raw.send(request(client.identity, peek)));
          expect(account.code).toBe(status.PERMISSION_DENIED);
          expect(await tracesOf(nameOf(content))).toBe(0);
          expect([await client.account(), await other.account()]).toEqual([mine, theirs]);
        } finally {
          other.close();
        }
      });

      it('an overlong type or an outsized trace context: INVALID_ARGUMENT naming the field, and the connection still serves', async () => {
        const content = randomBytes(200);
        const put = signedPut(content);
        const longType = await statusOf(raw.send({ ...put, type: 'P'.repeat(70_000) }));
        expect(longType.code).toBe(status.INVALID_ARGUMENT);
        expect(longType.details).toMatch(/^type is 70000 characters, at most \d+$/);
        const trace = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, 'v']));
        const manyKeys = await statusOf(raw.send({ ...put, trace }));
        expect(manyKeys.code).toBe(status.INVALID_ARGUMENT);
        expect(manyKeys.details).toMatch(/^trace has 100000 entries/);
        expect(await tracesOf(nameOf(content))).toBe(0);
        expect((await raw.info()).closeGroupSize).toBeGreaterThan(0);
      });

      it('a request signed longer ago than the firewall remembers, or ahead of the clock: FAILED_PRECONDITION, nothing changed', async () => {
        const before = await client.account();
        const content = randomBytes(400);
        const put = clientRequest(toMaidManager.put, client.name, { name: nameOf(content), nonce: randomBytes(16) });
        const old = await statusOf(raw.send(request(client.identity, put, content, { issuedAt: Date.now() - 600_000 })));
        expect(old.code).toBe(status.FAILED_PRECONDITION);
        expect(old.details).toMatch(/^Put was signed 60\d s ago; a request is good for \d+ s: sign it again$/);
        const ahead = await statusOf(raw.send(request(client.identity, put, content, { issuedAt: Date.now() + 600_000 })));
        expect(ahead.code).toBe(status.FAILED_PRECONDITION);
        expect(ahead.details).toMatch(/ahead of this node's clock/);
        expect(await tracesOf(nameOf(content))).toBe(0);
        expect(await client.account()).toEqual(before);
      });

      it('an unknown message type: INVALID_ARGUMENT', async () => {
        // Not a row of the table on purpose: the type no persona declares.
        const steal = { type: 'Steal', to: { persona: 'maid-manager' as const, nae: client.name }, payload: new Uint8Array(0) };
        const answer = await statusOf(raw.send(request(client.identity, steal)));
        expect(answer.code).toBe(status.INVALID_ARGUMENT);
      });
    });
  });
}
