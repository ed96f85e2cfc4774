import { keyDataName, sdvName, toWireVersion, VERSIONED_FILE_TYPE, type VersionName } from '@safe/chunks';
import { versionsOf } from '@safe/client';
import {
  type ClientReplyValue,
  clientRequest,
  type Envelope,
  errorOfReply,
  type Identity,
  type Name,
  nameOf,
  ReplyStatus,
} from '@safe/core';
import { toMaidManager, toVersionManager } from '@safe/messages';
import type { SimNet } from './sim-network.js';

/** `index` with the id of some content named `label`: versions a test can tell apart at a glance. */
export function version(index: number, label: string): VersionName {
  return { index: BigInt(index), id: nameOf(new TextEncoder().encode(label)) };
}

/** `INDEX:label`-free text of versions, for comparing answers: `index:first 8 hex of id`. */
export const shown = (versions: readonly VersionName[]) =>
  versions.map((v) => `${v.index}:${Buffer.from(v.id).toString('hex').slice(0, 8)}`);

/** A client's versioned data under one KEY, through the sim network's client entry. */
export class SimSdv {
  readonly net: SimNet;
  readonly client: Identity;
  readonly dataName: Name;
  readonly name: Name;

  constructor(net: SimNet, client: Identity, key: string) {
    this.net = net;
    this.client = client;
    this.dataName = keyDataName(key);
    this.name = sdvName(this.dataName, VERSIONED_FILE_TYPE, client.name);
  }

  put(old: VersionName | null, next: VersionName, limits = { maxVersions: 0, maxBranches: 0 }): Promise<ClientReplyValue> {
    return this.net.call(this.client, this.#putVersion(old, next, limits));
  }

  /** A PutVersion sealed, not sent: for calls a test starts at once (SimNet.concurrently). */
  putRequest(old: VersionName | null, next: VersionName, limits = { maxVersions: 0, maxBranches: 0 }): Envelope {
    return this.net.seal(this.client, this.#putVersion(old, next, limits));
  }

  #putVersion(old: VersionName | null, next: VersionName, limits: { maxVersions: number; maxBranches: number }) {
    return clientRequest(toMaidManager.putVersion, this.client.name, {
      dataName: this.dataName,
      type: VERSIONED_FILE_TYPE,
      old: old && toWireVersion(old),
      newVersion: toWireVersion(next),
      ...limits,
      nonce: this.net.nonce(),
    });
  }

  deleteBranch(tip: VersionName): Promise<ClientReplyValue> {
    const request = clientRequest(toMaidManager.deleteBranchTillFork, this.client.name, {
      dataName: this.dataName,
      type: VERSIONED_FILE_TYPE,
      tip: toWireVersion(tip),
      nonce: this.net.nonce(),
    });
    return this.net.call(this.client, request);
  }

  /** The tips, as `reader` (anyone who knows the name) asks for them. */
  tips(reader: Identity = this.client): Promise<ClientReplyValue> {
    return this.net.call(reader, clientRequest(toVersionManager.getVersions, this.name, { name: this.name, nonce: this.net.nonce() }));
  }

  branch(tip: VersionName): Promise<ClientReplyValue> {
    const request = clientRequest(toVersionManager.getBranch, this.name, {
      name: this.name,
      tip: toWireVersion(tip),
      nonce: this.net.nonce(),
    });
    return this.net.call(this.client, request);
  }

  /** The versions an OK answer carries; a refusal throws its error. */
  static versions(reply: ClientReplyValue): VersionName[] {
    if (reply.status !== ReplyStatus.OK) throw errorOfReply(reply);
    return versionsOf(reply.payload);
  }
}
