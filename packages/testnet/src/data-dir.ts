import { mkdir, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ConfigError, lockDataDir, SafeError, UnavailableError } from '@safe/core';
import { formatEndpoint } from '@safe/grpc';
import { describeError } from '@safe/sql';

/** The lock file of a running testnet in its data directory. */
export const LOCK_FILE = 'testnet.pid';

export interface DataDirLayout {
  /** What this kind of testnet keeps in its data dir: `fresh` deletes these and refuses anything else. */
  readonly entries: readonly string[];
  /** Its name in the error when `fresh` finds foreign files ("testnet", "multi-process testnet"). */
  readonly kind: string;
}

/**
 * Creates and locks the data dir (one testnet per dir: two would run the same identities twice)
 * and, when `fresh`, deletes what a previous run of this kind of testnet left there, after
 * `beforeFresh` had its chance to clean up what the old files point to. Returns the unlock.
 */
export async function prepareDataDir(
  dataDir: string,
  layout: DataDirLayout,
  fresh: boolean,
  beforeFresh: () => Promise<void> = async () => {},
): Promise<() => Promise<void>> {
  let unlock: (() => Promise<void>) | undefined;
  try {
    await mkdir(dataDir, { recursive: true });
    unlock = await lockDataDir(dataDir, LOCK_FILE, 'testnet');
    if (fresh) {
      const foreign = (await readdir(dataDir)).filter((entry) => !layout.entries.includes(entry) && entry !== LOCK_FILE);
      if (foreign.length > 0) {
        throw new ConfigError(
          `data dir ${dataDir} holds ${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''}, which is not a ${layout.kind}'s: --fresh deletes only a ${layout.kind} data dir`,
        );
      }
      await beforeFresh();
      for (const entry of layout.entries) await rm(join(dataDir, entry), { recursive: true, force: true });
    }
    return unlock;
  } catch (error) {
    await unlock?.();
    if (error instanceof SafeError) throw error;
    throw new UnavailableError(`data dir ${dataDir} is unusable: ${describeError(error)}`, { cause: error });
  }
}

/**
 * Fails fast, before anything starts, when the Gateway's fixed port is taken (the CLI default
 * 50051, say, by another testnet). The real bind comes later and reports the same way should the
 * port be taken in between. Port 0 (any free one) is never taken.
 */
export async function checkPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const where = formatEndpoint(host, port);
  await new Promise<void>((done, fail) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE')
        fail(new UnavailableError(`cannot listen on ${where}: the port is already in use`, { cause: error }));
      else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND' || error.code === 'EACCES') {
        fail(new UnavailableError(`cannot listen on ${where}: ${error.message}`, { cause: error }));
      } else done(); // let the real bind decide
    });
    probe.listen({ host: host.replace(/^\[|\]$/g, ''), port, exclusive: true }, () => probe.close(() => done()));
  });
}
