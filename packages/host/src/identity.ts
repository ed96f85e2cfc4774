import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError, generateIdentity, type Identity, importIdentity, UnavailableError } from '@safe/core';

/** The replica's key in its data directory: PKCS#8 DER of its Ed25519 key. */
export const KEY_FILE = 'node.key';

export interface LoadedIdentity {
  readonly identity: Identity;
  /** Absolute path of the key file. */
  readonly file: string;
  /** True when this start created the key (a new node); false when it was read (a restart keeps its name). */
  readonly created: boolean;
}

/**
 * The replica's identity from `<dataDir>/node.key`, created (mode 0600, directory 0700) on the
 * first start. A restart reads the same key, so the replica keeps its name, its schema, its Redis
 * prefix and its chunks. A key file that exists but does not parse is an error, never replaced.
 */
export async function loadOrCreateIdentity(dataDir: string): Promise<LoadedIdentity> {
  const dir = resolve(dataDir);
  const file = join(dir, KEY_FILE);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new UnavailableError(`data dir ${dir} is unusable: ${(error as Error).message}`, { cause: error });
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    let bytes: Uint8Array | undefined;
    try {
      bytes = await readFile(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new UnavailableError(`cannot read the key ${file}: ${(error as Error).message}`, { cause: error });
      }
    }
    if (bytes !== undefined) {
      let identity: Identity;
      try {
        identity = importIdentity(bytes);
      } catch (error) {
        throw new ConfigError(`the key ${file} is not a PKCS#8 Ed25519 key; move it away to start as a new node`, { cause: error });
      }
      // A key readable by others is made private again (it is this node's whole identity).
      const mode = (await stat(file)).mode & 0o777;
      if ((mode & 0o077) !== 0) await chmod(file, 0o600);
      return { identity, file, created: false };
    }
    const identity = generateIdentity();
    try {
      await writeFile(file, identity.exportPrivateKey(), { mode: 0o600, flag: 'wx' });
      return { identity, file, created: true };
    } catch (error) {
      // Another process created it between our read and write: read theirs.
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw new UnavailableError(`cannot write the key ${file}: ${(error as Error).message}`, { cause: error });
    }
  }
  throw new UnavailableError(`cannot create the key ${file}`);
}

/** The lock file of a running replica in its data directory. */
export const LOCK_FILE = 'replica.pid';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One process per data directory: two processes with one key would be two nodes claiming one
 * name. A lock left by a process that is gone (or by this very pid: a container restarted as pid
 * 1) is taken over. Returns the function that releases it.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const dir = resolve(dataDir);
  const file = join(dir, LOCK_FILE);
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
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
      throw new UnavailableError(`data dir ${resolve(dataDir)} is in use by another replica (pid ${holder})`);
    }
    await rm(file, { force: true });
  }
  throw new UnavailableError(`cannot take the lock ${file}`);
}
