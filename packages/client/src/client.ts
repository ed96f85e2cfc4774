import { randomBytes } from 'node:crypto';
import { checkChunk, keyDataName, MAX_CHUNK_BYTES, sdvName, toWireVersion, VERSIONED_FILE_TYPE, type VersionName } from '@safe/chunks';
import {
  type ClientRequest,
  ContentMismatchError,
  clientRequest,
  contentDigest,
  type Identity,
  type Name,
  protoCodec,
  SafeError,
  signVaultRegistrationPart,
  toHex,
} from '@safe/core';
import { toDataManager, toMaidManager, toVersionManager } from '@safe/messages';
import { AccountInfoSchema, DeleteReplySchema, GetReplySchema, PutReplySchema } from '@safe/proto/messages';
import type { ChunkStore } from './chunk-store.js';
import { type ConnectOptions, GatewayTransport } from './gateway-transport.js';
import { type SdvLimits, versionsOf } from './version-codecs.js';

export { type ConnectOptions, isSettling } from './gateway-transport.js';

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

/** Answers; the requests are rows of the message table (@safe/messages), built with clientRequest. */
const codecs = {
  putReply: protoCodec(PutReplySchema),
  deleteReply: protoCodec(DeleteReplySchema),
  accountInfo: protoCodec(AccountInfoSchema),
  getReply: protoCodec(GetReplySchema),
};

const NONCE_BYTES = 16;

/**
 * The client SDK (a MaidNode): builds and signs each request envelope itself and sends it through
 * a network's Gateway. Every failure is a SafeError (mapped from the gRPC status by
 * `fromServiceError`). Implements ChunkStore, so files.ts stores files through it.
 */
export class SafeClient implements ChunkStore {
  readonly endpoint: string;
  readonly identity: Identity;
  readonly #transport: GatewayTransport;
  #ready: Promise<void> | undefined;

  private constructor(options: ConnectOptions) {
    this.endpoint = options.endpoint;
    this.identity = options.identity;
    this.#transport = new GatewayTransport(options);
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
    this.#transport.close();
  }

  // ---- the Gateway's own calls ----

  async info(): Promise<NetworkInfo> {
    const reply = (await this.#transport.unary('Info', {})) as Partial<NetworkInfo>;
    return {
      closeGroupSize: reply.closeGroupSize ?? 0,
      maxChunkSize: reply.maxChunkSize ?? 0,
      personas: (reply.personas ?? []).map((p) => ({ persona: p.persona, replicas: p.replicas })),
    };
  }

  /** Testnet only: the network signs the PMID half of a registration of one of its PmidNodes for this client. */
  async adoptVault(): Promise<AdoptedVault> {
    const reply = (await this.#transport.unary('AdoptVault', { maidPublicKey: this.identity.publicKey })) as Partial<AdoptedVault>;
    if (!(reply.pmidPublicKey instanceof Uint8Array) || !(reply.pmidSignature instanceof Uint8Array) || reply.pmidPublicKey.length === 0) {
      throw new SafeError('internal', 'the network adopted no vault for this client');
    }
    return { pmidPublicKey: new Uint8Array(reply.pmidPublicKey), pmidSignature: new Uint8Array(reply.pmidSignature) };
  }

  // ---- requests to the personas ----

  /** Creates the client's account (an anonymous account packet). Fails with 'already-exists' if it exists. */
  async createAccount(): Promise<void> {
    await this.request(clientRequest(toMaidManager.createAccount, this.name, {}));
  }

  /** Registers a vault (PmidNode) to the account; the PMID key signed its half, this client signs the MAID half. */
  async registerVault(pmidPublicKey: Uint8Array, pmidSignature: Uint8Array): Promise<void> {
    const registration = {
      maidPublicKey: this.identity.publicKey,
      pmidPublicKey,
      maidSignature: signVaultRegistrationPart(this.identity, this.identity.publicKey, pmidPublicKey),
      pmidSignature,
    };
    await this.request(clientRequest(toMaidManager.registerVault, this.name, registration));
  }

  async account(): Promise<AccountInfo> {
    const payload = await this.request(clientRequest(toMaidManager.getAccount, this.name, () => ({ nonce: nonce() })));
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
    await this.request(clientRequest(toMaidManager.put, this.name, { name, nonce: nonce() }), content, name);
    return name;
  }

  /** Fetches a chunk from the DataManagers at its name and checks it hashes to that name. */
  async getChunk(name: Name): Promise<Uint8Array> {
    // Each ask is encoded afresh (a new nonce).
    const payload = await this.request(
      clientRequest(toDataManager.get, name, () => ({ name, nonce: nonce() })),
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
    const reply = await this.request(clientRequest(toMaidManager.delete, this.name, { name, nonce: nonce() }), undefined, name);
    return codecs.deleteReply.decode(reply).held;
  }

  // ---- versioned data: the SDV named by KEY and this client's name ----

  /** The name of this client's SDV under `key` (anyone who knows it may read it). */
  sdvNameOf(key: string): Name {
    return sdvName(keyDataName(key), VERSIONED_FILE_TYPE, this.name);
  }

  /** Records `next` as a new version under `old` (null: the root of a new SDV, made with `limits`). */
  async putVersion(key: string, old: VersionName | null, next: VersionName, limits: SdvLimits = {}): Promise<VersionName> {
    const request = clientRequest(toMaidManager.putVersion, this.name, {
      dataName: keyDataName(key),
      type: VERSIONED_FILE_TYPE,
      old: old && toWireVersion(old),
      newVersion: toWireVersion(next),
      maxVersions: limits.maxVersions ?? 0,
      maxBranches: limits.maxBranches ?? 0,
      nonce: nonce(),
    });
    const [stored] = versionsOf(await this.request(request));
    return stored ?? next;
  }

  /** Deletes the branch from `tip` until its fork; returns the tips left. */
  async deleteBranch(key: string, tip: VersionName): Promise<VersionName[]> {
    const request = clientRequest(toMaidManager.deleteBranchTillFork, this.name, {
      dataName: keyDataName(key),
      type: VERSIONED_FILE_TYPE,
      tip: toWireVersion(tip),
      nonce: nonce(),
    });
    return versionsOf(await this.request(request));
  }

  /** The tips of the SDV named `name`, highest first; 'not-found' when it has none. */
  async versionTips(name: Name): Promise<VersionName[]> {
    return versionsOf(await this.request(clientRequest(toVersionManager.getVersions, name, () => ({ name, nonce: nonce() }))));
  }

  /** The branch from `tip` back to its root or orphan. */
  async versionBranch(name: Name, tip: VersionName): Promise<VersionName[]> {
    const payload = () => ({ name, tip: toWireVersion(tip), nonce: nonce() });
    return versionsOf(await this.request(clientRequest(toVersionManager.getBranch, name, payload)));
  }

  /** A request of a row of the message table (public ids: mpids.ts), retried as every request is. */
  request(request: ClientRequest, content?: Uint8Array, chunk?: Name): Promise<Uint8Array> {
    return this.#transport.send(request.type, request.to.persona, request.to.nae, request.payload, content, chunk);
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
}

function nonce(): Uint8Array {
  return new Uint8Array(randomBytes(NONCE_BYTES));
}

/** The MaidManager answers a request for an account it does not have with "unknown client". */
function isUnknownClient(error: SafeError): boolean {
  return error.kind === 'not-found' || (error.kind === 'permission-denied' && /unknown client|create an account/i.test(error.message));
}
