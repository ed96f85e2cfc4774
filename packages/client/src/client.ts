import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CallOptions, type Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { checkChunk, keyDataName, MAX_CHUNK_BYTES, sdvName, toWireVersion, VERSIONED_FILE_TYPE, type VersionName } from '@safe/chunks';
import {
  ContentMismatchError,
  contentDigest,
  type Identity,
  type Name,
  type PersonaName,
  protoCodec,
  SafeError,
  sealClientRequest,
  signVaultRegistrationPart,
  toHex,
  toWire,
} from '@safe/core';
import { fromServiceError, loadGateway } from '@safe/grpc';
import type { ChunkStore } from './chunk-store.js';
import { activeTraceContext, inSpan } from './tracing.js';
import { type SdvLimits, versionCodecs, versionsOf } from './version-codecs.js';

/** What the MaidManager group keeps for a client (proto safe.v1.AccountInfo). */
export interface AccountInfo {
  /** Bytes charged to the account. */
  readonly stored: number;
  /** Bytes the client may still store. */
  readonly available: number;
  /** Names of the PmidNodes (vaults) registered to the account. */
  readonly vaults: Name[];
  /** Chunks the account holds a claim on. */
  readonly chunks: number;
}

/** What a Gateway says about its network (proto safe.v1.NetworkInfo). */
export interface NetworkInfo {
  readonly closeGroupSize: number;
  readonly maxChunkSize: number;
  readonly personas: { readonly persona: string; readonly replicas: number }[];
}

/** The PMID half of a vault registration the testnet signs for a client (proto safe.v1.AdoptVaultReply). */
export interface AdoptedVault {
  readonly pmidPublicKey: Uint8Array;
  readonly pmidSignature: Uint8Array;
}

export interface ConnectOptions {
  /** The Gateway, HOST:PORT. */
  readonly endpoint: string;
  /** The client's MAID: every request is signed with it and the account is the one at its name. */
  readonly identity: Identity;
  /** Deadline of one gRPC call, in ms (default 60 s). */
  readonly timeoutMs?: number;
  /**
   * How often a call is sent again, with the same envelope, while the group answers that it is
   * still settling (default 5). The repeat is the same message, so the firewall answers it.
   */
  readonly retries?: number;
  /** First pause before a retry in ms; doubles each time (default 250). */
  readonly retryDelayMs?: number;
}

const codecs = {
  createAccount: protoCodec<Record<string, never>>('safe.v1.CreateAccount'),
  registration: protoCodec<{ maidPublicKey: Uint8Array; pmidPublicKey: Uint8Array; maidSignature: Uint8Array; pmidSignature: Uint8Array }>(
    'safe.v1.VaultRegistration',
  ),
  putRequest: protoCodec<{ name: Uint8Array; nonce: Uint8Array }>('safe.v1.PutRequest'),
  putReply: protoCodec<{ name: Uint8Array; cost: number }>('safe.v1.PutReply'),
  deleteRequest: protoCodec<{ name: Uint8Array; nonce: Uint8Array }>('safe.v1.DeleteRequest'),
  deleteReply: protoCodec<{ held: boolean }>('safe.v1.DeleteReply'),
  getAccount: protoCodec<{ nonce: Uint8Array }>('safe.v1.GetAccount'),
  accountInfo: protoCodec<{ stored: number; available: number; vaults: Uint8Array[]; chunks: number }>('safe.v1.AccountInfo'),
  getRequest: protoCodec<{ name: Uint8Array; nonce: Uint8Array }>('safe.v1.GetRequest'),
  getReply: protoCodec<{ content: Uint8Array }>('safe.v1.GetReply'),
};

const NONCE_BYTES = 16;
const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_RETRIES = 5;
const DEFAULT_RETRY_DELAY_MS = 250;
/** A Get reply carries up to 1 MiB of content; leave room for the envelope around it. */
const MAX_MESSAGE_BYTES = 4 * MAX_CHUNK_BYTES + 64 * 1024;

type UnaryCallback = (error: ServiceError | null, reply?: unknown) => void;
type UnaryMethod = (request: unknown, metadata: Metadata, options: CallOptions, callback: UnaryCallback) => unknown;

/**
 * True for an answer that means "ask again": the group had not agreed yet (a member was still
 * syncing, or the members answered differently while the group settles after churn).
 */
export function isSettling(error: unknown): boolean {
  return error instanceof SafeError && error.kind === 'unavailable' && /settling|syncing|still deciding|try again/i.test(error.message);
}

/**
 * No answer in time: the group may still have acted on the request. The same envelope is sent
 * again, never a new one, so the firewall replays what was decided and nothing is done twice
 * (a Put that timed out and was stored after all is not charged again, and is known stored).
 */
function isUnanswered(error: unknown): boolean {
  return error instanceof SafeError && error.kind === 'deadline-exceeded';
}

/** True when the members did answer, but differently: the same envelope would only replay those answers. */
function isDisagreement(error: unknown): boolean {
  return error instanceof SafeError && error.kind === 'unavailable' && /gave different answers/i.test(error.message);
}

/** Requests that change nothing: asked again as a new request when the group disagreed. */
const READS = new Set(['Get', 'GetAccount', 'GetVersions', 'GetBranch', 'GetMessages', 'WhiteList', 'BlackList']);

let gateway: ReturnType<typeof loadGateway> | undefined;

/**
 * The client SDK (a MaidNode): builds and signs each request envelope itself and sends it through
 * a network's Gateway. Every failure is a SafeError (mapped from the gRPC status by
 * `fromServiceError`). Implements ChunkStore, so files.ts stores files through it.
 */
export class SafeClient implements ChunkStore {
  readonly endpoint: string;
  readonly identity: Identity;
  readonly #client: Client;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #retryDelayMs: number;
  #ready: Promise<void> | undefined;

  private constructor(options: ConnectOptions) {
    this.endpoint = options.endpoint;
    this.identity = options.identity;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#retries = options.retries ?? DEFAULT_RETRIES;
    this.#retryDelayMs = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
    gateway ??= loadGateway();
    this.#client = new gateway.Client(options.endpoint, credentials.createInsecure(), {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    });
  }

  /**
   * A client of the Gateway at `endpoint`. The channel connects lazily: an unreachable network
   * shows on the first call, as a SafeError of kind 'unavailable' ("cannot reach the network at …").
   */
  static connect(options: ConnectOptions): Promise<SafeClient> {
    return Promise.resolve(new SafeClient(options));
  }

  /** The client's (MAID's) name, which is also the name of its account. */
  get name(): Name {
    return this.identity.name;
  }

  close(): void {
    this.#client.close();
  }

  // ---- the Gateway's own calls ----

  async info(): Promise<NetworkInfo> {
    const reply = (await this.#unary('Info', {})) as Partial<NetworkInfo>;
    return {
      closeGroupSize: reply.closeGroupSize ?? 0,
      maxChunkSize: reply.maxChunkSize ?? 0,
      personas: (reply.personas ?? []).map((p) => ({ persona: p.persona, replicas: p.replicas })),
    };
  }

  /** Testnet only: the network signs the PMID half of a registration of one of its PmidNodes for this client. */
  async adoptVault(): Promise<AdoptedVault> {
    const reply = (await this.#unary('AdoptVault', { maidPublicKey: this.identity.publicKey })) as Partial<AdoptedVault>;
    if (!(reply.pmidPublicKey instanceof Uint8Array) || !(reply.pmidSignature instanceof Uint8Array) || reply.pmidPublicKey.length === 0) {
      throw new SafeError('internal', 'the network adopted no vault for this client');
    }
    return { pmidPublicKey: new Uint8Array(reply.pmidPublicKey), pmidSignature: new Uint8Array(reply.pmidSignature) };
  }

  // ---- requests to the personas ----

  /** Creates the client's account (an anonymous account packet). Fails with 'already-exists' if it exists. */
  async createAccount(): Promise<void> {
    await this.#send('CreateAccount', 'maid-manager', this.name, codecs.createAccount.encode({}));
  }

  /** Registers a vault (PmidNode) to the account; the PMID key signed its half, this client signs the MAID half. */
  async registerVault(pmidPublicKey: Uint8Array, pmidSignature: Uint8Array): Promise<void> {
    const registration = {
      maidPublicKey: this.identity.publicKey,
      pmidPublicKey,
      maidSignature: signVaultRegistrationPart(this.identity, this.identity.publicKey, pmidPublicKey),
      pmidSignature,
    };
    await this.#send('RegisterVault', 'maid-manager', this.name, codecs.registration.encode(registration));
  }

  async account(): Promise<AccountInfo> {
    const payload = await this.#send('GetAccount', 'maid-manager', this.name, () => codecs.getAccount.encode({ nonce: nonce() }));
    const info = codecs.accountInfo.decode(payload);
    return {
      stored: info.stored,
      available: info.available,
      vaults: info.vaults.map((v) => new Uint8Array(v) as Name),
      chunks: info.chunks,
    };
  }

  /**
   * What a new client must do before its first put, done once per SafeClient: create the account
   * if there is none (an existing one is fine) and, if it has no vault, have the network adopt one
   * and register it.
   */
  ensureReady(): Promise<void> {
    this.#ready ??= this.#makeReady().catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  async #makeReady(): Promise<void> {
    let account: AccountInfo;
    try {
      account = await this.account();
    } catch (error) {
      if (!(error instanceof SafeError) || !isUnknownClient(error)) throw error;
      try {
        await this.createAccount();
      } catch (createError) {
        if (!(createError instanceof SafeError) || createError.kind !== 'already-exists') throw createError;
      }
      account = await this.account();
    }
    if (account.vaults.length > 0) return;
    const vault = await this.adoptVault();
    try {
      await this.registerVault(vault.pmidPublicKey, vault.pmidSignature);
    } catch (error) {
      if (!(error instanceof SafeError) || error.kind !== 'already-exists') throw error;
    }
  }

  /** Stores one chunk (readying the account first if this client has not yet) and returns its name. */
  async putChunk(content: Uint8Array): Promise<Name> {
    if (content.length === 0) throw new SafeError('invalid-argument', 'a chunk holds at least one byte');
    if (content.length > MAX_CHUNK_BYTES) {
      throw new SafeError('invalid-argument', `a chunk is at most ${MAX_CHUNK_BYTES} bytes, this one is ${content.length}`);
    }
    await this.ensureReady();
    const name = contentDigest(content);
    // The chunk travels as the envelope's content: its digest, which the id covers, is its name.
    await this.#send('Put', 'maid-manager', this.name, codecs.putRequest.encode({ name, nonce: nonce() }), content, name);
    return name;
  }

  /** Fetches a chunk from the DataManagers at its name and checks it hashes to that name. */
  async getChunk(name: Name): Promise<Uint8Array> {
    const payload = await this.#send(
      'Get',
      'data-manager',
      name,
      () => codecs.getRequest.encode({ name, nonce: nonce() }),
      undefined,
      name,
    );
    const content = new Uint8Array(codecs.getReply.decode(payload).content);
    try {
      checkChunk(name, content);
    } catch (cause) {
      throw new ContentMismatchError(
        `chunk ${toHex(name).slice(0, 16)}… came back corrupt: ${cause instanceof Error ? cause.message : String(cause)}`,
      );
    }
    return content;
  }

  /**
   * Gives up this client's claim on a chunk. The network always answers success, saying whether
   * the account held a claim (false: nothing changed, e.g. a chunk only another account stored).
   */
  async deleteChunk(name: Name): Promise<boolean> {
    const reply = await this.#send(
      'Delete',
      'maid-manager',
      this.name,
      codecs.deleteRequest.encode({ name, nonce: nonce() }),
      undefined,
      name,
    );
    return codecs.deleteReply.decode(reply).held;
  }

  // ---- versioned data: the SDV named by KEY and this client's name ----

  /** The name of this client's SDV under `key` (anyone who knows it may read it). */
  sdvNameOf(key: string): Name {
    return sdvName(keyDataName(key), VERSIONED_FILE_TYPE, this.name);
  }

  /** Records `next` as a new version under `old` (null: the root of a new SDV, made with `limits`). */
  async putVersion(key: string, old: VersionName | null, next: VersionName, limits: SdvLimits = {}): Promise<VersionName> {
    const payload = versionCodecs.putVersion.encode({
      dataName: keyDataName(key),
      type: VERSIONED_FILE_TYPE,
      old: old && toWireVersion(old),
      newVersion: toWireVersion(next),
      maxVersions: limits.maxVersions ?? 0,
      maxBranches: limits.maxBranches ?? 0,
      nonce: nonce(),
    });
    const [stored] = versionsOf(await this.#send('PutVersion', 'maid-manager', this.name, payload));
    return stored ?? next;
  }

  /** Deletes the branch from `tip` until its fork; returns the tips left. */
  async deleteBranch(key: string, tip: VersionName): Promise<VersionName[]> {
    const payload = versionCodecs.deleteBranch.encode({
      dataName: keyDataName(key),
      type: VERSIONED_FILE_TYPE,
      tip: toWireVersion(tip),
      nonce: nonce(),
    });
    return versionsOf(await this.#send('DeleteBranchTillFork', 'maid-manager', this.name, payload));
  }

  /** The tips of the SDV named `name`, highest first; 'not-found' when it has none. */
  async versionTips(name: Name): Promise<VersionName[]> {
    return versionsOf(
      await this.#send('GetVersions', 'version-manager', name, () => versionCodecs.getVersions.encode({ name, nonce: nonce() })),
    );
  }

  /** The branch from `tip` back to its root or orphan. */
  async versionBranch(name: Name, tip: VersionName): Promise<VersionName[]> {
    const payload = () => versionCodecs.getBranch.encode({ name, tip: toWireVersion(tip), nonce: nonce() });
    return versionsOf(await this.#send('GetBranch', 'version-manager', name, payload));
  }

  /** A request to `persona`'s close group of `nae` (public ids: mpids.ts), retried as every request is. */
  request(type: string, persona: PersonaName, nae: Name, payload: Uint8Array | (() => Uint8Array)): Promise<Uint8Array> {
    return this.#send(type, persona, nae, payload);
  }

  // ---- ChunkStore ----

  put(content: Uint8Array): Promise<Name> {
    return this.putChunk(content);
  }

  get(name: Name): Promise<Uint8Array> {
    return this.getChunk(name);
  }

  delete(name: Name): Promise<boolean> {
    return this.deleteChunk(name);
  }

  // ---- transport ----

  /**
   * Signs one request and sends it; while the group answers that it is still settling, or gives
   * no answer in time, sends the SAME envelope again (same id, same nonce), so a group that did
   * decide answers from its firewall.
   * A read whose members disagreed is asked again as a new request (a fresh nonce): its firewall
   * would only replay the answers that disagreed, while a fresh ask sees the group as it is now.
   */
  async #send(
    type: string,
    persona: PersonaName,
    nae: Name,
    payload: Uint8Array | (() => Uint8Array),
    content?: Uint8Array,
    chunk?: Name,
  ): Promise<Uint8Array> {
    const attributes = {
      'safe.message.type': type,
      'safe.persona': persona,
      'safe.nae': toHex(nae).slice(0, 16),
      ...(chunk !== undefined ? { 'safe.chunk': toHex(chunk) } : {}),
    };
    return inSpan(`Gateway.Send ${type}`, 'client', attributes, async (span) => {
      // The trace context rides in the envelope (not covered by its id or signature): the Gateway's
      // span, and so everything the request causes, continues this span's trace.
      const seal = () => ({
        ...toWire(sealClientRequest(this.identity, type, { persona, nae }, typeof payload === 'function' ? payload() : payload, content)),
        trace: activeTraceContext(),
      });
      let wire = seal();
      let unanswered = 0;
      for (let attempt = 0; ; attempt++) {
        try {
          const reply = (await this.#unary('Send', wire)) as { payload?: Uint8Array };
          span.setAttribute('safe.attempts', attempt + 1);
          return reply.payload instanceof Uint8Array ? new Uint8Array(reply.payload) : new Uint8Array(0);
        } catch (error) {
          // One more ask after a timeout learns what was decided; more would only hold a caller of a stuck network.
          const askAgain = isSettling(error) || (isUnanswered(error) && unanswered++ < 1);
          if (attempt >= this.#retries || !askAgain) throw error;
          await sleep(this.#retryDelayMs * 2 ** attempt);
          if (READS.has(type) && typeof payload === 'function' && isDisagreement(error)) wire = seal();
        }
      }
    });
  }

  #unary(method: string, request: unknown): Promise<unknown> {
    const call = (this.#client as unknown as Record<string, UnaryMethod | undefined>)[method];
    if (call === undefined) return Promise.reject(new SafeError('internal', `the Gateway has no method ${method}`));
    return new Promise((resolve, reject) => {
      const options: CallOptions = { deadline: Date.now() + this.#timeoutMs };
      // Calls without an envelope (Info, AdoptVault) carry the trace context as metadata.
      const metadata = new Metadata();
      for (const [key, value] of Object.entries(activeTraceContext())) metadata.set(key, value);
      try {
        call.call(this.#client, request, metadata, options, (error, reply) => {
          if (error) reject(fromServiceError(error, this.endpoint));
          else resolve(reply ?? {});
        });
      } catch (error) {
        reject(new SafeError('internal', `${method}: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
      }
    });
  }
}

function nonce(): Uint8Array {
  return new Uint8Array(randomBytes(NONCE_BYTES));
}

/** The MaidManager answers a request for an account it does not have with "unknown client". */
function isUnknownClient(error: SafeError): boolean {
  return error.kind === 'not-found' || (error.kind === 'permission-denied' && /unknown client|create an account/i.test(error.message));
}
