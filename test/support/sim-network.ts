import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CHUNK_COPIES, copyGroupName } from '@safe/chunks';
import {
  ClientGateway,
  type ClientReplyValue,
  type ClientRequest,
  clientRequest,
  DEFAULT_GROUP_PARAMETERS,
  type Envelope,
  errorOfReply,
  type GroupParameters,
  type Identity,
  identityFromSeed,
  type Name,
  nameOf,
  protoCodec,
  type ReplicaStores,
  ReplyStatus,
  signVaultRegistrationPart,
  toHex,
} from '@safe/core';
import { type SimNetwork as Sim, SimNetwork, type SimNode } from '@safe/core/sim';
import { type DataManagerConfig, loadDataManagerConfig } from '@safe/data-manager';
import { toDataManager, toMaidManager } from '@safe/messages';
import { offer } from '@safe/pmid-node';
import { AccountInfoSchema, GetReplySchema } from '@safe/proto/messages';
import { openPglite, type PgliteHost, type SqlDatabase, type SqlExecutor } from '@safe/sql';
import { clientMessageTypes, createReplica, type NetworkPersona, PERSONA_DEFINITIONS, replicaStores } from '@safe/testnet';
import { sealRequest } from './client-request.js';

export interface SimNetOptions {
  seed: number;
  counts?: Partial<Record<NetworkPersona, number>>;
  params?: GroupParameters;
  duplicateRate?: number;
  dropRate?: number;
  reorder?: boolean;
  pmidCapacity?: number;
  maxHolders?: number;
  /** DataManager settings other than the defaults (e.g. a small `maxRepairs`). */
  dataManager?: Partial<DataManagerConfig>;
}

/**
 * A statement that cannot change a table: one SELECT (a `WITH`, several statements in one text or
 * anything else counts as a write, so a count of writes never misses one).
 */
const readOnly = (text: string) => /^\s*select\b/i.test(text) && !/;\s*\S/.test(text);

/**
 * The PGlite host every replica's state runs over, counting the statements that may write each
 * schema: a schema whose count did not move since a check read it holds what it held then, so the
 * invariant checks read a replica's records again only once something may have written them.
 */
class WriteCountingHost implements PgliteHost {
  readonly #host: PgliteHost;
  readonly #writes = new Map<string, number>();

  constructor(host: PgliteHost) {
    this.#host = host;
  }

  get dataDir(): string | undefined {
    return this.#host.dataDir;
  }

  /** How many statements that may write `schema` have run (or started) on it so far. */
  writes(schema: string): number {
    return this.#writes.get(schema) ?? 0;
  }

  database(schema: string): SqlDatabase {
    const db = this.#host.database(schema);
    const noting = (text: string) => {
      if (!readOnly(text)) this.#writes.set(schema, this.writes(schema) + 1);
    };
    const counted = async <R>(text: string, run: () => Promise<R>): Promise<R> => {
      noting(text);
      try {
        return await run();
      } finally {
        noting(text);
      }
    };
    return {
      schema: db.schema,
      query: <R = Record<string, unknown>>(text: string, params?: readonly unknown[]) => counted(text, () => db.query<R>(text, params)),
      transaction: <T>(fn: (tx: SqlExecutor) => Promise<T>) =>
        db.transaction((tx) =>
          fn({
            query: <R = Record<string, unknown>>(text: string, params?: readonly unknown[]) =>
              counted(text, () => tx.query<R>(text, params)),
          }),
        ),
      close: () => db.close(),
    };
  }

  close(): Promise<void> {
    return this.#host.close();
  }
}

/** Answers; the requests are rows of the message table (@safe/messages), built with clientRequest. */
const codecs = {
  account: protoCodec(AccountInfoSchema),
  getReply: protoCodec(GetReplySchema),
};

/**
 * The five personas of the network (immutable and versioned data) on the deterministic network, with one client
 * entry (a MaidManager replica's ClientGateway) and helpers that play a client.
 */
export class SimNet {
  readonly sim: Sim;
  /** Every replica's SQL goes through it; `sqlWrites` reads its counts. */
  readonly sql: PgliteHost;
  readonly dataDir: string;
  readonly identities = new Map<string, Identity>();
  /** Each replica's group-mechanics stores, by name (hex): what a restart keeps, as Redis does on the stack. */
  readonly stores = new Map<string, ReplicaStores>();
  #gateway: ClientGateway | undefined;
  #nonce = 0;
  #pmidCapacity = 64 * 1024 * 1024;
  #dataManager = loadDataManagerConfig({});

  readonly #sql: WriteCountingHost;

  private constructor(sim: Sim, sql: PgliteHost, dataDir: string) {
    this.sim = sim;
    this.#sql = new WriteCountingHost(sql);
    this.sql = this.#sql;
    this.dataDir = dataDir;
  }

  static async start(options: SimNetOptions): Promise<SimNet> {
    const params = options.params ?? DEFAULT_GROUP_PARAMETERS;
    const sim = new SimNetwork({
      seed: options.seed,
      params,
      duplicateRate: options.duplicateRate ?? 0,
      dropRate: options.dropRate ?? 0,
      reorder: options.reorder ?? true,
      rankReports: (node) => PERSONA_DEFINITIONS[node.info.persona as NetworkPersona]?.rankReports?.(node.replica.state),
    });
    const dataDir = await mkdtemp(join(tmpdir(), 'safe-sim-'));
    const net = new SimNet(sim, await openPglite(), dataDir);
    // VersionManagers and MpidManagers only where a test asks for them, and last: the other personas keep the names their seeds gave them.
    const counts = {
      'pmid-node': 8,
      'pmid-manager': 6,
      'data-manager': 6,
      'maid-manager': 6,
      'version-manager': 0,
      'mpid-manager': 0,
      ...options.counts,
    };
    const dataManager = {
      ...loadDataManagerConfig({}),
      ...(options.maxHolders ? { maxHolders: options.maxHolders } : {}),
      ...options.dataManager,
    };
    net.#pmidCapacity = options.pmidCapacity ?? net.#pmidCapacity;
    net.#dataManager = dataManager;
    for (const persona of ['pmid-node', 'pmid-manager', 'data-manager', 'maid-manager', 'version-manager', 'mpid-manager'] as const) {
      for (let i = 0; i < counts[persona]; i++) await net.join(persona, options.pmidCapacity ?? 64 * 1024 * 1024, dataManager);
    }
    for (const node of sim.nodes('pmid-node')) await node.replica.dispatch(offer(node.info.name, options.pmidCapacity ?? 64 * 1024 * 1024));
    await sim.settle();
    return net;
  }

  async join(
    persona: NetworkPersona,
    pmidCapacity: number,
    dataManager = loadDataManagerConfig({}),
    identity = this.sim.newIdentity(),
  ): Promise<SimNode> {
    this.identities.set(toHex(identity.name), identity);
    const deps = { params: this.sim.params, sql: this.sql, dataDir: this.dataDir, pmidCapacity, dataManager, clock: this.sim.clock };
    const stores = await replicaStores(persona, identity, deps);
    this.stores.set(toHex(identity.name), stores);
    return this.sim.join(
      persona,
      (id, transport, routing) => createReplica(persona, id, transport, routing, { ...deps, stores }),
      identity,
    );
  }

  /**
   * A replica killed and started again with its data dir and key (issue 19): a new replica over
   * its stores and tables; what it held only in memory is gone. No one sees a matrix change.
   */
  async restart(name: Name): Promise<SimNode> {
    const [identity, stores, node] = [this.identities.get(toHex(name)), this.stores.get(toHex(name)), this.sim.node(name)];
    if (identity === undefined || stores === undefined || node === undefined)
      throw new Error(`no node ${toHex(name).slice(0, 8)} to restart`);
    // The Gateway holds the entry's replica.
    if (node === this.entry) throw new Error('the client entry cannot restart');
    const persona = node.info.persona as NetworkPersona;
    const deps = {
      params: this.sim.params,
      sql: this.sql,
      dataDir: this.dataDir,
      pmidCapacity: this.#pmidCapacity,
      dataManager: this.#dataManager,
    };
    const restarted = await this.sim.restart(identity, (id, transport, routing, clock) =>
      createReplica(persona, id, transport, routing, { ...deps, clock, stores }),
    );
    if (restarted === undefined) throw new Error(`no node ${toHex(name).slice(0, 8)} to restart`);
    return restarted;
  }

  /** How many statements that may write a schema have run on it: unchanged, so are its tables. */
  sqlWrites(schema: string): number {
    return this.#sql.writes(schema);
  }

  /** The DataManager settings every DataManager replica of this network runs with. */
  get dataManagerConfig(): DataManagerConfig {
    return this.#dataManager;
  }

  /** Adds a replica of `persona` with the network's settings (a join: every node sees the matrix change). */
  add(persona: NetworkPersona): Promise<SimNode> {
    return this.join(persona, this.#pmidCapacity, this.#dataManager);
  }

  /** Brings back a replica that left, with its identity and (a PmidNode) its disk: a rejoin. */
  rejoin(persona: NetworkPersona, identity: Identity): Promise<SimNode> {
    return this.join(persona, this.#pmidCapacity, this.#dataManager, identity);
  }

  /** Removes a replica (it leaves: every other node sees the matrix change). The client entry cannot leave. */
  async leave(name: Name): Promise<SimNode> {
    const entry = this.sim.nodes('maid-manager')[0];
    if (entry !== undefined && toHex(entry.info.name) === toHex(name)) throw new Error('the client entry cannot leave');
    const node = await this.sim.leave(name);
    if (node === undefined) throw new Error(`no node ${toHex(name).slice(0, 8)} to leave`);
    this.identities.delete(toHex(name));
    this.stores.delete(toHex(name));
    return node;
  }

  /** The replica client calls enter through (it never leaves). */
  get entry(): SimNode | undefined {
    return this.sim.nodes('maid-manager')[0];
  }

  /**
   * Runs the network until nothing is in flight and no replica has account transfer queued:
   * settles, ticks every replica (each tick sends the next batches), and again. Returns the ticks.
   */
  async settleChurn(maxTicks = 500): Promise<number> {
    for (let ticks = 0; ; ticks++) {
      await this.sim.settle();
      if (!this.sim.nodes().some((n) => n.replica.pendingTransfers > 0)) return ticks;
      if (ticks >= maxTicks) throw new Error(`account transfer still pending after ${maxTicks} ticks`);
      await this.sim.tickAll();
    }
  }

  get gateway(): ClientGateway {
    if (this.#gateway === undefined) {
      const entry = this.sim.nodes('maid-manager')[0];
      if (entry === undefined) throw new Error('no maid-manager to enter through');
      this.#gateway = new ClientGateway(entry.replica, this.sim.clock, clientMessageTypes());
    }
    return this.#gateway;
  }

  /** Starts a call through the Gateway; the function returned reads its outcome once there is one. */
  #begin(envelope: Envelope, timeoutMs: number): () => { reply?: ClientReplyValue; error?: unknown } | undefined {
    let outcome: { reply?: ClientReplyValue; error?: unknown } | undefined;
    this.gateway.call(envelope, timeoutMs).then(
      (reply) => {
        outcome = { reply };
      },
      (error: unknown) => {
        outcome = { error };
      },
    );
    return () => outcome;
  }

  /** `request` (clientRequest(row, nae, payload)) sealed by `client` at the network's virtual now. */
  seal(client: Identity, request: ClientRequest, content?: Uint8Array): Envelope {
    return sealRequest(client, request, content, { issuedAt: this.sim.clock.now() });
  }

  /** Sends a client request and runs the network until it is answered. */
  async call(client: Identity, request: ClientRequest, timeoutMs = 30_000, content?: Uint8Array): Promise<ClientReplyValue> {
    return this.send(this.seal(client, request, content), timeoutMs);
  }

  /** Sends a sealed request (again, for a client's retry: the same envelope) and runs the network until it is answered. */
  async send(request: Envelope, timeoutMs = 30_000): Promise<ClientReplyValue> {
    const outcome = this.#begin(request, timeoutMs);
    while (outcome() === undefined) {
      await this.sim.settle({ maxIdleMs: timeoutMs + 1 });
      await new Promise((resolve) => setImmediate(resolve));
      if (outcome() === undefined && this.sim.inFlight === 0 && this.sim.clock.nextTimerAt === undefined)
        throw new Error('network idle, call unanswered');
    }
    const { reply, error } = outcome() ?? {};
    if (error !== undefined) throw error;
    return reply as ClientReplyValue;
  }

  /**
   * Sends sealed requests at once and runs the network (ticking every replica once a second of
   * virtual time) until each is answered; the answers in the requests' order (an Error for one
   * that failed or went unanswered past its deadline).
   */
  async concurrently(
    requests: readonly Envelope[],
    timeoutMs = 60_000,
    midway?: { readonly steps: number; readonly run: () => Promise<void> },
  ): Promise<(ClientReplyValue | Error)[]> {
    const outcomes = requests.map((request) => this.#begin(request, timeoutMs));
    // `midway`: after so many deliveries, while the requests are on their way (e.g. churn).
    if (midway !== undefined) {
      for (let step = 0; step < midway.steps; step++) await this.sim.step();
      await midway.run();
    }
    const deadline = this.sim.clock.now() + timeoutMs + 1_000;
    while (outcomes.some((o) => o() === undefined) && this.sim.clock.now() < deadline) {
      await this.sim.settle({ maxIdleMs: 1_000 });
      await new Promise((resolve) => setImmediate(resolve));
      if (outcomes.some((o) => o() === undefined)) {
        await this.sim.tickAll();
        this.sim.clock.advance(1_000);
      }
    }
    return outcomes.map((o) => {
      const { reply, error } = o() ?? {};
      if (error !== undefined) return error instanceof Error ? error : new Error(String(error));
      return reply ?? new Error('call unanswered past its deadline');
    });
  }

  /**
   * Sends a sealed request while every replica ticks once a second of virtual time, as a host's
   * timer makes it do (sync resends, account transfer batches, repairs), until it is answered or
   * the Gateway's deadline has passed. `beforeTicking` runs first, while the request is on its way.
   */
  async callTicking(envelope: Envelope, timeoutMs = 120_000, beforeTicking?: () => Promise<void>): Promise<ClientReplyValue> {
    const outcome = this.#begin(envelope, timeoutMs);
    await beforeTicking?.();
    const deadline = this.sim.clock.now() + timeoutMs + 1_000;
    while (outcome() === undefined && this.sim.clock.now() < deadline) {
      await this.sim.settle({ maxIdleMs: 1_000 });
      await new Promise((resolve) => setImmediate(resolve));
      if (outcome() === undefined) {
        await this.sim.tickAll();
        this.sim.clock.advance(1_000);
      }
    }
    const { reply, error } = outcome() ?? {};
    if (error !== undefined) throw error;
    if (reply === undefined) throw new Error('call unanswered past its deadline');
    return reply;
  }

  async ok(client: Identity, request: ClientRequest): Promise<Uint8Array> {
    const reply = await this.call(client, request);
    if (reply.status !== ReplyStatus.OK) throw errorOfReply(reply);
    return reply.payload;
  }

  nonce(): Uint8Array {
    return Buffer.from(String(++this.#nonce).padStart(16, '0'));
  }

  newClient(): Identity {
    return identityFromSeed(this.sim.random.bytes(32));
  }

  /** Creates the client's account and registers `vault` (default: the PmidNode closest to it) as its vault. */
  async setUpClient(client: Identity, vault = this.sim.routing.view('pmid-node').closeGroup(client.name, 1)[0]): Promise<void> {
    await this.ok(client, clientRequest(toMaidManager.createAccount, client.name, {}));
    const pmid = this.identities.get(toHex(vault as Name));
    if (pmid === undefined) throw new Error('no vault to register');
    const registration = {
      maidPublicKey: client.publicKey,
      pmidPublicKey: pmid.publicKey,
      maidSignature: signVaultRegistrationPart(client, client.publicKey, pmid.publicKey),
      pmidSignature: signVaultRegistrationPart(pmid, client.publicKey, pmid.publicKey),
    };
    await this.ok(client, clientRequest(toMaidManager.registerVault, client.name, registration));
  }

  /** `row`: toMaidManager.put, or toMaidManager.putUnique. */
  async put(client: Identity, content: Uint8Array, nonce = this.nonce(), row = toMaidManager.put): Promise<ClientReplyValue> {
    const name = nameOf(content);
    return this.call(client, clientRequest(row, client.name, { name, nonce }), undefined, content);
  }

  async get(client: Identity, name: Name): Promise<ClientReplyValue> {
    return this.send(this.getRequest(client, name));
  }

  /** A client's signed Get of a chunk (a fresh nonce), to send, and send again as the client retries. */
  getRequest(client: Identity, name: Name): Envelope {
    return this.seal(client, clientRequest(toDataManager.get, name, { name, nonce: this.nonce() }));
  }

  async delete(client: Identity, name: Name): Promise<ClientReplyValue> {
    return this.call(client, clientRequest(toMaidManager.delete, client.name, { name, nonce: this.nonce() }));
  }

  async account(client: Identity): Promise<{ stored: number; available: number; vaults: Uint8Array[]; chunks: number }> {
    return codecs.account.decode(await this.ok(client, clientRequest(toMaidManager.getAccount, client.name, { nonce: this.nonce() })));
  }

  decodeGet(reply: ClientReplyValue): Uint8Array {
    return codecs.getReply.decode(reply.payload).content;
  }

  /** The close group of a copy group, as the network sees it. */
  dataManagersOf(name: Name, copy: (typeof CHUNK_COPIES)[number]): SimNode[] {
    const group = this.sim.routing.view('data-manager').closeGroup(copyGroupName(name, copy), this.sim.params.closeGroupSize);
    return group.map((n) => this.sim.node(n)).filter((n): n is SimNode => n !== undefined);
  }

  async close(): Promise<void> {
    await this.sql.close();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
