import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EmbeddedTestnet, startEmbeddedTestnet } from '@safe/testnet';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { runSafe } from '../support/safe-cli.js';
import { versionCliScenario } from '../support/version-cli-suite.js';

let testnet: EmbeddedTestnet;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safe-version-e2e-'));
  testnet = await startEmbeddedTestnet({ dataDir: join(dir, 'testnet'), fresh: true, port: 0 });
}, 120_000);

afterAll(async () => {
  await testnet?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('safe version on the embedded testnet', () => {
  it('puts, forks, lists, logs, fetches and removes versions of a KEY; refuses clearly', async () => {
    await versionCliScenario((...args) => runSafe(join(dir, 'home'), testnet.endpoint, args), dir, 'notes');
  });
});
