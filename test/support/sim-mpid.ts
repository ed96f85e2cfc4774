import { mpidName, mpidRegistrationBytes } from '@safe/chunks';
import { type ClientReplyValue, clientRequest, errorOfReply, type Identity, identityFromSeed, type Name, ReplyStatus } from '@safe/core';
import { toMpidManager } from '@safe/messages';
import { type HeldMessage, inboxCodec, listsCodec } from '@safe/mpid-manager';
import type { SimNet } from './sim-network.js';

/** A client's public id (MPID) on the sim network, played through the client entry as the MpidNode would. */
export class SimMpid {
  readonly net: SimNet;
  readonly client: Identity;
  readonly text: string;
  readonly name: Name;
  readonly key: Identity;

  constructor(net: SimNet, client: Identity, text: string) {
    this.net = net;
    this.client = client;
    this.text = text;
    this.name = mpidName(text);
    this.key = identityFromSeed(net.sim.random.bytes(32));
  }

  create(key: Identity = this.key): Promise<ClientReplyValue> {
    const signature = key.sign(mpidRegistrationBytes(this.text, this.client.name));
    return this.net.call(
      this.client,
      clientRequest(toMpidManager.createMpid, this.name, { name: this.text, publicKey: key.publicKey, signature }),
    );
  }

  /** Sends `body` to the MPID named `to`; `as` plays another client claiming this MPID. */
  send(to: string, body: string, id: string, sentAt: number, as: Identity = this.client): Promise<ClientReplyValue> {
    const message = { from: this.name, to, id: Buffer.from(id), body: Buffer.from(body), sentAt };
    return this.net.call(as, clientRequest(toMpidManager.sendMessage, this.name, message));
  }

  inbox(as: Identity = this.client): Promise<ClientReplyValue> {
    return this.net.call(as, clientRequest(toMpidManager.getMessages, this.name, { mpid: this.name, nonce: this.net.nonce() }));
  }

  /** The held messages as `from:body` lines, in the order the group gives them. */
  async held(): Promise<string[]> {
    return SimMpid.messages(await this.inbox()).map((m) => `${m.from}:${Buffer.from(m.body).toString()}`);
  }

  acknowledge(messages: readonly HeldMessage[]): Promise<ClientReplyValue> {
    const keys = messages.map((m) => ({ sender: m.sender, id: m.id }));
    return this.net.call(this.client, clientRequest(toMpidManager.acknowledge, this.name, { mpid: this.name, keys }));
  }

  /** `row`: toMpidManager.addToWhiteList, removeFromWhiteList, addToBlackList or removeFromBlackList. */
  change(row: typeof toMpidManager.addToWhiteList, entry: string, as: Identity = this.client): Promise<ClientReplyValue> {
    return this.net.call(as, clientRequest(row, this.name, { mpid: this.name, entry }));
  }

  async lists(): Promise<{ white: string[]; black: string[] }> {
    const read = async (row: typeof toMpidManager.whiteList | typeof toMpidManager.blackList) =>
      listsCodec.decode(
        SimMpid.ok(await this.net.call(this.client, clientRequest(row, this.name, { mpid: this.name, nonce: this.net.nonce() }))),
      );
    return { white: (await read(toMpidManager.whiteList)).white, black: (await read(toMpidManager.blackList)).black };
  }

  static ok(reply: ClientReplyValue): Uint8Array {
    if (reply.status !== ReplyStatus.OK) throw errorOfReply(reply);
    return reply.payload;
  }

  static messages(reply: ClientReplyValue): HeldMessage[] {
    return inboxCodec.decode(SimMpid.ok(reply)).messages;
  }
}
