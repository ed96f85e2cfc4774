import { readFile } from 'node:fs/promises';
import { toHex } from '@safe/core';
import { CliError, EXIT, usage } from './cli-errors.js';
import type { SafeClient } from './client.js';
import {
  acknowledge,
  changeList,
  chooseMpid,
  createMpid,
  heldMessages,
  type ListChangeType,
  lists,
  messageKey,
  printedKeys,
  rememberPrinted,
  sendMessage,
} from './mpids.js';

/** `safe mpid …` and `safe msg …`: public ids and the messages between them. */
export const MSG_USAGE = `  mpid create NAME     register the public id NAME for your account (its key is kept in SAFE_HOME);
                       prints the public id's name (128 hex characters) last
  msg send NAME FILE [--from ID]
                       send FILE ("-": stdin, at most 100 KiB) to the public id NAME
  msg listen [--once] [--from ID]
                       print messages held for you, then new ones as they come, one JSON object
                       a line {"from":NAME,"id":HEX,"body":BASE64}; --once stops after the held ones
  msg allow|disallow|block|unblock NAME [--from ID]
                       change your allow list (a non-empty one admits only its names) or block list
  msg lists [--from ID]
                       print your lists: "allow NAME" and "block NAME" lines
`;

const LIST_CHANGES: Record<string, ListChangeType> = {
  allow: 'AddToWhiteList',
  disallow: 'RemoveFromWhiteList',
  block: 'AddToBlackList',
  unblock: 'RemoveFromBlackList',
};

/** How often `msg listen` asks its MpidManagers for what is held (README of the MpidManager: "online"). */
const LISTEN_EVERY_MS = 500;

export type MsgCommand = { readonly endpoint: string; readonly from: string | undefined } & (
  | { readonly command: 'mpid'; readonly name: string }
  | { readonly command: 'msg'; readonly sub: 'send'; readonly to: string; readonly file: string }
  | { readonly command: 'msg'; readonly sub: 'listen'; readonly once: boolean }
  | { readonly command: 'msg'; readonly sub: 'change'; readonly change: ListChangeType; readonly entry: string }
  | { readonly command: 'msg'; readonly sub: 'lists' }
);

/** Parses `mpid create NAME` and `msg SUB …`. */
export function parseMsgCommand(
  command: 'mpid' | 'msg',
  args: readonly string[],
  flags: { from?: string | undefined; once?: boolean | undefined },
  endpoint: string,
): MsgCommand {
  const [sub, ...rest] = args;
  const expect = (count: number, what: string) => {
    if (rest.length < count) throw usage(`${command} ${sub}: missing ${what}`);
    if (rest.length > count) throw usage(`${command} ${sub}: unexpected argument ${JSON.stringify(rest[count])}`);
  };
  if (flags.once && sub !== 'listen') throw usage('--once is an option of msg listen');
  const base = { endpoint, from: flags.from };
  if (command === 'mpid') {
    if (sub !== 'create') throw usage(sub === undefined ? 'mpid: missing create' : `mpid: unknown command ${JSON.stringify(sub)}`);
    if (flags.from !== undefined) throw usage('--from is an option of msg');
    expect(1, 'NAME');
    return { ...base, command, name: rest[0] as string };
  }
  switch (sub) {
    case 'send':
      expect(2, 'NAME FILE');
      return { ...base, command, sub, to: rest[0] as string, file: rest[1] as string };
    case 'listen':
      expect(0, '');
      return { ...base, command, sub, once: flags.once ?? false };
    case 'lists':
      expect(0, '');
      return { ...base, command, sub };
    case undefined:
      throw usage('msg: missing send, listen, allow, disallow, block, unblock or lists');
    default: {
      const change = LIST_CHANGES[sub];
      if (change === undefined) throw usage(`msg: unknown command ${JSON.stringify(sub)}`);
      expect(1, 'NAME');
      return { ...base, command, sub: 'change', change, entry: rest[0] as string };
    }
  }
}

async function readBody(file: string, stdin: NodeJS.ReadableStream): Promise<Uint8Array> {
  try {
    if (file !== '-') return new Uint8Array(await readFile(file));
    const parts: Buffer[] = [];
    for await (const part of stdin) parts.push(Buffer.from(part as Buffer));
    return new Uint8Array(Buffer.concat(parts));
  } catch (error) {
    throw new CliError(EXIT.usage, `cannot read ${file}: ${(error as Error).message}`);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `msg listen`: takes the MPID online. Each round prints, in the order given, what it has not
 * printed before, remembers it, and only then acknowledges it: a message is printed once.
 */
async function listen(client: SafeClient, home: string, mpid: string, once: boolean, write: (line: string) => void): Promise<void> {
  for (;;) {
    const held = await heldMessages(client, mpid);
    const printed = await printedKeys(home, mpid);
    const fresh = held.filter((m) => !printed.has(messageKey(m)));
    for (const m of fresh) {
      write(`${JSON.stringify({ from: m.from, id: Buffer.from(m.id).toString('hex'), body: Buffer.from(m.body).toString('base64') })}\n`);
    }
    if (fresh.length > 0) await rememberPrinted(home, mpid, fresh.map(messageKey));
    if (held.length > 0) await acknowledge(client, mpid, held);
    if (once && held.length === 0) return;
    if (held.length === 0) await sleep(LISTEN_EVERY_MS);
  }
}

/** Runs an `mpid` or `msg` command with `client`; returns what to print last. */
export async function runMsg(
  client: SafeClient,
  home: string,
  command: MsgCommand,
  io: { stdin: NodeJS.ReadableStream; write: (line: string) => void },
): Promise<string> {
  if (command.command === 'mpid') return `${toHex(await createMpid(client, home, command.name))}\n`;
  const mpid = await chooseMpid(home, command.from);
  switch (command.sub) {
    case 'send': {
      const id = await sendMessage(client, mpid, command.to, await readBody(command.file, io.stdin));
      return `${Buffer.from(id).toString('hex')}\n`;
    }
    case 'listen':
      await listen(client, home, mpid, command.once, io.write);
      return '';
    case 'change':
      await changeList(client, mpid, command.change, command.entry);
      return '';
    case 'lists': {
      const { allow, block } = await lists(client, mpid);
      return [...allow.map((n) => `allow ${n}\n`), ...block.map((n) => `block ${n}\n`)].join('');
    }
  }
}
