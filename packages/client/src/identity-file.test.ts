import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity, toHex } from '@safe/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IdentityFileError, identityPath, loadIdentity, loadOrCreateIdentity, safeHome } from './identity-file.js';

describe('the identity file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safe-identity-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('SAFE_HOME chooses the folder, ~/.safe otherwise', () => {
    expect(safeHome({ SAFE_HOME: dir })).toBe(dir);
    expect(safeHome({})).toMatch(/[/\\]\.safe$/);
  });

  it('is created on first use as a PKCS#8 PEM file with mode 0600, and reused after', async () => {
    const home = join(dir, 'nested', 'home');
    const first = await loadOrCreateIdentity(home);
    expect(first.created).toBe(true);
    expect(first.path).toBe(identityPath(home));
    const text = await readFile(first.path, 'utf8');
    expect(text).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    if (process.platform !== 'win32') {
      expect((await stat(first.path)).mode & 0o777).toBe(0o600);
      expect((await stat(home)).mode & 0o077).toBe(0);
    }
    const second = await loadOrCreateIdentity(home);
    expect(second.created).toBe(false);
    expect(toHex(second.identity.name)).toBe(toHex(first.identity.name));
    expect(await readFile(first.path, 'utf8')).toBe(text);
  });

  it('two processes racing end with the same identity', async () => {
    const [a, b] = await Promise.all([loadOrCreateIdentity(dir), loadOrCreateIdentity(dir)]);
    expect(toHex(a.identity.name)).toBe(toHex(b.identity.name));
  });

  it('reads a raw DER PKCS#8 key too', async () => {
    const identity = generateIdentity();
    await writeFile(identityPath(dir), identity.exportPrivateKey(), { mode: 0o600 });
    expect(toHex((await loadOrCreateIdentity(dir)).identity.name)).toBe(toHex(identity.name));
  });

  it('a corrupt file is a clear error and is left alone', async () => {
    await writeFile(identityPath(dir), 'this is not a key\n', { mode: 0o600 });
    const error = await loadOrCreateIdentity(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdentityFileError);
    expect((error as Error).message).toBe(
      `the identity file ${identityPath(dir)} is corrupt: it holds no PKCS#8 Ed25519 private key (move it away to make a new identity, which starts a new account)`,
    );
    expect(await readFile(identityPath(dir), 'utf8')).toBe('this is not a key\n');
  });

  it('a truncated PEM is corrupt too', async () => {
    const { path } = await loadOrCreateIdentity(dir);
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.slice(0, 50));
    await expect(loadIdentity(path)).rejects.toThrow(/is corrupt/);
  });

  it('a path that cannot be read as a file is a clear error', async () => {
    await mkdir(identityPath(dir));
    await expect(loadOrCreateIdentity(dir)).rejects.toThrow(`cannot read the identity file ${identityPath(dir)}:`);
  });

  it.skipIf(process.platform === 'win32' || process.getuid?.() === 0)('an unreadable file is a clear error', async () => {
    const { path } = await loadOrCreateIdentity(dir);
    await chmod(path, 0o000);
    await expect(loadOrCreateIdentity(dir)).rejects.toThrow(`cannot read the identity file ${path}: permission denied`);
  });
});
