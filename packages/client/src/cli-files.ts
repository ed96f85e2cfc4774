import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { type FileHandle, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { finished } from 'node:stream/promises';
import { toHex } from '@safe/core';
import { type CliIo, withClient } from './cli-client.js';
import { CliError, EXIT } from './cli-errors.js';
import type { Command } from './cli-parse.js';
import { formatBytes, progressBar } from './cli-progress.js';
import { getFile, putFile, removeFile, statLocalFile } from './files.js';
import { annotateActiveSpan } from './tracing.js';

/** `safe put`, `safe get` and `safe rm`: files between the local disk and the network. */
export async function put(command: Extract<Command, { command: 'put' }>, io: CliIo): Promise<void> {
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

export async function get(command: Extract<Command, { command: 'get' }>, io: CliIo): Promise<void> {
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

export async function rm(command: Extract<Command, { command: 'rm' }>, io: CliIo): Promise<void> {
  await withClient(command.endpoint, io, async (client) => {
    const { chunks, held } = await removeFile(client, command.name);
    if (held === 0) {
      throw new CliError(EXIT.notFound, `your account holds none of the ${chunks} chunk(s) of ${toHex(command.name)}: nothing removed`);
    }
    const count = held < chunks ? `${held} of ${chunks} chunk(s); the rest were not your account's` : `${chunks} chunk(s)`;
    io.stdout.write(`removed ${toHex(command.name)} (${count})\n`);
  });
}
