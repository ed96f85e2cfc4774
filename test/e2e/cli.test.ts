import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafeClient } from '@safe/client';
import { generateIdentity } from '@safe/core';
import { type EmbeddedTestnet, startEmbeddedTestnet } from '@safe/testnet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSafe, SAFE_CLI } from '../support/safe-cli.js';

/** The `safe` CLI as a user runs it, against the embedded testnet. */
let testnet: EmbeddedTestnet;
let dir: string;

const safe = (...args: string[]) => runSafe(join(dir, 'home'), testnet.endpoint, args);
/** The CLI with the identity kept in `home` (another home: another account). */
const safeAs = (home: string, ...args: string[]) => runSafe(join(dir, home), testnet.endpoint, args);

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

  it("safe rm of another account's file removes nothing and says so; the owner's file still reads back", async () => {
    const content = randomBytes(1.5 * 1024 * 1024);
    await writeFile(join(dir, 'theirs.bin'), content);
    const put = await safeAs('owner', 'put', join(dir, 'theirs.bin'));
    expect(put.code, put.stderr).toBe(0);
    const name = put.stdout.trim().split('\n').at(-1) ?? '';
    const rm = await safe('rm', name);
    expect(rm.code).toBe(3);
    expect(rm.stdout).toBe('');
    expect(rm.stderr).toBe(`safe: your account holds none of the 3 chunk(s) of ${name}: nothing removed\n`);
    const back = await safeAs('owner', 'get', name, '-o', join(dir, 'theirs-back.bin'));
    expect(back.code, back.stderr).toBe(0);
    expect((await readFile(join(dir, 'theirs-back.bin'))).equals(content)).toBe(true);
    const own = await safeAs('owner', 'rm', name);
    expect(own.code, own.stderr).toBe(0);
    expect(own.stdout).toBe(`removed ${name} (3 chunk(s))\n`);
  });

  it('safe get NAME | head -c1: the reader leaving early is not an error', async () => {
    await writeFile(join(dir, 'piped.bin'), randomBytes(3 * 1024 * 1024));
    const put = await safe('put', join(dir, 'piped.bin'));
    const name = put.stdout.trim().split('\n').at(-1) ?? '';
    const piped = await new Promise<{ code: number; stderr: string; first: number }>((resolve) => {
      execFile(
        'bash',
        ['-o', 'pipefail', '-c', `"${process.execPath}" "${SAFE_CLI}" get ${name} | head -c1 | wc -c`],
        { env: { ...process.env, SAFE_HOME: join(dir, 'home'), SAFE_ENDPOINT: testnet.endpoint } },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stderr, first: Number(stdout.trim()) }),
      );
    });
    expect(piped).toEqual({ code: 0, stderr: '', first: 1 });
  });

  it('an empty chunk is refused with a clear message; the network has none to store', async () => {
    const client = await SafeClient.connect({ endpoint: testnet.endpoint, identity: generateIdentity() });
    try {
      await expect(client.putChunk(new Uint8Array(0))).rejects.toMatchObject({ kind: 'invalid-argument', message: /at least one byte/ });
    } finally {
      client.close();
    }
  });

  it('Ctrl-C during a put gives back what it stored: the account is charged nothing, and putting the file again is charged once', async () => {
    const home = 'interrupted';
    // Large enough that the put is still running when the account first shows a charge.
    const content = randomBytes(40 * 1024 * 1024);
    const file = join(dir, 'interrupted.bin');
    await writeFile(file, content);
    const stored = async () => Number(/stored .*\((\d+) bytes\)/.exec((await safeAs(home, 'account')).stdout)?.[1] ?? Number.NaN);
    const running = spawn(process.execPath, [SAFE_CLI, 'put', file], {
      env: { ...process.env, SAFE_HOME: join(dir, home), SAFE_ENDPOINT: testnet.endpoint },
    });
    let stderr = '';
    running.stderr.on('data', (piece) => {
      stderr += piece;
    });
    const exited = new Promise<number | null>((done) => running.on('exit', (code) => done(code)));
    // Interrupted once the network has charged some of it (the account exists once the first chunk is on its way).
    let before = Number.NaN;
    while (!(before > 0)) before = await stored();
    running.kill('SIGINT');
    expect(await exited, stderr).toBe(130);
    expect(stderr).toMatch(/interrupted: .* not stored; nothing of it is charged/);
    expect(await stored()).toBe(0);

    const again = await safeAs(home, 'put', file);
    expect(again.code, again.stderr).toBe(0);
    const name = again.stdout.trim().split('\n').at(-1) ?? '';
    const charged = await stored();
    // The content once, plus its data map: not a byte of the interrupted put.
    expect(charged).toBeGreaterThanOrEqual(content.length);
    expect(charged).toBeLessThan(content.length + 64 * 1024);
    expect((await safeAs(home, 'rm', name)).code).toBe(0);
    expect(await stored()).toBe(0);
  }, 300_000);

  it('rejects an invalid name before calling the network', async () => {
    const result = await safe('get', 'not-a-name');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/invalid name/);
  });
});
