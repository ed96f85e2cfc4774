import { keyDataName, sdvName, toWireVersion, VERSIONED_FILE_TYPE, type VersionName, type WireVersion } from '@safe/chunks';
import { type ClientReplyValue, errorOfReply, type Identity, type Name, nameOf, protoCodec } from '@safe/core';
import type { SimNet } from './sim-network.js';

const exact = { longs: 'string' } as const;
const codecs = {
  put: protoCodec<{
    dataName: Uint8Array;
    type: number;
    old: WireVersion | null;
    newVersion: WireVersion;
    maxVersions: number;
    maxBranches: number;
    nonce: Uint8Array;
  }>('safe.v1.PutVersionRequest', exact),
  delete: protoCodec<{ dataName: Uint8Array; type: number; tip: WireVersion; nonce: Uint8Array }>(
    'safe.v1.DeleteBranchTillForkRequest',
    exact,
  ),
  getVersions: protoCodec<{ name: Uint8Array; nonce: Uint8Array }>('safe.v1.GetVersionsRequest', exact),
  getBranch: protoCodec<{ name: Uint8Array; tip: WireVersion; nonce: Uint8Array }>('safe.v1.GetBranchRequest', exact),
  versions: protoCodec<{ versions: WireVersion[] }>('safe.v1.VersionsReply', exact),
};

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
    const payload = codecs.put.encode({
      dataName: this.dataName,
      type: VERSIONED_FILE_TYPE,
      old: old && toWireVersion(old),
      newVersion: toWireVersion(next),
      ...limits,
      nonce: this.net.nonce(),
    });
    return this.net.call(this.client, 'PutVersion', 'maid-manager', this.client.name, payload);
  }

  deleteBranch(tip: VersionName): Promise<ClientReplyValue> {
    const payload = codecs.delete.encode({
      dataName: this.dataName,
      type: VERSIONED_FILE_TYPE,
      tip: toWireVersion(tip),
      nonce: this.net.nonce(),
    });
    return this.net.call(this.client, 'DeleteBranchTillFork', 'maid-manager', this.client.name, payload);
  }

  /** The tips, as `reader` (anyone who knows the name) asks for them. */
  tips(reader: Identity = this.client): Promise<ClientReplyValue> {
    return this.net.call(
      reader,
      'GetVersions',
      'version-manager',
      this.name,
      codecs.getVersions.encode({ name: this.name, nonce: this.net.nonce() }),
    );
  }

  branch(tip: VersionName): Promise<ClientReplyValue> {
    const payload = codecs.getBranch.encode({ name: this.name, tip: toWireVersion(tip), nonce: this.net.nonce() });
    return this.net.call(this.client, 'GetBranch', 'version-manager', this.name, payload);
  }

  /** The versions an OK answer carries; a refusal throws its error. */
  static versions(reply: ClientReplyValue): VersionName[] {
    if (reply.status !== 'OK') throw errorOfReply(reply);
    return codecs.versions.decode(reply.payload).versions.map((v) => ({ index: BigInt(v.index), id: v.id as Name }));
  }
}
