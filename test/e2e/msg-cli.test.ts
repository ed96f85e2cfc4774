import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EmbeddedTestnet, startEmbeddedTestnet } from '@safe/testnet';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { msgCliScenario } from '../support/msg-cli-suite.js';
import { runSafe } from '../support/safe-cli.js';

let testnet: EmbeddedTestnet;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safe-msg-e2e-'));
  testnet = await startEmbeddedTestnet({ dataDir: join(dir, 'testnet'), fresh: true, port: 0 });
}, 120_000);

afterAll(async () => {
  await testnet?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('safe mpid and safe msg on the embedded testnet', () => {
  it('registers public ids, holds messages for an offline recipient, prints each once, and applies lists', async () => {
    await msgCliScenario((home, ...args) => runSafe(home, testnet.endpoint, args), dir, '');
  }, 180_000);
});
