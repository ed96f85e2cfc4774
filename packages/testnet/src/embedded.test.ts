import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_CHUNK_BYTES } from '@safe/chunks';
import {
  ConfigError,
  type Envelope,
  generateIdentity,
  type Identity,
  type Name,
  nameOf,
  type PersonaName,
  protoCodec,
  sealClientRequest,
  signVaultRegistrationPart,
  toHex,
} from '@safe/core';
import { connectGateway, type GatewayClient } from '@safe/grpc';
import {
  AccountInfoSchema,
  CreateAccountSchema,
  DeleteReplySchema,
  DeleteRequestSchema,
  GetAccountSchema,
  GetReplySchema,
  GetRequestSchema,
  PutRequestSchema,
  VaultRegistrationSchema,
} from '@safe/proto/messages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedTestnet, startEmbeddedTestnet } from './embedded.js';

const codecs = {
  createAccount: protoCodec(CreateAccountSchema),
  getAccount: protoCodec(GetAccountSchema),
  account: protoCodec(AccountInfoSchema),
  registration: protoCodec(VaultRegistrationSchema),
  putRequest: protoCodec(PutRequestSchema),
  getRequest: protoCodec(GetRequestSchema),
  getReply: protoCodec(GetReplySchema),
  deleteRequest: protoCodec(DeleteRequestSchema),
  deleteReply: protoCodec(DeleteReplySchema),
};

/** A client request built and signed by hand, as any client of the Gateway would. */
function request(client: Identity, type: string, persona: PersonaName, nae: Name, payload: Uint8Array, content?: Uint8Array): Envelope {
  return sealClientRequest(client, type, { persona, nae }, payload, content);
}

let nonces = 0;
const nonce = () => Buffer.from(`nonce-${++nonces}`);

const SMALL = {
  maidManagers: 5,
  dataManagers: 5,
  versionManagers: 5,
  mpidManagers: 5,
  pmidManagers: 5,
  pmidNodes: 6,
  pmidCapacity: 64 * 1024 * 1024,
  tickMs: 200,
  port: 0,
} as const;

describe('startEmbeddedTestnet', () => {
  let dataDir: string;
  let testnet: EmbeddedTestnet | undefined;
  let client: GatewayClient | undefined;
  const me = generateIdentity();
  const content = Buffer.from(`a chunk of the embedded testnet ${Date.now()}`);
  const chunk = nameOf(content);

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'safe-testnet-'));
  });

  afterAll(async () => {
    client?.close();
    await testnet?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('starts fresh on an ephemeral port and reports itself over gRPC', { timeout: 60_000 }, async () => {
    testnet = await startEmbeddedTestnet({ ...SMALL, dataDir, fresh: true });
    expect(testnet.endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(testnet.summary).toBe('5 maid-manager, 5 data-manager, 5 version-manager, 5 mpid-manager, 5 pmid-manager, 6 pmid-node (K=4)');
    client = connectGateway(testnet.endpoint, 20_000);
    expect(await client.health()).toBe('SERVING');
    expect(await client.health('safe.v1.Gateway')).toBe('SERVING');
    expect(await client.info()).toEqual({
      closeGroupSize: 4,
      maxChunkSize: MAX_CHUNK_BYTES,
      personas: [
        { persona: 'maid-manager', replicas: 5 },
        { persona: 'data-manager', replicas: 5 },
        { persona: 'version-manager', replicas: 5 },
        { persona: 'mpid-manager', replicas: 5 },
        { persona: 'pmid-manager', replicas: 5 },
        { persona: 'pmid-node', replicas: 6 },
      ],
    });
    expect((await readdir(join(dataDir, 'identities', 'pmid-node'))).sort()).toEqual([
      '0.key',
      '1.key',
      '2.key',
      '3.key',
      '4.key',
      '5.key',
    ]);
  });

  it('creates an account from a hand-built signed envelope, registers an adopted vault, puts and gets a chunk', async () => {
    if (client === undefined) throw new Error('no testnet');
    const created = codecs.account.decode(
      await client.send(request(me, 'CreateAccount', 'maid-manager', me.name, codecs.createAccount.encode({}))),
    );
    expect(created.chunks).toBe(0);

    const adopted = await client.adoptVault(me.publicKey);
    expect(await client.adoptVault(me.publicKey)).toEqual(adopted); // the same client always gets the same vault
    const registration = {
      maidPublicKey: me.publicKey,
      pmidPublicKey: adopted.pmidPublicKey,
      maidSignature: signVaultRegistrationPart(me, me.publicKey, adopted.pmidPublicKey),
      pmidSignature: adopted.pmidSignature,
    };
    await client.send(request(me, 'RegisterVault', 'maid-manager', me.name, codecs.registration.encode(registration)));

    await client.send(request(me, 'Put', 'maid-manager', me.name, codecs.putRequest.encode({ name: chunk, nonce: nonce() }), content));
    const got = await client.send(request(me, 'Get', 'data-manager', chunk, codecs.getRequest.encode({ name: chunk, nonce: nonce() })));
    expect(Buffer.from(codecs.getReply.decode(got).content)).toEqual(content);
  });

  it('restarts on the same data dir with the same replica names and what was stored', async () => {
    if (testnet === undefined || client === undefined) throw new Error('no testnet');
    // A Delete captured on the wire before the restart (of a chunk put and deleted then).
    const extra = new Uint8Array(Buffer.from('put again after the restart'));
    const extraName = nameOf(extra);
    await client.send(request(me, 'Put', 'maid-manager', me.name, codecs.putRequest.encode({ name: extraName, nonce: nonce() }), extra));
    const captured = request(me, 'Delete', 'maid-manager', me.name, codecs.deleteRequest.encode({ name: extraName, nonce: nonce() }));
    expect(codecs.deleteReply.decode(await client.send(captured)).held).toBe(true);
    const before = testnet.nodes.map((n) => `${n.persona}/${toHex(n.name)}`).sort();
    client?.close();
    await testnet.close();
    await testnet.close(); // idempotent

    testnet = await startEmbeddedTestnet({ ...SMALL, dataDir });
    expect(testnet.nodes.map((n) => `${n.persona}/${toHex(n.name)}`).sort()).toEqual(before);
    client = connectGateway(testnet.endpoint, 20_000);
    const account = codecs.account.decode(
      await client.send(request(me, 'GetAccount', 'maid-manager', me.name, codecs.getAccount.encode({ nonce: nonce() }))),
    );
    expect(account.chunks).toBe(1);
    expect(account.vaults).toHaveLength(1);
    const got = await client.send(request(me, 'Get', 'data-manager', chunk, codecs.getRequest.encode({ name: chunk, nonce: nonce() })));
    expect(Buffer.from(codecs.getReply.decode(got).content)).toEqual(content);

    // The owner stores the chunk again; the captured Delete, replayed, is answered from the
    // firewall (which the restart kept) and deletes nothing.
    await client.send(request(me, 'Put', 'maid-manager', me.name, codecs.putRequest.encode({ name: extraName, nonce: nonce() }), extra));
    expect(codecs.deleteReply.decode(await client.send(captured)).held).toBe(true);
    const after = codecs.account.decode(
      await client.send(request(me, 'GetAccount', 'maid-manager', me.name, codecs.getAccount.encode({ nonce: nonce() }))),
    );
    expect(after.chunks).toBe(2);
    const kept = await client.send(
      request(me, 'Get', 'data-manager', extraName, codecs.getRequest.encode({ name: extraName, nonce: nonce() })),
    );
    expect(Buffer.from(codecs.getReply.decode(kept).content)).toEqual(Buffer.from(extra));
  });

  it('refuses a second testnet on the same data dir and the taken port, and a bad configuration', async () => {
    if (testnet === undefined) throw new Error('no testnet');
    const port = Number(testnet.endpoint.split(':').at(-1));
    await expect(startEmbeddedTestnet({ ...SMALL, dataDir })).rejects.toThrow(/in use by another testnet/);
    const elsewhere = join(dataDir, 'elsewhere');
    await expect(startEmbeddedTestnet({ ...SMALL, dataDir: elsewhere, port })).rejects.toThrow(/port is already in use/);
    await expect(startEmbeddedTestnet({ ...SMALL, dataDir: elsewhere, pmidNodes: 0 })).rejects.toBeInstanceOf(ConfigError);
    // --fresh deletes only what a testnet keeps.
    await mkdir(elsewhere, { recursive: true });
    await writeFile(join(elsewhere, 'notes.txt'), 'mine');
    await expect(startEmbeddedTestnet({ ...SMALL, dataDir: elsewhere, fresh: true })).rejects.toThrow(/not a testnet's/);
    expect(await readFile(join(elsewhere, 'notes.txt'), 'utf8')).toBe('mine');
    expect(await readdir(elsewhere)).toEqual(['notes.txt']);
  });
});
