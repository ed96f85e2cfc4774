import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { type FileHandle, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { ContentMismatchError, type Name, SafeError, toHex } from '@safe/core';
import { CliError, EXIT, parseName, usage } from './cli-errors.js';
import { MSG_USAGE, type MsgCommand, parseMsgCommand, runMsg } from './cli-msg.js';
import { formatBytes, MIB, progressBar } from './cli-progress.js';
import { commandTrace } from './cli-trace.js';
import { parseVersionCommand, runVersion, VERSION_USAGE, type VersionCommand, versionToGet } from './cli-version.js';
import { SafeClient } from './client.js';
import { getFile, NotAFileError, putFile, removeFile, statLocalFile } from './files.js';
import { IdentityFileError, loadOrCreateIdentity, safeHome } from './identity-file.js';
import { fetchTrace, formatTraceTree, parseTraceId } from './jaeger.js';
import { annotateActiveSpan } from './tracing.js';

export { CliError, EXIT } from './cli-errors.js';
export { formatBytes } from './cli-progress.js';

export const DEFAULT_ENDPOINT = '127.0.0.1:50051';
/** Jaeger's query API where `pnpm stack up --jaeger` starts it. */
export const DEFAULT_JAEGER_URL = 'http://127.0.0.1:16686';

export const USAGE = `usage: safe [--endpoint HOST:PORT] [--trace] COMMAND

Stores and fetches files on a SAFE network through its gRPC Gateway.

commands:
  put FILE             store FILE; prints the file's name (128 hex characters) as the last line
  get NAME [-o OUT]    fetch the file NAME to OUT (written whole or not at all), or to stdout;
                       an existing OUT is kept unless --force
  rm NAME              remove the file NAME (its chunks and data map) from your account;
                       exits 3 if your account holds none of it (another account's file)
  account              show your account: stored, available, registered vaults, chunks
  info                 show the network: close group size, chunk size, personas
  trace ID             print trace ID (as --trace prints it) from Jaeger as a tree: service,
                       operation, duration of each span
${VERSION_USAGE}${MSG_USAGE}options:
  --endpoint HOST:PORT the Gateway (default: $SAFE_ENDPOINT, else ${DEFAULT_ENDPOINT})
  --trace              run the command as one trace and print its id on stderr ("trace: ID")
  -o, --output OUT     (get, version get) where to write the file; "-" is stdout
  -f, --force          (get, version get) replace OUT if it exists (a regular file only)
  --parent ID          (version put) the version the new one follows
  --max-versions N     (version put, new KEY) versions kept, oldest out (default 100, 1..256)
  --max-branches N     (version put, new KEY) tips allowed at once (default 10, 1..32)
  -h, --help           show this help

environment:
  SAFE_ENDPOINT        the Gateway, HOST:PORT
  SAFE_HOME            where your identity lives (default ~/.safe); identity.key is made on first use
  OTEL_EXPORTER_OTLP_ENDPOINT  where the command's spans go (else SAFE_JAEGER_OTLP_ENDPOINT, as
                       \`pnpm stack env\` prints it); set, every command is traced, --trace or not
  SAFE_JAEGER_URL      Jaeger's query API (default for \`safe trace\`: ${DEFAULT_JAEGER_URL});
                       --trace also prints the trace's URL there

exit codes:
  0  success
  1  other error
  2  usage error or invalid argument (bad NAME, no such local file, bad endpoint)
  3  not found on the network
  4  network unavailable (cannot reach it, no agreed answer, timed out)
  5  out of space
  6  corrupt data (a fetched chunk does not match its name)
  7  over a limit of a versioned KEY (its maximum of branches)
  130  interrupted (Ctrl-C); an interrupted put first gives back what it stored, so
       putting the file again is not charged twice (Ctrl-C twice: quit at once)
`;

export type Command =
  | { readonly command: 'help' }
  | { readonly command: 'put'; readonly endpoint: string; readonly file: string }
  | {
      readonly command: 'get';
      readonly endpoint: string;
      readonly name: Name;
      readonly output: string | undefined;
      readonly force: boolean;
    }
  | { readonly command: 'rm'; readonly endpoint: string; readonly name: Name }
  | { readonly command: 'account'; readonly endpoint: string }
  | { readonly command: 'info'; readonly endpoint: string }
  | { readonly command: 'trace'; readonly id: string; readonly jaeger: string }
  | VersionCommand
  | MsgCommand;

/** HOST:PORT (HOST may be [IPv6]); throws a usage CliError otherwise. */
export function parseEndpoint(text: string): string {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[2]);
  if (match === null || port < 1 || port > 65535)
    throw new CliError(EXIT.usage, `invalid endpoint ${JSON.stringify(text)}: expected HOST:PORT`);
  return text.trim();
}

/** Parses the command line; validates everything that can be checked without the network. */
export function parseCommand(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Command {
  return parseCommandLine(argv, env).command;
}

/** The command and the options every command takes (--trace). */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv = {}): { command: Command; trace: boolean } {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    const message = error instanceof Error ? (error.message.split(/\.(?:\s|$)/)[0] ?? '') : '';
    throw usage(message.replace(/^Unknown/, 'unknown').replace(/^Option/, 'option') || 'bad arguments');
  }
  return { command: commandOf(parsed.values, parsed.positionals, env), trace: parsed.values.trace ?? false };
}

function commandOf(values: ParsedValues, positionals: string[], env: NodeJS.ProcessEnv): Command {
  if (values.help || positionals[0] === 'help') return { command: 'help' };
  const [command, ...args] = positionals;
  if (command === undefined) throw usage('missing command');
  const endpoint = parseEndpoint(values.endpoint ?? (env.SAFE_ENDPOINT || DEFAULT_ENDPOINT));
  if (values.output !== undefined && command !== 'get' && command !== 'version') throw usage(`-o is an option of get, not of ${command}`);
  if (values.force && command !== 'get' && command !== 'version') throw usage(`--force is an option of get, not of ${command}`);
  if (command !== 'msg' && command !== 'mpid' && (values.from !== undefined || values.once)) {
    throw usage(`--${values.once ? 'once' : 'from'} is an option of msg, not of ${command}`);
  }
  if (command !== 'version') {
    for (const flag of ['parent', 'max-versions', 'max-branches'] as const)
      if (values[flag] !== undefined) throw usage(`--${flag} is an option of version put, not of ${command}`);
  }
  const expect = (count: number, what: string) => {
    if (args.length < count) throw usage(`${command}: missing ${what}`);
    if (args.length > count) throw usage(`${command}: unexpected argument ${JSON.stringify(args[count])}`);
  };
  switch (command) {
    case 'put':
      expect(1, 'FILE');
      return { command, endpoint, file: args[0] as string };
    case 'get':
      expect(1, 'NAME');
      if (values.output === '') throw usage('get: -o needs a path');
      return { command, endpoint, name: parseName(args[0] as string), output: values.output, force: values.force ?? false };
    case 'rm':
      expect(1, 'NAME');
      return { command, endpoint, name: parseName(args[0] as string) };
    case 'account':
    case 'info':
      expect(0, '');
      return { command, endpoint };
    case 'version':
      return parseVersionCommand(args, values, endpoint);
    case 'mpid':
    case 'msg':
      return parseMsgCommand(command, args, values, endpoint);
    case 'trace': {
      expect(1, 'ID');
      let id: string;
      try {
        id = parseTraceId(args[0] as string);
      } catch (error) {
        throw usage((error as Error).message);
      }
      return { command, id, jaeger: env.SAFE_JAEGER_URL || DEFAULT_JAEGER_URL };
    }
    default:
      throw usage(`unknown command ${JSON.stringify(command)}`);
  }
}

const OPTIONS = {
  endpoint: { type: 'string' },
  output: { type: 'string', short: 'o' },
  force: { type: 'boolean', short: 'f' },
  parent: { type: 'string' },
  'max-versions': { type: 'string' },
  'max-branches': { type: 'string' },
  from: { type: 'string' },
  once: { type: 'boolean' },
  trace: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type ParsedValues = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>['values'];

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

export interface CliIo {
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
}

async function connect(endpoint: string, io: CliIo): Promise<SafeClient> {
  const { identity } = await loadOrCreateIdentity(safeHome(io.env));
  return SafeClient.connect({ endpoint, identity });
}

async function withClient<T>(endpoint: string, io: CliIo, use: (client: SafeClient) => Promise<T>): Promise<T> {
  const client = await connect(endpoint, io);
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

async function put(command: Extract<Command, { command: 'put' }>, io: CliIo): Promise<void> {
  try {
    await statLocalFile(command.file);
  } catch (error) {
    throw new CliError(EXIT.usage, error instanceof Error ? error.message : String(error));
  }
  // Ctrl-C stops the put and gives back the chunks it stored; a second one quits at once.
  const interrupt = new AbortController();
  const onSignal = () => {
    if (interrupt.signal.aborted) process.exit(EXIT.interrupted);
    io.stderr.write('\ninterrupted: giving back the chunks this put stored (Ctrl-C again to quit now)\n');
    interrupt.abort(new CliError(EXIT.interrupted, `interrupted: ${command.file} not stored; nothing of it is charged`));
  };
  process.on('SIGINT', onSignal);
  try {
    await withClient(command.endpoint, io, async (client) => {
      await client.ensureReady();
      const bar = progressBar(io, 'put');
      let stored: Awaited<ReturnType<typeof putFile>>;
      try {
        stored = await putFile(client, command.file, { onProgress: bar.update, signal: interrupt.signal });
      } finally {
        bar.clear();
      }
      annotateActiveSpan({ 'safe.file.size': stored.size, 'safe.file.chunks': stored.chunks, 'safe.file.name': toHex(stored.name) });
      if (io.stderr.isTTY) io.stderr.write(`stored ${command.file}: ${formatBytes(stored.size)} in ${stored.chunks} chunk(s)\n`);
      io.stdout.write(`${toHex(stored.name)}\n`);
    });
  } finally {
    process.removeListener('SIGINT', onSignal);
  }
}

async function get(command: Extract<Command, { command: 'get' }>, io: CliIo): Promise<void> {
  const toStdout = command.output === undefined || command.output === '-';
  if (toStdout) {
    try {
      await withClient(command.endpoint, io, async (client) => {
        await getFile(client, command.name, io.stdout);
      });
    } catch (error) {
      // The reader went away (`safe get NAME | head -c1`): it has what it wanted, as with cat.
      if (!isBrokenPipe(error)) throw error;
    }
    return;
  }
  const out = command.output as string;
  await checkOutput(out, command.force);
  // Written to a temporary file beside OUT and renamed once complete: a failed get leaves no half-written OUT.
  const temporary = join(dirname(out), `.${basename(out)}.${randomBytes(6).toString('hex')}.part`);
  let handle: FileHandle;
  try {
    handle = await open(temporary, 'wx', 0o644);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EROFS'
          ? 'read-only file system'
          : `cannot create a file in ${dirname(out)} (${code ?? (error as Error).message})`;
    throw new CliError(EXIT.usage, `cannot write ${out}: ${why}`);
  }
  const onSignal = () => {
    try {
      unlinkSync(temporary);
    } catch {}
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  const stream = handle.createWriteStream();
  let complete = false;
  try {
    const bar = progressBar(io, 'get');
    try {
      await withClient(command.endpoint, io, (client) => getFile(client, command.name, stream, { onProgress: bar.update }));
    } finally {
      bar.clear();
    }
    stream.end();
    await finished(stream);
    await rename(temporary, out);
    complete = true;
  } finally {
    process.removeListener('SIGINT', onSignal);
    if (!complete) {
      stream.destroy();
      await unlink(temporary).catch(() => {});
    }
  }
}

/**
 * Before any network call: OUT must be a file this get may write. An existing one is replaced
 * only with --force, and never a directory or anything but a regular file (cp and curl -o agree).
 */
async function checkOutput(out: string, force: boolean): Promise<void> {
  const existing = await stat(out).catch(() => undefined);
  if (existing?.isDirectory()) throw new CliError(EXIT.usage, `cannot write ${out}: it is a directory (name the file to write in it)`);
  if (existing !== undefined && !existing.isFile()) throw new CliError(EXIT.usage, `cannot write ${out}: not a regular file`);
  if (existing !== undefined && !force) throw new CliError(EXIT.usage, `${out} exists: add --force to replace it`);
  const parent = await stat(dirname(out)).catch(() => undefined);
  if (parent === undefined) throw new CliError(EXIT.usage, `cannot write ${out}: no such directory`);
  if (!parent.isDirectory()) throw new CliError(EXIT.usage, `cannot write ${out}: ${dirname(out)} is not a directory`);
}

function isBrokenPipe(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EPIPE') return true;
  }
  return false;
}

async function rm(command: Extract<Command, { command: 'rm' }>, io: CliIo): Promise<void> {
  await withClient(command.endpoint, io, async (client) => {
    const { chunks, held } = await removeFile(client, command.name);
    if (held === 0) {
      throw new CliError(EXIT.notFound, `your account holds none of the ${chunks} chunk(s) of ${toHex(command.name)}: nothing removed`);
    }
    const count = held < chunks ? `${held} of ${chunks} chunk(s); the rest were not your account's` : `${chunks} chunk(s)`;
    io.stdout.write(`removed ${toHex(command.name)} (${count})\n`);
  });
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
      io.stdout.write(USAGE);
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
