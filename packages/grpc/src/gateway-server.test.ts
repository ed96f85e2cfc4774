import { randomBytes } from 'node:crypto';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import {
  answerClient,
  CLIENT,
  ClientGateway,
  type Codec,
  DEFAULT_GROUP_PARAMETERS,
  type Envelope,
  type GroupParameters,
  generateIdentity,
  type Identity,
  MemoryAccumulatorStore,
  MemoryBus,
  MemoryEntryStore,
  MemoryFirewallStore,
  message,
  NotFoundError,
  originOf,
  type PersonaDefinition,
  Replica,
  RoutingTable,
  replyOk,
  sealClientRequest,
  sealEnvelope,
  signVaultRegistrationPart,
  systemClock,
  toWire,
} from '@safe/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectGateway, type GatewayClient } from './gateway-client.js';
import { type GatewayServer, startGatewayServer } from './gateway-server.js';

const bytes: Codec<Uint8Array> = { typeName: 'bytes', encode: (b) => b, decode: (b) => b };

/** A toy MaidManager: Echo answers with its payload, Refuse with NOT_FOUND, Ignore never answers. */
const toyPersona: PersonaDefinition<null> = {
  persona: 'maid-manager',
  speaksAs: 'group',
  actions: [],
  messages: [
    message<Uint8Array, null>({
      type: 'Echo',
      from: [CLIENT],
      accumulate: 'single',
      firewall: false,
      sync: false,
      payload: bytes,
      handle: (msg) => {
        const origin = originOf(msg);
        return origin ? { send: [answerClient(origin, replyOk(msg.payload))] } : {};
      },
    }),
    message<Uint8Array, null>({
      type: 'Refuse',
      from: [CLIENT],
      accumulate: 'single',
      firewall: false,
      sync: false,
      payload: bytes,
      handle: () => {
        throw new NotFoundError('no such thing here');
      },
    }),
    message<Uint8Array, null>({
      type: 'Ignore',
      from: [CLIENT],
      accumulate: 'single',
      firewall: false,
      sync: false,
      payload: bytes,
      handle: () => ({}),
    }),
  ],
};

const TYPES = new Map([
  ['Echo', 'maid-manager' as const],
  ['Refuse', 'maid-manager' as const],
  ['Ignore', 'maid-manager' as const],
]);

function request(client: Identity, type: string, payload: Uint8Array): Envelope {
  return sealEnvelope(
    {
      type,
      source: { persona: CLIENT, nae: client.name },
      issuedAt: Date.now(),
      authority: 'single',
      destination: { persona: 'maid-manager', nae: client.name },
      scope: 'close-group',
      payload,
      correlation: new Uint8Array(0),
    },
    client,
  );
}

async function codeOf(call: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await call;
  } catch (error) {
    const e = error as ServiceError;
    return { code: e.code, details: e.details };
  }
  throw new Error('the call succeeded');
}

/** One MaidManager replica on an in-memory bus: the entry the Gateway sends through. */
function entryReplica(
  node: Identity,
  definition: PersonaDefinition<null>,
  params: GroupParameters = DEFAULT_GROUP_PARAMETERS,
): Replica<null> {
  const routing = new RoutingTable([{ persona: 'maid-manager', name: node.name, publicKey: node.publicKey }]);
  const bus = new MemoryBus(routing, params.closeGroupSize);
  const replica = new Replica<null>({
    definition,
    identity: node,
    params,
    state: null,
    routing,
    transport: bus,
    stores: {
      accumulator: new MemoryAccumulatorStore(),
      firewall: new MemoryFirewallStore(),
      sync: new MemoryEntryStore(),
      transfer: new MemoryEntryStore(),
    },
  });
  bus.attach(replica);
  return replica;
}

describe('startGatewayServer', () => {
  const node = generateIdentity();
  const vault = generateIdentity();
  const replica = entryReplica(node, toyPersona);
  const gateway = new ClientGateway(replica as Replica<unknown>, systemClock, TYPES);
  let infoFails = false;
  let server: GatewayServer;
  let client: GatewayClient;
  const me = generateIdentity();

  beforeAll(async () => {
    server = await startGatewayServer({
      gateway,
      host: '127.0.0.1',
      port: 0,
      callTimeoutMs: 300,
      shutdownGraceMs: 500,
      info: () => {
        if (infoFails) throw new Error('boom');
        return { closeGroupSize: 4, maxChunkSize: 1024, personas: [{ persona: 'maid-manager', replicas: 1 }] };
      },
      adoptVault: (maid) => ({ pmidPublicKey: vault.publicKey, pmidSignature: signVaultRegistrationPart(vault, maid, vault.publicKey) }),
    });
    client = connectGateway(server.endpoint, 5000);
  });

  afterAll(async () => {
    client?.close();
    await server?.close();
  });

  it('binds an ephemeral port and says which', () => {
    expect(server.endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(server.endpoint).not.toBe('127.0.0.1:0');
  });

  it('reports SERVING on grpc.health.v1 for the server and the Gateway', async () => {
    expect(await client.health('')).toBe('SERVING');
    expect(await client.health('safe.v1.Gateway')).toBe('SERVING');
  });

  it('answers Info and AdoptVault', async () => {
    expect(await client.info()).toEqual({ closeGroupSize: 4, maxChunkSize: 1024, personas: [{ persona: 'maid-manager', replicas: 1 }] });
    const adopted = await client.adoptVault(me.publicKey);
    expect(Buffer.from(adopted.pmidPublicKey)).toEqual(Buffer.from(vault.publicKey));
    expect(adopted.pmidSignature).toHaveLength(64);
    expect((await codeOf(client.adoptVault(new Uint8Array(0)))).code).toBe(GrpcStatus.INVALID_ARGUMENT);
    const outsized = await codeOf(client.adoptVault(new Uint8Array(70_000)));
    expect(outsized).toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT, details: 'maid_public_key must be 32 bytes, got 70000' });
  });

  it('sends a signed envelope through the gateway and returns the agreed payload', async () => {
    const payload = await client.send(request(me, 'Echo', Buffer.from('hello')));
    expect(Buffer.from(payload).toString()).toBe('hello');
  });

  it("turns a group's refusal into the status of its kind, with the group's message", async () => {
    const { code, details } = await codeOf(client.send(request(me, 'Refuse', new Uint8Array(0))));
    expect(code).toBe(GrpcStatus.NOT_FOUND);
    expect(details).toContain('no such thing here');
  });

  it('answers a malformed envelope with INVALID_ARGUMENT', async () => {
    expect((await codeOf(client.sendWire({}))).code).toBe(GrpcStatus.INVALID_ARGUMENT);
    const wire = toWire(request(me, 'Echo', new Uint8Array(0)));
    expect((await codeOf(client.sendWire({ ...wire, id: new Uint8Array(3) }))).code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect((await codeOf(client.sendWire({ ...wire, authority: 0 }))).code).toBe(GrpcStatus.INVALID_ARGUMENT);
    // The content no longer matches the id.
    expect((await codeOf(client.sendWire({ ...wire, payload: Buffer.from('changed') }))).code).toBe(GrpcStatus.INVALID_ARGUMENT);
  });

  it('answers a bad signature with UNAUTHENTICATED', async () => {
    const envelope = request(me, 'Echo', new Uint8Array(0));
    const signature = new Uint8Array(envelope.signature);
    signature[0] = (signature[0] ?? 0) ^ 0xff;
    const { code, details } = await codeOf(client.send({ ...envelope, signature }));
    expect(code).toBe(GrpcStatus.UNAUTHENTICATED);
    expect(details).toMatch(/signature/);
  });

  it('answers an unknown message type with INVALID_ARGUMENT', async () => {
    const { code, details } = await codeOf(client.send(request(me, 'Mine', new Uint8Array(0))));
    expect(code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(details).toContain('Mine');
  });

  it('answers DEADLINE_EXCEEDED when the group does not agree in time', async () => {
    const { code } = await codeOf(client.send(request(me, 'Ignore', new Uint8Array(0))));
    expect(code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
  });

  it('answers an untyped failure with INTERNAL and keeps serving', async () => {
    infoFails = true;
    const { code, details } = await codeOf(client.info());
    infoFails = false;
    expect(code).toBe(GrpcStatus.INTERNAL);
    expect(details).toContain('boom');
    expect(await client.health()).toBe('SERVING');
  });

  it('answers AdoptVault with UNIMPLEMENTED where the network adopts no vaults, and closes cleanly', async () => {
    const plain = await startGatewayServer({
      gateway,
      host: '127.0.0.1',
      port: 0,
      callTimeoutMs: 300,
      info: () => ({ closeGroupSize: 4, maxChunkSize: 1024, personas: [] }),
    });
    const other = connectGateway(plain.endpoint, 5000);
    try {
      expect((await codeOf(other.adoptVault(me.publicKey))).code).toBe(GrpcStatus.UNIMPLEMENTED);
      const taken = startGatewayServer({
        gateway,
        host: '127.0.0.1',
        port: Number(plain.endpoint.split(':')[1]),
        callTimeoutMs: 300,
        info: () => ({ closeGroupSize: 4, maxChunkSize: 0, personas: [] }),
      });
      await expect(taken).rejects.toThrow(/already in use/);
    } finally {
      other.close();
      await plain.close();
    }
    expect((await codeOf(connectGateway(plain.endpoint, 2000).info())).code).toBe(GrpcStatus.UNAVAILABLE);
  });
});

describe('an entry holding its content budget or its most open calls answers busy', () => {
  const node = generateIdentity();
  const params = { ...DEFAULT_GROUP_PARAMETERS, contentBytes: 1024 * 1024, openCalls: 2 };
  const holding: PersonaDefinition<null> = {
    ...toyPersona,
    messages: [
      message<Uint8Array, null>({
        type: 'Hold',
        from: [CLIENT],
        accumulate: 'single',
        firewall: false,
        sync: false,
        content: true,
        payload: bytes,
        handle: () => ({}),
      }),
    ],
  };
  const replica = entryReplica(node, holding, params);
  const gateway = new ClientGateway(replica as Replica<unknown>, systemClock, new Map([['Hold', 'maid-manager' as const]]));
  let server: GatewayServer;
  let client: GatewayClient;
  const me = generateIdentity();
  const hold = (size: number) =>
    client.send(sealClientRequest(me, 'Hold', { persona: 'maid-manager', nae: me.name }, randomBytes(8), randomBytes(size)));

  beforeAll(async () => {
    server = await startGatewayServer({
      gateway,
      host: '127.0.0.1',
      port: 0,
      callTimeoutMs: 1_500,
      shutdownGraceMs: 500,
      info: () => ({ closeGroupSize: 4, maxChunkSize: 1024, personas: [] }),
    });
    client = connectGateway(server.endpoint, 5000);
  });

  afterAll(async () => {
    client?.close();
    await server?.close();
  });

  it('RESOURCE_EXHAUSTED past SAFE_OPEN_CALLS, at once, naming the limit; room again once the open calls end', async () => {
    const open = [codeOf(hold(1)), codeOf(hold(1))];
    await new Promise((resolve) => setTimeout(resolve, 200));
    const busy = await codeOf(hold(1));
    expect(busy.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(busy.details).toMatch(/busy: this entry holds 2 open calls \(limit 2\)/);
    for (const call of open) expect((await call).code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect((await codeOf(hold(1))).code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
  });

  it('RESOURCE_EXHAUSTED past SAFE_CONTENT_BYTES, at once; room again once the open calls end', async () => {
    const first = codeOf(hold(700 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const busy = await codeOf(hold(700 * 1024));
    expect(busy.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(busy.details).toMatch(/busy/);
    expect((await first).code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect((await codeOf(hold(700 * 1024))).code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
  });
});
