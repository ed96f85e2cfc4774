import { randomBytes } from 'node:crypto';
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData, status } from '@grpc/grpc-js';
import {
  type Envelope,
  fromWire,
  generateIdentity,
  type Name,
  nameOf,
  protoCodec,
  SafeError,
  signVaultRegistrationPart,
  toHex,
  verifyEnvelope,
  verifyVaultRegistration,
} from '@safe/core';
import { loadGateway } from '@safe/grpc';
import {
  AccountInfoSchema,
  GetAccountSchema,
  GetReplySchema,
  GetRequestSchema,
  PutReplySchema,
  PutRequestSchema,
  VaultRegistrationSchema,
} from '@safe/proto/messages';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { commandTrace } from './cli-trace.js';
import { isSettling, SafeClient } from './client.js';
import { getBytes, putBytes } from './files.js';

const codecs = {
  registration: protoCodec(VaultRegistrationSchema),
  putRequest: protoCodec(PutRequestSchema),
  putReply: protoCodec(PutReplySchema),
  nameAndNonce: protoCodec(GetRequestSchema),
  getAccount: protoCodec(GetAccountSchema),
  accountInfo: protoCodec(AccountInfoSchema),
  getReply: protoCodec(GetReplySchema),
};

type Failure = { code: status; details: string };

/**
 * A stand-in for a network behind the Gateway contract (proto safe.v1.Gateway), in process: it
 * checks every envelope as the entry node does and answers like the groups would.
 */
class FakeNetwork {
  readonly server = new Server();
  readonly received: Envelope[] = [];
  readonly chunks = new Map<string, Uint8Array>();
  readonly pmid = generateIdentity();
  account: { vaults: Uint8Array[]; stored: number } | undefined;
  /** Answers for the next Sends, consumed first. */
  readonly script: Failure[] = [];
  corrupt = false;
  endpoint = '';

  async start(): Promise<void> {
    const { service } = loadGateway();
    this.server.addService(service, {
      Send: (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => this.#send(call.request, callback),
      Info: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) =>
        callback(null, { closeGroupSize: 4, maxChunkSize: 1 << 20, personas: [{ persona: 'maid-manager', replicas: 6 }] }),
      AdoptVault: (call: ServerUnaryCall<{ maidPublicKey: Uint8Array }, unknown>, callback: sendUnaryData<unknown>) => {
        const pmidSignature = signVaultRegistrationPart(this.pmid, new Uint8Array(call.request.maidPublicKey), this.pmid.publicKey);
        callback(null, { pmidPublicKey: this.pmid.publicKey, pmidSignature });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))),
    );
    this.endpoint = `127.0.0.1:${port}`;
  }

  #send(request: unknown, callback: sendUnaryData<unknown>): undefined {
    const fail = (code: status, details: string): undefined => {
      callback({ code, details, name: 'Error', message: details });
    };
    let envelope: Envelope;
    try {
      envelope = fromWire(request as Parameters<typeof fromWire>[0]);
      verifyEnvelope(envelope);
    } catch (error) {
      fail(status.INVALID_ARGUMENT, (error as Error).message);
      return;
    }
    this.received.push(envelope);
    const scripted = this.script.shift();
    if (scripted) {
      fail(scripted.code, scripted.details);
      return;
    }
    const ok = (payload: Uint8Array = new Uint8Array(0)): undefined => {
      callback(null, { payload });
    };
    switch (envelope.type) {
      case 'CreateAccount':
        if (this.account) return fail(status.ALREADY_EXISTS, 'the account exists');
        this.account = { vaults: [], stored: 0 };
        return ok();
      case 'GetAccount':
        if (!this.account) return fail(status.PERMISSION_DENIED, 'unknown client: create an account first');
        return ok(
          codecs.accountInfo.encode({
            stored: this.account.stored,
            available: 1000,
            vaults: this.account.vaults,
            chunks: this.chunks.size,
          }),
        );
      case 'RegisterVault': {
        const registration = codecs.registration.decode(envelope.payload);
        verifyVaultRegistration(registration);
        this.account?.vaults.push(nameOf(registration.pmidPublicKey));
        return ok();
      }
      case 'Put': {
        if (!this.account?.vaults.length) return fail(status.FAILED_PRECONDITION, 'register a vault before storing data');
        const put = codecs.putRequest.decode(envelope.payload);
        const content = new Uint8Array(envelope.content ?? []);
        this.chunks.set(toHex(put.name), content);
        return ok(codecs.putReply.encode({ name: put.name, cost: content.length }));
      }
      case 'Get': {
        const { name } = codecs.nameAndNonce.decode(envelope.payload);
        const content = this.chunks.get(toHex(name));
        if (!content) return fail(status.NOT_FOUND, `no chunk ${toHex(name).slice(0, 16)}… on the network`);
        const sent = new Uint8Array(content);
        if (this.corrupt && sent.length > 0) sent[0] = (sent[0] as number) ^ 1;
        return ok(codecs.getReply.encode({ content: sent }));
      }
      case 'Delete': {
        const { name } = codecs.nameAndNonce.decode(envelope.payload);
        this.chunks.delete(toHex(name));
        return ok();
      }
      default:
        return fail(status.INVALID_ARGUMENT, `the network takes no client message ${envelope.type}`);
    }
  }

  close(): void {
    this.server.forceShutdown();
  }
}

describe('SafeClient against a Gateway', () => {
  let network: FakeNetwork;
  let client: SafeClient;

  beforeEach(async () => {
    network = new FakeNetwork();
    await network.start();
    client = await SafeClient.connect({ endpoint: network.endpoint, identity: generateIdentity(), timeoutMs: 5000, retryDelayMs: 5 });
  });
  afterEach(() => {
    client.close();
    network.close();
  });

  it('signs envelopes the entry accepts, addressed as the network expects', async () => {
    await client.ensureReady();
    const name = await client.putChunk(new Uint8Array([1, 2, 3]));
    await client.getChunk(name);
    await client.deleteChunk(name);
    const byType = new Map(network.received.map((e) => [e.type, e]));
    for (const type of ['GetAccount', 'CreateAccount', 'RegisterVault', 'Put', 'Delete']) {
      const e = byType.get(type);
      expect(e, type).toBeDefined();
      expect(e?.destination.persona).toBe('maid-manager');
      expect(toHex(e?.destination.nae as Uint8Array)).toBe(toHex(client.name));
    }
    const get = byType.get('Get') as Envelope;
    expect(get.destination).toEqual({ persona: 'data-manager', nae: name });
    for (const e of network.received) {
      expect(e.source).toEqual({ persona: 'client', nae: client.name });
      expect(e.authority).toBe('single');
      expect(e.scope).toBe('close-group');
      expect(e.correlation).toHaveLength(0);
    }
  });

  it('a traced command is one trace: every envelope it sends carries a child of its root span', async () => {
    let printed = '';
    const stderr = { write: (line: string) => (printed += line) };
    const traced = commandTrace('put', {}, { print: true, env: { SAFE_JAEGER_URL: 'http://127.0.0.1:16686/' }, stderr });
    await traced.run(async () => {
      await client.ensureReady();
      await client.putChunk(new Uint8Array([1, 2, 3]));
    });
    const id = /^trace: ([0-9a-f]{32})$/m.exec(printed)?.[1];
    expect(id, printed).toBeDefined();
    expect(printed).toContain(`trace url: http://127.0.0.1:16686/api/traces/${id}`);
    const parents = network.received.map((e) => /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(e.trace.traceparent ?? '')?.slice(1));
    expect(parents.map((p) => p?.[0])).toEqual(network.received.map(() => id));
    // Each Gateway call is a span of its own under the root: one parent span id per envelope.
    expect(new Set(parents.map((p) => p?.[1])).size).toBe(network.received.length);
    expect(network.received.map((e) => e.type)).toContain('Put');
  });

  it('an untraced command sends no trace context', async () => {
    await commandTrace('put', {}, { print: false, env: {}, stderr: { write: () => true } }).run(() => client.ensureReady());
    expect(network.received.map((e) => e.trace)).toEqual(network.received.map(() => ({})));
  });

  it('ensureReady creates the account and registers an adopted vault, once', async () => {
    await client.ensureReady();
    await client.ensureReady();
    expect(network.account?.vaults).toHaveLength(1);
    expect(network.received.map((e) => e.type)).toEqual(['GetAccount', 'CreateAccount', 'GetAccount', 'RegisterVault']);
    const info = await client.account();
    expect(toHex(info.vaults[0] as Uint8Array)).toBe(toHex(nameOf(network.pmid.publicKey)));
  });

  it('an existing account with a vault needs nothing more', async () => {
    network.account = { vaults: [nameOf(network.pmid.publicKey)], stored: 0 };
    await client.putChunk(new Uint8Array([9]));
    expect(network.received.map((e) => e.type)).toEqual(['GetAccount', 'Put']);
  });

  it('each call carries a fresh nonce; a retry while the group settles resends the same envelope', async () => {
    await client.ensureReady();
    network.received.length = 0;
    network.script.push(
      { code: status.UNAVAILABLE, details: 'the maid-manager group gave different answers (it is still settling); try again' },
      { code: status.UNAVAILABLE, details: 'SYNCING' },
    );
    await client.putChunk(new Uint8Array([7]));
    await client.putChunk(new Uint8Array([7]));
    const [first, second, third, other] = network.received;
    expect(network.received).toHaveLength(4);
    expect(toHex(second?.id as Uint8Array)).toBe(toHex(first?.id as Uint8Array));
    expect(toHex(third?.id as Uint8Array)).toBe(toHex(first?.id as Uint8Array));
    expect(toHex(other?.id as Uint8Array)).not.toBe(toHex(first?.id as Uint8Array));
    const nonce = (e: Envelope | undefined) => toHex(codecs.putRequest.decode((e as Envelope).payload).nonce);
    expect(nonce(first)).toHaveLength(32);
    expect(nonce(other)).not.toBe(nonce(first));
  });

  it('a read the group disagreed on is asked again as a new request; one it is still deciding resends the same', async () => {
    await client.ensureReady();
    const name = await client.putChunk(new Uint8Array([5]));
    network.received.length = 0;
    network.script.push(
      { code: status.UNAVAILABLE, details: 'the data-manager group gave different answers (it is still settling); try again' },
      { code: status.UNAVAILABLE, details: 'the group is still deciding' },
    );
    expect([...(await client.getChunk(name))]).toEqual([5]);
    const [first, second, third] = network.received.map((e) => toHex(e.id));
    expect(network.received.map((e) => e.type)).toEqual(['Get', 'Get', 'Get']);
    expect(second).not.toBe(first);
    expect(third).toBe(second);
  });

  it('a request left unanswered is asked once more with the same envelope, so a Put the group did store is not charged twice', async () => {
    await client.ensureReady();
    network.received.length = 0;
    network.script.push({ code: status.DEADLINE_EXCEEDED, details: 'no agreed answer from the maid-manager group within 60000 ms' });
    await client.putChunk(new Uint8Array([3]));
    const [first, again] = network.received.map((e) => toHex(e.id));
    expect(network.received.map((e) => e.type)).toEqual(['Put', 'Put']);
    expect(again).toBe(first);
    // A second timeout in a row is the caller's to see: a stuck network does not hold it for long.
    network.received.length = 0;
    for (let i = 0; i < 2; i++) network.script.push({ code: status.DEADLINE_EXCEEDED, details: 'no agreed answer within 60000 ms' });
    await expect(client.putChunk(new Uint8Array([4]))).rejects.toMatchObject({ kind: 'deadline-exceeded' });
    expect(network.received).toHaveLength(2);
    network.script.length = 0;
  });

  it('gives up after the retries, and does not retry other failures', async () => {
    network.account = { vaults: [nameOf(network.pmid.publicKey)], stored: 0 };
    for (let i = 0; i < 10; i++) network.script.push({ code: status.UNAVAILABLE, details: 'still settling; try again' });
    await expect(client.account()).rejects.toMatchObject({ kind: 'unavailable' });
    expect(network.received).toHaveLength(6); // the call and 5 retries
    network.script.length = 0;
    await client.ensureReady();
    network.received.length = 0;
    network.script.push({ code: status.RESOURCE_EXHAUSTED, details: 'out of space: the chunk needs 1 bytes, the account has 0 left' });
    await expect(client.putChunk(new Uint8Array([1]))).rejects.toMatchObject({ kind: 'resource-exhausted', message: /^out of space/ });
    expect(network.received.map((e) => e.type)).toEqual(['Put']);
  });

  it('a missing chunk is not-found; a corrupt one is caught', async () => {
    await expect(client.getChunk(nameOf(new Uint8Array([5])))).rejects.toMatchObject({ kind: 'not-found', message: /on the network/ });
    const name = await client.putChunk(new Uint8Array(randomBytes(100)));
    network.corrupt = true;
    await expect(client.getChunk(name)).rejects.toThrow(/came back corrupt/);
  });

  it('stores and fetches files through the ChunkStore port', async () => {
    const bytes = new Uint8Array(randomBytes(2 * 1024 * 1024 + 17));
    const stored = await putBytes(client, bytes);
    expect(Buffer.from(await getBytes(client, stored.name as Name)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('refuses a chunk over the limit before sending it', async () => {
    await expect(client.putChunk(new Uint8Array(1024 * 1024 + 1))).rejects.toMatchObject({ kind: 'invalid-argument' });
    expect(network.received).toHaveLength(0);
  });

  it('info and an unreachable network', async () => {
    expect(await client.info()).toEqual({ closeGroupSize: 4, maxChunkSize: 1 << 20, personas: [{ persona: 'maid-manager', replicas: 6 }] });
    network.close();
    const gone = await SafeClient.connect({ endpoint: network.endpoint, identity: generateIdentity() });
    try {
      await expect(gone.info()).rejects.toMatchObject({ kind: 'unavailable', message: /^cannot reach the network at 127\.0\.0\.1:/ });
    } finally {
      gone.close();
    }
  });
});

describe('isSettling', () => {
  it('recognises the answers that mean "ask again"', () => {
    expect(
      isSettling(new SafeError('unavailable', 'the data-manager group gave different answers (it is still settling); try again')),
    ).toBe(true);
    expect(isSettling(new SafeError('unavailable', 'cannot reach the network at x:1'))).toBe(false);
    expect(isSettling(new SafeError('not-found', 'settling'))).toBe(false);
  });
});
