import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkMpidText, MPID_LIMITS, mpidName, mpidRegistrationBytes } from '@safe/chunks';
import { clientRequest, generateIdentity, type Identity, importIdentity, type Name, protoCodec, SafeError, toHex } from '@safe/core';
import { toMpidManager } from '@safe/messages';
import { InboxSchema, ListsSchema } from '@safe/proto/mpid_manager';
import type { SafeClient } from './client.js';

/** Answers; the requests are rows of the message table (@safe/messages), built with clientRequest. */
const codecs = {
  inbox: protoCodec(InboxSchema),
  lists: protoCodec(ListsSchema),
};

export interface ReceivedMessage {
  readonly sender: Uint8Array;
  readonly from: string;
  readonly id: Uint8Array;
  readonly sentAt: number;
  readonly body: Uint8Array;
}

export type ListChangeType = 'AddToWhiteList' | 'RemoveFromWhiteList' | 'AddToBlackList' | 'RemoveFromBlackList';
const LIST_CHANGES = {
  AddToWhiteList: toMpidManager.addToWhiteList,
  RemoveFromWhiteList: toMpidManager.removeFromWhiteList,
  AddToBlackList: toMpidManager.addToBlackList,
  RemoveFromBlackList: toMpidManager.removeFromBlackList,
};

/** Keys of printed messages a node remembers per MPID, so a message is printed once. */
const PRINTED_KEPT = 4096;
const nonce = () => new Uint8Array(randomBytes(16));
const mpidsDir = (home: string) => join(home, 'mpids');
const keyPath = (home: string, text: string) => join(mpidsDir(home), `${text}.key`);
const printedPath = (home: string, text: string) => join(mpidsDir(home), `${text}.printed`);
export const messageKey = (m: { sender: Uint8Array; id: Uint8Array }) => `${toHex(m.sender as Name)}:${Buffer.from(m.id).toString('hex')}`;

/**
 * Registers the public id `text` for this client; its key is kept in `home/mpids/TEXT.key` (mode
 * 0600), written before the registration so a repeat after a crash proves the same key.
 */
export async function createMpid(client: SafeClient, home: string, text: string): Promise<Name> {
  const name = mpidName(checkMpidText(text));
  await mkdir(mpidsDir(home), { recursive: true, mode: 0o700 });
  let key: Identity;
  let made = false;
  try {
    key = importIdentity(new Uint8Array(await readFile(keyPath(home, text))));
  } catch {
    key = generateIdentity();
    await writeFile(keyPath(home, text), key.exportPrivateKey(), { mode: 0o600 });
    made = true;
  }
  const signature = key.sign(mpidRegistrationBytes(text, client.name));
  try {
    await client.request(clientRequest(toMpidManager.createMpid, name, { name: text, publicKey: key.publicKey, signature }));
  } catch (error) {
    if (made && error instanceof SafeError && error.kind === 'already-exists') await rm(keyPath(home, text), { force: true });
    throw error;
  }
  return name;
}

/** The public ids this account's home holds keys of, sorted. */
export async function ownMpids(home: string): Promise<string[]> {
  const files = await readdir(mpidsDir(home)).catch(() => [] as string[]);
  return files
    .filter((f) => f.endsWith('.key'))
    .map((f) => f.slice(0, -'.key'.length))
    .sort();
}

/** The MPID a command acts as: `from`, or the home's only one. */
export async function chooseMpid(home: string, from: string | undefined): Promise<string> {
  const own = await ownMpids(home);
  if (from !== undefined) {
    if (!own.includes(from)) throw new SafeError('not-found', `this account has no public id ${from} (safe mpid create ${from})`);
    return from;
  }
  if (own.length === 0) throw new SafeError('not-found', 'this account has no public id: safe mpid create NAME first');
  if (own.length > 1)
    throw new SafeError('invalid-argument', `this account has several public ids (${own.join(', ')}): choose one with --from`);
  return own[0] as string;
}

/** Sends `body` from this client's MPID `from` to the MPID named `to`; returns the message id. */
export async function sendMessage(client: SafeClient, from: string, to: string, body: Uint8Array): Promise<Uint8Array> {
  checkMpidText(to, 'recipient');
  if (body.length > MPID_LIMITS.bodyBytes) {
    throw new SafeError('resource-exhausted', `a message body is at most ${MPID_LIMITS.bodyBytes} bytes, this one is ${body.length}`);
  }
  const id = new Uint8Array(randomBytes(16));
  const payload = { from: mpidName(from), to, id, body, sentAt: Date.now() };
  await client.request(clientRequest(toMpidManager.sendMessage, mpidName(from), payload));
  return id;
}

/** The messages held for `mpid`, oldest first. */
export async function heldMessages(client: SafeClient, mpid: string): Promise<ReceivedMessage[]> {
  const name = mpidName(mpid);
  return codecs.inbox.decode(await client.request(clientRequest(toMpidManager.getMessages, name, () => ({ mpid: name, nonce: nonce() }))))
    .messages;
}

export async function acknowledge(client: SafeClient, mpid: string, messages: readonly ReceivedMessage[]): Promise<void> {
  const name = mpidName(mpid);
  const keys = messages.map((m) => ({ sender: m.sender, id: m.id }));
  await client.request(clientRequest(toMpidManager.acknowledge, name, { mpid: name, keys }));
}

export async function changeList(client: SafeClient, mpid: string, type: ListChangeType, entry: string): Promise<void> {
  const name = mpidName(mpid);
  await client.request(clientRequest(LIST_CHANGES[type], name, { mpid: name, entry: checkMpidText(entry, 'list entry') }));
}

export async function lists(client: SafeClient, mpid: string): Promise<{ allow: string[]; block: string[] }> {
  const name = mpidName(mpid);
  const read = async (row: typeof toMpidManager.whiteList) =>
    codecs.lists.decode(await client.request(clientRequest(row, name, () => ({ mpid: name, nonce: nonce() }))));
  return { allow: (await read(toMpidManager.whiteList)).white, block: (await read(toMpidManager.blackList)).black };
}

/** The keys this home printed for `mpid` (the newest PRINTED_KEPT). */
export async function printedKeys(home: string, mpid: string): Promise<Set<string>> {
  const text = await readFile(printedPath(home, mpid), 'utf8').catch(() => '');
  return new Set(text.split('\n').filter((line) => line !== ''));
}

/** Remembers printed keys before they are acknowledged, keeping the file to the newest PRINTED_KEPT. */
export async function rememberPrinted(home: string, mpid: string, keys: readonly string[]): Promise<void> {
  await appendFile(printedPath(home, mpid), keys.map((k) => `${k}\n`).join(''), { mode: 0o600 });
  const all = [...(await printedKeys(home, mpid))];
  if (all.length > PRINTED_KEPT) await writeFile(printedPath(home, mpid), `${all.slice(-PRINTED_KEPT).join('\n')}\n`, { mode: 0o600 });
}
