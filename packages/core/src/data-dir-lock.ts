import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UnavailableError } from './errors.js';

/** Whether a process with this pid exists (EPERM: it exists but is not ours to signal). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One process per data directory: two processes on one directory would be one identity (or one
 * PGlite cluster) used twice. The lock file holds the owner's pid; a lock left by a process that
 * is gone is taken over, and so is one holding this very pid when `ownPidIsStale` (a container
 * restarted as pid 1 finds its previous life's lock). `owner` names what holds such a directory in
 * the error ("replica", "testnet"). Returns the function that releases it.
 */
export async function lockDataDir(
  dataDir: string,
  lockFile: string,
  owner: string,
  { ownPidIsStale = false }: { readonly ownPidIsStale?: boolean } = {},
): Promise<() => Promise<void>> {
  const dir = resolve(dataDir);
  const file = join(dir, lockFile);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new UnavailableError(`data dir ${dir} is unusable: ${(error as Error).message}`, { cause: error });
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return async () => {
        const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
        if (holder === process.pid) await rm(file, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new UnavailableError(`cannot write ${file}: ${(error as Error).message}`, { cause: error });
      }
    }
    const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(holder) && holder > 0 && !(ownPidIsStale && holder === process.pid) && processAlive(holder)) {
      throw new UnavailableError(`data dir ${dir} is in use by another ${owner} (pid ${holder})`);
    }
    await rm(file, { force: true });
  }
  throw new UnavailableError(`cannot take the lock ${file}`);
}
