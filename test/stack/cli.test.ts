import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processAlive } from '@safe/core';
import { loadStackEnv } from '@safe/testnet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { footprintOf, purgeTestnet } from '../support/stack-cleanup.js';

/**
 * `safe-testnet --stack local` as a user runs it (`pnpm testnet --stack local`), and the `safe`
 * CLI, unchanged, against the endpoint it prints; Ctrl-C stops every replica process and exits 0.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const TESTNET = join(ROOT, 'packages', 'testnet', 'dist', 'main.js');
const CLI = join(ROOT, 'packages', 'client', 'dist', 'cli.js');
let dir: string;
let network: string | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safe-stack-cli-'));
});

afterAll(async () => {
  if (network !== undefined) await purgeTestnet(await loadStackEnv(), await footprintOf(join(dir, 'testnet'), network));
  // SAFE_KEEP_TESTNET_DIR=1 keeps every replica's log for a post-mortem.
  if (process.env.SAFE_KEEP_TESTNET_DIR === '1') console.log(`testnet data dir kept: ${dir}`);
  else await rm(dir, { recursive: true, force: true });
});

function safe(endpoint: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, SAFE_HOME: join(dir, 'home'), SAFE_ENDPOINT: endpoint }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        console.log(
          `safe ${args[0]}: exit ${error ? error.code : 0} after ${((Date.now() - started) / 1000).toFixed(1)} s ${stderr.trim()}`,
        );
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** The pid each replica logged (every JSON line of the host's logger carries it). */
async function replicaPids(dataDir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const file of await readdir(join(dataDir, 'logs'))) {
    const match = /"pid":(\d+)/.exec(await readFile(join(dataDir, 'logs', file), 'utf8'));
    if (match) pids.push(Number(match[1]));
  }
  return pids;
}

describe('safe-testnet --stack local', () => {
  it('prints its endpoint, serves the safe CLI, and stops every replica on Ctrl-C with exit code 0', async () => {
    const dataDir = join(dir, 'testnet');
    const child = spawn(process.execPath, [TESTNET, '--stack', 'local', '--data-dir', dataDir, '--fresh', '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SAFE_TESTNET_CALL_TIMEOUT_MS: '120000' },
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? `${signal}`)));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('testnet ready:')) resolve();
        });
        void exited.then((code) => reject(new Error(`exited ${code}: ${out}${err}`)));
      });
      network = /network (testnet-[0-9a-f]{10})/.exec(out)?.[1];
      const endpoint = /^endpoint: (127\.0\.0\.1:\d+)$/m.exec(out)?.[1] ?? '';
      expect(endpoint).not.toBe('');
      expect(out).toMatch(
        /^testnet ready: 6 maid-manager, 6 data-manager, 6 version-manager, 6 mpid-manager, 6 pmid-manager, 8 pmid-node \(K=4\), one process each, network testnet-[0-9a-f]{10}, data in /m,
      );
      const pids = await replicaPids(dataDir);
      expect(pids).toHaveLength(6 + 6 + 6 + 6 + 6 + 8); // one process per replica, as the summary counts them
      expect(pids.every(processAlive)).toBe(true);

      const content = randomBytes(2.5 * 1024 * 1024);
      await writeFile(join(dir, 'in.bin'), content);
      const put = await safe(endpoint, 'put', join(dir, 'in.bin'));
      expect(put.code, put.stderr).toBe(0);
      const name = put.stdout.trim().split('\n').at(-1) ?? '';
      expect(name).toMatch(/^[0-9a-f]{128}$/);
      const get = await safe(endpoint, 'get', name, '-o', join(dir, 'out.bin'));
      expect(get.code, get.stderr).toBe(0);
      expect((await readFile(join(dir, 'out.bin'))).equals(content)).toBe(true);
      const account = await safe(endpoint, 'account');
      expect(account.code, account.stderr).toBe(0);
      const removed = await safe(endpoint, 'rm', name);
      expect(removed.code, removed.stderr).toBe(0);

      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(out).toContain('testnet stopped');
      expect(pids.filter(processAlive)).toEqual([]);
      expect(await readdir(dataDir)).not.toContain('testnet.pid');
      // Each replica went through its own graceful shutdown.
      for (const file of await readdir(join(dataDir, 'logs'))) {
        expect(await readFile(join(dataDir, 'logs', file), 'utf8'), file).toMatch(/"signal":"SIGTERM"/);
      }
    } finally {
      child.kill('SIGKILL');
    }
  });
});
