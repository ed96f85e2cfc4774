import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError, generateIdentity, type Identity, importIdentity, lockDataDir, UnavailableError } from '@safe/core';

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

/** One replica process per data directory (the lock holds its pid). */
export function lockReplicaDataDir(dataDir: string): Promise<() => Promise<void>> {
  return lockDataDir(dataDir, LOCK_FILE, 'replica', { ownPidIsStale: true });
}
