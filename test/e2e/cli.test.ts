import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EmbeddedTestnet, startEmbeddedTestnet } from '@safe/testnet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSafe } from '../support/safe-cli.js';

/** The `safe` CLI as a user runs it, against the embedded testnet. */
let testnet: EmbeddedTestnet;
let dir: string;

const safe = (...args: string[]) => runSafe(join(dir, 'home'), testnet.endpoint, args);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safe-cli-e2e-'));
  testnet = await startEmbeddedTestnet({ dataDir: join(dir, 'testnet'), fresh: true, port: 0 });
}, 120_000);

afterAll(async () => {
  await testnet?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('safe put / get / rm / account', () => {
  it('stores a file, prints its name last, fetches it byte-identical, removes it', async () => {
    const content = randomBytes(2.5 * 1024 * 1024);
    await writeFile(join(dir, 'in.bin'), content);

    const put = await safe('put', join(dir, 'in.bin'));
    expect(put.code, put.stderr).toBe(0);
    const name = put.stdout.trim().split('\n').at(-1) ?? '';
    expect(name).toMatch(/^[0-9a-f]{128}$/);

    const get = await safe('get', name, '-o', join(dir, 'out.bin'));
    expect(get.code, get.stderr).toBe(0);
    expect((await readFile(join(dir, 'out.bin'))).equals(content)).toBe(true);

    const account = await safe('account');
    expect(account.code, account.stderr).toBe(0);
    expect(account.stdout).toMatch(/stored/i);

    expect((await safe('rm', name)).code).toBe(0);
    const gone = await safe('get', name, '-o', join(dir, 'gone.bin'));
    expect(gone.code).toBe(3);
    expect(gone.stderr.trim().split('\n')).toHaveLength(1);
    expect(gone.stderr).toMatch(/not found/);
  });

  it('rejects an invalid name before calling the network', async () => {
    const result = await safe('get', 'not-a-name');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/invalid name/);
  });
});
