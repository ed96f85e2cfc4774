import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@safe/core';
import type { DataManagerState } from '@safe/data-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedTestnet, startEmbeddedTestnet } from './embedded.js';

/** Keeps the `farming rate` log lines of the testnet: what `pnpm testnet` prints. */
function recordingLogger(lines: { rate: unknown }[]): Logger {
  const logger: Logger = {
    debug() {},
    info(obj, msg) {
      if (msg === 'farming rate') lines.push(obj as { rate: unknown });
    },
    warn() {},
    error() {},
    child: () => logger,
  };
  return logger;
}

describe('the embedded testnet shows the DataManagers’ farming rate', () => {
  let dataDir: string;
  let testnet: EmbeddedTestnet | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'safe-testnet-farming-'));
  });
  afterAll(async () => {
    await testnet?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('the median of the group values, logged as `farming rate` when it changes', { timeout: 60_000 }, async () => {
    const lines: { rate: unknown }[] = [];
    testnet = await startEmbeddedTestnet({
      maidManagers: 4,
      dataManagers: 5,
      pmidManagers: 4,
      pmidNodes: 4,
      tickMs: 50,
      farmingRefreshMs: 200,
      port: 0,
      dataDir,
      fresh: true,
      logger: recordingLogger(lines),
    });
    expect(testnet.farmingRate()).toBe(1);
    expect(lines).toEqual([{ rate: 1 }]);

    // Sacrificial copies move each DataManager's own rate (linear: +1 each): 2, 4, 6, 8, 10.
    const dataManagers = testnet.replicas.get('data-manager') ?? [];
    for (const [i, replica] of dataManagers.entries()) {
      const { store, config } = replica.state as DataManagerState;
      for (let n = 0; n < 2 * i + 1; n++) await store.recordSacrificial(config.farmingPolicy, 'stored');
    }
    // K + 1 DataManagers are each other's close peers: once the refreshes went round, every group value is 6.
    const deadline = Date.now() + 20_000;
    while (testnet.farmingRate() !== 6 || lines.at(-1)?.rate !== 6) {
      if (Date.now() > deadline) throw new Error(`farming rate still ${testnet.farmingRate()}, logged ${JSON.stringify(lines)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(lines.at(-1)).toEqual({ rate: 6 });
  });
});
