import { ContentMismatchError, SafeError, toHex } from '@safe/core';
import { type CliIo, withClient } from './cli-client.js';
import { CliError, EXIT } from './cli-errors.js';
import { get, put, rm } from './cli-files.js';
import { runMsg } from './cli-msg.js';
import { type Command, parseCommandLine } from './cli-parse.js';
import { formatBytes, MIB } from './cli-progress.js';
import { commandTrace } from './cli-trace.js';
import { runVersion, type VersionCommand, versionToGet } from './cli-version.js';
import type { SafeClient } from './client.js';
import { NotAFileError } from './files.js';
import { IdentityFileError, safeHome } from './identity-file.js';
import { fetchTrace, formatTraceTree } from './jaeger.js';

export type { CliIo } from './cli-client.js';
export { CliError, EXIT } from './cli-errors.js';
export { type Command, DEFAULT_ENDPOINT, DEFAULT_JAEGER_URL, parseCommand, parseCommandLine, parseEndpoint } from './cli-parse.js';
export { formatBytes } from './cli-progress.js';

/** The exit code and the one line (without "safe: ") that say why a command failed. */
export function describeFailure(error: unknown): { code: number; message: string } {
  const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();
  if (error instanceof CliError) return { code: error.code, message: oneLine(error.message) };
  if (error instanceof IdentityFileError) return { code: EXIT.other, message: oneLine(error.message) };
  if (error instanceof ContentMismatchError) return { code: EXIT.corrupt, message: oneLine(`corrupt data: ${error.message}`) };
  if (error instanceof NotAFileError) return { code: EXIT.usage, message: oneLine(error.message) };
  if (!(error instanceof SafeError)) return { code: EXIT.other, message: oneLine(error instanceof Error ? error.message : String(error)) };
  const labelled = (label: string) => (error.message.toLowerCase().startsWith(label) ? error.message : `${label}: ${error.message}`);
  switch (error.kind) {
    case 'not-found':
      return { code: EXIT.notFound, message: oneLine(labelled('not found')) };
    case 'unavailable':
      return {
        code: EXIT.unavailable,
        message: oneLine(error.message.startsWith('cannot reach') ? unreachable(error.message) : labelled('unavailable')),
      };
    case 'deadline-exceeded':
      return { code: EXIT.unavailable, message: oneLine(labelled('timed out')) };
    case 'resource-exhausted':
      if (/cannot exceed limit/.test(error.message)) return { code: EXIT.limit, message: oneLine(labelled('over a limit')) };
      return { code: EXIT.outOfSpace, message: oneLine(labelled('out of space')) };
    case 'invalid-argument':
      return { code: EXIT.usage, message: oneLine(labelled('invalid argument')) };
    default:
      return { code: EXIT.other, message: oneLine(labelled(error.kind.replaceAll('-', ' '))) };
  }
}

/** "cannot reach the network at HOST:PORT: <grpc-js details>" shortened to the endpoint and the socket error code. */
function unreachable(message: string): string {
  const head = /^cannot reach the network at \S+?(?=:\s|$)/.exec(message)?.[0] ?? message;
  const code = /\b(E[A-Z]{3,})\b/.exec(message)?.[1] ?? (/name resolution/i.test(message) ? 'name resolution failed' : undefined);
  return code ? `${head} (${code})` : head;
}

async function account(command: Extract<Command, { command: 'account' }>, io: CliIo): Promise<void> {
  await withClient(command.endpoint, io, async (client) => {
    let info: Awaited<ReturnType<SafeClient['account']>>;
    try {
      info = await client.account();
    } catch (error) {
      if (error instanceof SafeError && /unknown client|create an account/i.test(error.message)) {
        io.stdout.write(
          `account    ${toHex(client.name)}\n           none yet: your first \`safe put\` creates it and registers a vault\n`,
        );
        return;
      }
      throw error;
    }
    const lines = [
      `account    ${toHex(client.name)}`,
      `stored     ${formatBytes(info.stored)} (${info.stored} bytes)`,
      `available  ${formatBytes(info.available)} (${info.available} bytes)`,
      `vaults     ${info.vaults.length} registered`,
      ...info.vaults.map((v) => `           ${toHex(v)}`),
      `chunks     ${info.chunks}`,
    ];
    io.stdout.write(`${lines.join('\n')}\n`);
  });
}

async function info(command: Extract<Command, { command: 'info' }>, io: CliIo): Promise<void> {
  await withClient(command.endpoint, io, async (client) => {
    const network = await client.info();
    const lines = [
      `endpoint          ${command.endpoint}`,
      `close group size  ${network.closeGroupSize}`,
      `max chunk size    ${network.maxChunkSize >= MIB ? formatBytes(network.maxChunkSize) : `${network.maxChunkSize} B`} (${network.maxChunkSize} bytes)`,
      'personas',
      ...network.personas.map((p) => `  ${p.persona.padEnd(16)}${p.replicas} replica(s)`),
    ];
    io.stdout.write(`${lines.join('\n')}\n`);
  });
}

async function version(command: VersionCommand, io: CliIo): Promise<void> {
  if (command.sub === 'get') {
    const name = await withClient(command.endpoint, io, (client) => versionToGet(client, command));
    await get({ command: 'get', endpoint: command.endpoint, name, output: command.output, force: command.force }, io);
    return;
  }
  io.stdout.write(await withClient(command.endpoint, io, (client) => runVersion(client, command)));
}

/** Runs one command line; returns the exit code. A failure is ONE line on stderr: "safe: <cause>". */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const { command, trace } = parseCommandLine(argv, io.env);
    if (command.command === 'help') {
      io.stdout.write(command.text);
      return EXIT.ok;
    }
    const attributes: Record<string, string> = command.command === 'put' ? { 'safe.file': command.file } : {};
    await commandTrace(command.command, attributes, { print: trace, env: io.env, stderr: io.stderr }).run(() => dispatch(command, io));
    return EXIT.ok;
  } catch (error) {
    const { code, message } = describeFailure(error);
    io.stderr.write(`safe: ${message}\n`);
    return code;
  }
}

async function dispatch(command: Exclude<Command, { command: 'help' }>, io: CliIo): Promise<void> {
  switch (command.command) {
    case 'put':
      return put(command, io);
    case 'get':
      return get(command, io);
    case 'rm':
      return rm(command, io);
    case 'account':
      return account(command, io);
    case 'info':
      return info(command, io);
    case 'version':
      return version(command, io);
    case 'mpid':
    case 'msg': {
      const write = (line: string) => io.stdout.write(line);
      const printed = await withClient(command.endpoint, io, (client) =>
        runMsg(client, safeHome(io.env), command, { stdin: process.stdin, write }),
      );
      io.stdout.write(printed);
      return;
    }
    case 'trace':
      io.stdout.write(formatTraceTree(await fetchTrace(command.jaeger, command.id)));
      return;
  }
}
