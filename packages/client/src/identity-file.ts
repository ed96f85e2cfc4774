import { createPrivateKey } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateIdentity, type Identity, importIdentity, SafeError } from '@safe/core';

/** The file under SAFE_HOME that holds the client's MAID key: PKCS#8, PEM ("PRIVATE KEY"). */
export const IDENTITY_FILE = 'identity.key';

/** The identity file cannot be read or holds no usable key. */
export class IdentityFileError extends SafeError {
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('failed-precondition', message, options);
    this.path = path;
  }
}

/** SAFE_HOME, or ~/.safe. */
export function safeHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.SAFE_HOME;
  return fromEnv ? resolve(fromEnv) : join(homedir(), '.safe');
}

export function identityPath(home = safeHome()): string {
  return join(home, IDENTITY_FILE);
}

function toPem(pkcs8: Uint8Array): string {
  const base64 = Buffer.from(pkcs8).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

/** Reads the identity at `path`; an IdentityFileError says what is wrong. */
export async function loadIdentity(path: string): Promise<Identity> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (error as Error).message;
    throw new IdentityFileError(path, `cannot read the identity file ${path}: ${why}`, { cause: error });
  }
  try {
    const text = bytes.toString('latin1');
    const der = text.includes('-----BEGIN')
      ? createPrivateKey({ key: text, format: 'pem' }).export({ format: 'der', type: 'pkcs8' })
      : bytes;
    return importIdentity(new Uint8Array(der));
  } catch (cause) {
    throw new IdentityFileError(
      path,
      `the identity file ${path} is corrupt: it holds no PKCS#8 Ed25519 private key (move it away to make a new identity, which starts a new account)`,
      { cause },
    );
  }
}

/**
 * The client's identity from `$SAFE_HOME/identity.key`; on first use a new one is made and written
 * there with mode 0600 (the folder 0700). Two processes racing to create it end with the same key.
 */
export async function loadOrCreateIdentity(home = safeHome()): Promise<{ identity: Identity; path: string; created: boolean }> {
  const path = identityPath(home);
  try {
    return { identity: await loadIdentity(path), path, created: false };
  } catch (error) {
    if (!(error instanceof IdentityFileError) || (error.cause as NodeJS.ErrnoException | undefined)?.code !== 'ENOENT') throw error;
  }
  const identity = generateIdentity();
  try {
    await mkdir(home, { recursive: true, mode: 0o700 });
    await writeFile(path, toPem(identity.exportPrivateKey()), { mode: 0o600, flag: 'wx' });
    await chmod(path, 0o600); // the umask may have narrowed the mode, never widened it; make it exact
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return { identity: await loadIdentity(path), path, created: false };
    throw new IdentityFileError(path, `cannot create the identity file ${path}: ${(error as Error).message}`, { cause: error });
  }
  return { identity, path, created: true };
}
