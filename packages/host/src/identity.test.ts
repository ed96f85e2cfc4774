import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, toHex } from '@safe/core';
import { afterEach, describe, expect, it } from 'vitest';
import { KEY_FILE, LOCK_FILE, loadOrCreateIdentity, lockReplicaDataDir } from './identity.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'safe-host-identity-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('the replica key in its data directory', () => {
  it('is created private on the first start and read again on a restart: the name stays', async () => {
    const dataDir = join(await tempDir(), 'volume');
    const first = await loadOrCreateIdentity(dataDir);
    expect(first.created).toBe(true);
    expect(first.file).toBe(join(dataDir, KEY_FILE));
    expect((await stat(first.file)).mode & 0o777).toBe(0o600);
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    const again = await loadOrCreateIdentity(dataDir);
    expect(again.created).toBe(false);
    expect(toHex(again.identity.name)).toBe(toHex(first.identity.name));
    expect(toHex(again.identity.publicKey)).toBe(toHex(first.identity.publicKey));
  });

  it('makes a key readable by others private again', async () => {
    const dataDir = await tempDir();
    const { file } = await loadOrCreateIdentity(dataDir);
    await chmod(file, 0o644);
    await loadOrCreateIdentity(dataDir);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('refuses a key file that is not a key, and leaves it as it is', async () => {
    const dataDir = await tempDir();
    await writeFile(join(dataDir, KEY_FILE), 'not a key');
    await expect(loadOrCreateIdentity(dataDir)).rejects.toBeInstanceOf(ConfigError);
    expect(await readFile(join(dataDir, KEY_FILE), 'utf8')).toBe('not a key');
  });
});

describe('lockReplicaDataDir', () => {
  it('lets one process at a time use a data directory, and takes over a lock left by a dead one', async () => {
    const dataDir = await tempDir();
    await writeFile(join(dataDir, LOCK_FILE), `${process.ppid}\n`);
    await expect(lockReplicaDataDir(dataDir)).rejects.toThrow(/in use by another replica/);
    await writeFile(join(dataDir, LOCK_FILE), '2147483646\n');
    const release = await lockReplicaDataDir(dataDir);
    expect((await readFile(join(dataDir, LOCK_FILE), 'utf8')).trim()).toBe(String(process.pid));
    await release();
    await expect(stat(join(dataDir, LOCK_FILE))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
