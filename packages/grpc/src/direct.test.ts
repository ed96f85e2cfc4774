import { randomBytes } from 'node:crypto';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { credentials, status as GrpcStatus, Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  answerClient,
  CLIENT,
  ClientGateway,
  type Codec,
  ContentMismatchError,
  checkContent,
  contentDigest,
  DEFAULT_GROUP_PARAMETERS,
  type Envelope,
  generateIdentity,
  type Identity,
  MemoryAccumulatorStore,
  MemoryBus,
  MemoryEntryStore,
  MemoryFirewallStore,
  message,
  originOf,
  type PersonaDefinition,
  Replica,
  RoutingTable,
  replyOk,
  sealEnvelope,
  systemClock,
  toWire,
  verifyEnvelope,
} from '@safe/core';
import { afterEach, describe, expect, it } from 'vitest';
import { DirectTransport, NODE_SERVICE, nodeService } from './direct.js';
import { connectGateway } from './gateway-client.js';
import { gatewayService } from './gateway-server.js';
import { loadNode } from './proto.js';
import { type GrpcServer, startGrpcServer } from './server.js';

const bytes: Codec<Uint8Array> = { typeName: 'bytes', encode: (b) => b, decode: (b) => b };

function direct(from: Identity, to: Identity, trace: Record<string, string> = {}, payload = 'ping'): Envelope {
  return sealEnvelope(
    {
      type: 'Ping',
      source: { persona: 'pmid-manager', nae: from.name },
      authority: 'single',
      destination: { persona: 'pmid-node', nae: to.name },
      scope: 'node',
      payload: Buffer.from(payload),
      correlation: new Uint8Array(0),
    },
    from,
    trace,
  );
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const servers: GrpcServer[] = [];
const transports: DirectTransport[] = [];
afterEach(async () => {
  for (const t of transports.splice(0)) await t.close(0);
  for (const s of servers.splice(0)) await s.close();
});

describe('Node service and DirectTransport', () => {
  const a = generateIdentity();
  const b = generateIdentity();

  it('delivers a node-scoped copy, reusing one channel per endpoint, with the trace context', async () => {
    const received: Envelope[] = [];
    const server = await startGrpcServer({ host: '127.0.0.1', port: 0, services: [nodeService({ deliver: (e) => received.push(e) })] });
    servers.push(server);
    const transport = new DirectTransport({ resolve: () => server.endpoint });
    transports.push(transport);
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    transport.send(direct(a, b, { traceparent }));
    transport.send(direct(a, b));
    await until(() => received.length === 2);
    expect(Buffer.from(received[0]?.payload ?? []).toString()).toBe('ping');
    expect(received[0]?.trace).toEqual({ traceparent });
    expect(Buffer.from(received[0]?.id ?? []).equals(Buffer.from(direct(a, b).id))).toBe(true);
    expect(transport.endpoints).toEqual([server.endpoint]);
    transport.retain([]);
    expect(transport.endpoints).toEqual([]);
  });

  it("keeps a copy's bulk content and its digest across the wire (a PmidNode's chunk, a group's reply to the entry)", async () => {
    const received: Envelope[] = [];
    const server = await startGrpcServer({ host: '127.0.0.1', port: 0, services: [nodeService({ deliver: (e) => received.push(e) })] });
    servers.push(server);
    const transport = new DirectTransport({ resolve: () => server.endpoint });
    transports.push(transport);
    const chunk = randomBytes(300_000);
    const plain = direct(a, b);
    const sealed = sealEnvelope({ ...plain, contentDigest: contentDigest(chunk) }, a);
    transport.send({ ...sealed, content: chunk });
    await until(() => received.length === 1);
    const [copy] = received as [Envelope];
    expect(Buffer.from(copy.content ?? []).equals(chunk)).toBe(true);
    expect(Buffer.from(copy.contentDigest ?? []).equals(contentDigest(chunk))).toBe(true);
    // The copy off the wire is checked as it came: its id and signature, and its content against the digest.
    expect(() => verifyEnvelope(copy)).not.toThrow();
    expect(() => checkContent(copy)).not.toThrow();
    const changed = new Uint8Array(copy.content ?? []);
    changed[0] = (changed[0] ?? 0) ^ 1;
    expect(() => checkContent({ ...copy, content: changed })).toThrow(ContentMismatchError);
  });

  it('takes the trace context from metadata when the envelope carries none, and refuses group messages', async () => {
    const received: Envelope[] = [];
    const server = await startGrpcServer({ host: '127.0.0.1', port: 0, services: [nodeService({ deliver: (e) => received.push(e) })] });
    servers.push(server);
    const { Client } = loadNode();
    const client = new Client(server.endpoint, credentials.createInsecure());
    const call = (wire: object, metadata = new Metadata()) =>
      new Promise<ServiceError | null>((resolve) => {
        (client as unknown as Record<string, (r: unknown, m: Metadata, cb: (e: ServiceError | null) => void) => void>).Deliver?.call(
          client,
          wire,
          metadata,
          (error) => resolve(error),
        );
      });
    try {
      const metadata = new Metadata();
      metadata.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01');
      expect(await call(toWire(direct(a, b)), metadata)).toBeNull();
      expect(received[0]?.trace.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01');
      const group = toWire({ ...direct(a, b), scope: 'close-group' });
      expect((await call(group))?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect((await call({}))?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect(received).toHaveLength(1);
    } finally {
      client.close();
    }
  });

  it('sends the copies for one node on one long-lived stream, in the order they were sent', async () => {
    const received: Envelope[] = [];
    const node = nodeService({ deliver: (e) => received.push(e) });
    const server = await startGrpcServer({ host: '127.0.0.1', port: 0, services: [node] });
    servers.push(server);
    const transport = new DirectTransport({ resolve: () => server.endpoint });
    transports.push(transport);
    const sent = Array.from({ length: 200 }, (_, i) => direct(a, b, {}, `ping ${i}`));
    for (const envelope of sent) transport.send(envelope);
    await until(() => received.length === sent.length);
    expect(received.map((e) => Buffer.from(e.payload).toString())).toEqual(sent.map((e) => Buffer.from(e.payload).toString()));
    expect(node.openStreams).toBe(1);
    expect(transport.inFlight).toBe(0);
  });

  it('a node that shuts down ends the streams to it at once; the next copy opens a new stream to where the view says it is', async () => {
    const first: Envelope[] = [];
    const second: Envelope[] = [];
    const dropped: string[] = [];
    const oldNode = nodeService({ deliver: (e) => first.push(e) });
    // A grace period longer than the test's timeout: an open stream holding the server would fail the test.
    const old = await startGrpcServer({ host: '127.0.0.1', port: 0, shutdownGraceMs: 60_000, services: [oldNode] });
    const moved = await startGrpcServer({ host: '127.0.0.1', port: 0, services: [nodeService({ deliver: (e) => second.push(e) })] });
    servers.push(moved);
    let endpoint = old.endpoint;
    const transport = new DirectTransport({ resolve: () => endpoint, onDropped: (_e, reason) => dropped.push(reason) });
    transports.push(transport);
    transport.send(direct(a, b));
    await until(() => first.length === 1);
    await old.close();
    expect(oldNode.openStreams).toBe(0);
    await until(() => transport.endpoints.length === 0);
    endpoint = moved.endpoint;
    transport.send(direct(a, b));
    await until(() => second.length === 1);
    expect(transport.endpoints).toEqual([moved.endpoint]);
    expect(dropped).toEqual([]);
  });

  it('gives a stream up, dropping what waits on it, when the node does not take copies within the deadline or too much waits', async () => {
    // Accepts the connection and never speaks HTTP/2: the call is never answered.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const dropped: string[] = [];
    const transport = new DirectTransport({
      resolve: () => `127.0.0.1:${port}`,
      deadlineMs: 200,
      maxWaitingBytes: 2048,
      onDropped: (e, reason) => dropped.push(`${reason} ${Buffer.from(e.payload).toString()}`),
    });
    transports.push(transport);
    try {
      transport.send(direct(a, b, {}, 'first'));
      transport.send(direct(a, b, {}, 'x'.repeat(4096)));
      expect(dropped).toEqual([`failed ${'x'.repeat(4096)}`]);
      expect(transport.inFlight).toBe(1);
      await until(() => dropped.length === 2);
      expect(dropped[1]).toBe('failed first');
      expect(transport.inFlight).toBe(0);
      expect(transport.endpoints).toEqual([]);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('drops what it cannot deliver without throwing: no endpoint, nobody listening, closed', async () => {
    const dropped: string[] = [];
    const closed = await startGrpcServer({ host: '127.0.0.1', port: 0, services: [nodeService({ deliver: () => {} })] });
    await closed.close();
    const transport = new DirectTransport({
      resolve: (destination) => (destination.persona === 'pmid-node' ? closed.endpoint : undefined),
      deadlineMs: 1000,
      onDropped: (_e, reason) => dropped.push(reason),
    });
    transports.push(transport);
    expect(() => transport.send(direct(a, b))).not.toThrow();
    expect(() => transport.send({ ...direct(a, b), destination: { persona: 'data-manager', nae: b.name } })).not.toThrow();
    expect(() => transport.send({ ...direct(a, b), scope: 'close-group' })).not.toThrow();
    await until(() => dropped.length === 3);
    expect(dropped.sort()).toEqual(['failed', 'no-endpoint', 'not-node-scoped']);
    await transport.close(0);
    transport.send(direct(a, b));
    expect(dropped).toContain('closed');
  });
});

/** A MaidManager whose Slow request is answered only when the test says so. */
function slowPersona(release: Promise<void>): PersonaDefinition<null> {
  return {
    persona: 'maid-manager',
    speaksAs: 'group',
    actions: [],
    messages: [
      message<Uint8Array, null>({
        type: 'Slow',
        from: [CLIENT],
        accumulate: 'single',
        firewall: false,
        sync: false,
        payload: bytes,
        handle: async (msg) => {
          await release;
          const origin = originOf(msg);
          return origin ? { send: [answerClient(origin, replyOk(msg.payload))] } : {};
        },
      }),
    ],
  };
}

describe('one server for Gateway, Node and health', () => {
  it('on close: NOT_SERVING, new client calls refused, open calls still answered through Deliver, then closed', async () => {
    const node = generateIdentity();
    const me = generateIdentity();
    let endpoint = '';
    const routing = new RoutingTable([{ persona: 'maid-manager', name: node.name, publicKey: node.publicKey }]);
    const bus = new MemoryBus(routing, DEFAULT_GROUP_PARAMETERS.closeGroupSize);
    const replies = new DirectTransport({ resolve: () => endpoint });
    transports.push(replies);
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const replica = new Replica<null>({
      definition: slowPersona(released),
      identity: node,
      params: DEFAULT_GROUP_PARAMETERS,
      state: null,
      routing,
      // Client replies are node-scoped: they come back over gRPC, to this very server.
      transport: { send: (e) => (e.scope === 'node' ? replies.send(e) : bus.send(e)) },
      stores: {
        accumulator: new MemoryAccumulatorStore(),
        firewall: new MemoryFirewallStore(),
        sync: new MemoryEntryStore(),
        transfer: new MemoryEntryStore(),
      },
    });
    bus.attach(replica);
    const gateway = new ClientGateway(replica as Replica<unknown>, systemClock, new Map([['Slow', 'maid-manager' as const]]));
    const server = await startGrpcServer({
      host: '127.0.0.1',
      port: 0,
      shutdownGraceMs: 3000,
      services: [
        gatewayService({ gateway, callTimeoutMs: 5000, info: () => ({ closeGroupSize: 4, maxChunkSize: 0, personas: [] }) }),
        nodeService({ deliver: (e) => replica.receive(e) }),
      ],
    });
    endpoint = server.endpoint;
    const client = connectGateway(endpoint, 5000);
    try {
      expect(await client.health(NODE_SERVICE)).toBe('SERVING');
      expect(await client.health('safe.v1.Gateway')).toBe('SERVING');
      const request = (payload: string) =>
        sealEnvelope(
          {
            type: 'Slow',
            source: { persona: CLIENT, nae: me.name },
            issuedAt: Date.now(),
            authority: 'single',
            destination: { persona: 'maid-manager', nae: me.name },
            scope: 'close-group',
            payload: Buffer.from(payload),
            correlation: new Uint8Array(0),
          },
          me,
        );
      const open = client.send(request('first'));
      await until(() => gateway.pendingCalls === 1);
      const closing = server.close();
      expect(await client.health('')).toBe('NOT_SERVING');
      await expect(client.send(request('second'))).rejects.toMatchObject({ code: GrpcStatus.UNAVAILABLE });
      release();
      expect(Buffer.from(await open).toString()).toBe('first');
      await closing;
      await expect(client.info()).rejects.toMatchObject({ code: GrpcStatus.UNAVAILABLE });
    } finally {
      client.close();
      await server.close();
    }
  });
});
