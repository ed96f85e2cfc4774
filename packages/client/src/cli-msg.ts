import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { toHex } from '@safe/core';
import type { Command as Program } from 'commander';
import { CliError, EXIT } from './cli-errors.js';
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

const LIST_CHANGES = {
  allow: 'AddToWhiteList',
  disallow: 'RemoveFromWhiteList',
  block: 'AddToBlackList',
  unblock: 'RemoveFromBlackList',
} as const satisfies Record<string, ListChangeType>;

const LIST_HELP: Record<ListChangeType, string> = {
  AddToWhiteList: 'add NAME to your allow list (a non-empty one admits only its names)',
  RemoveFromWhiteList: 'take NAME off your allow list',
  AddToBlackList: 'add NAME to your block list: its messages are refused',
  RemoveFromBlackList: 'take NAME off your block list',
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

/** `safe mpid …` and `safe msg …`: public ids and the messages between them. */
export function addMsgCommands(parent: Program, endpoint: () => string, emit: (command: MsgCommand) => void): void {
  const from = ['--from <ID>', 'the public id to act as (default: your only one)'] as const;
  const base = (flags: { from?: string }) => ({ endpoint: endpoint(), from: flags.from });
  parent
    .command('mpid')
    .usage('create NAME')
    .description('public ids (MPIDs) of your account')
    .command('create')
    .usage('NAME')
    .description(
      "register the public id NAME for your account (its key is kept in SAFE_HOME); prints the public id's name (128 hex characters) last",
    )
    .argument('<NAME>')
    .action((name: string) => emit({ endpoint: endpoint(), from: undefined, command: 'mpid', name }));
  const msg = parent.command('msg').usage('SUB … [--from ID]').description('messages between public ids, and who may send you them');
  msg
    .command('send')
    .usage('NAME FILE [--from ID]')
    .description('send FILE ("-": stdin, at most 100 KiB) to the public id NAME')
    .argument('<NAME>')
    .argument('<FILE>')
    .option(...from)
    .action((to: string, file: string, flags: { from?: string }) => emit({ ...base(flags), command: 'msg', sub: 'send', to, file }));
  msg
    .command('listen')
    .usage('[--once] [--from ID]')
    .description('print messages held for you, then new ones as they come, one JSON object a line {"from":NAME,"id":HEX,"body":BASE64}')
    .option('--once', 'stop after the held ones')
    .option(...from)
    .action((flags: { from?: string; once?: boolean }) =>
      emit({ ...base(flags), command: 'msg', sub: 'listen', once: flags.once ?? false }),
    );
  for (const [sub, change] of Object.entries(LIST_CHANGES)) {
    msg
      .command(sub)
      .usage('NAME [--from ID]')
      .description(LIST_HELP[change])
      .argument('<NAME>')
      .option(...from)
      .action((entry: string, flags: { from?: string }) => emit({ ...base(flags), command: 'msg', sub: 'change', change, entry }));
  }
  msg
    .command('lists')
    .usage('[--from ID]')
    .description('print your lists: "allow NAME" and "block NAME" lines')
    .option(...from)
    .action((flags: { from?: string }) => emit({ ...base(flags), command: 'msg', sub: 'lists' }));
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
