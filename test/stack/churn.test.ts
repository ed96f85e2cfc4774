import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { SafeClient } from '@safe/client';
import { generateIdentity, type Name, toHex } from '@safe/core';
import { describe, expect, it } from 'vitest';
import { CLIENT_TIMEOUT_MS, chunkFile, stackTestnetForFile } from '../support/stack-testnet.js';

/**
 * Churn on the real stack, the way Kubernetes causes it (issue 5): while Puts stream in, one of
 * the DataManager processes is killed with SIGKILL and never comes back, then a PmidNode holding
 * chunks; then the DataManagers are scaled up by two and down by two, like a StatefulSet. Every
 * acknowledged chunk must come back byte-identical and sit on its must-store count of live
 * PmidNodes again; how long that repair took is printed.
 */
const PUTS = 24;
const WORKERS = 2;
/** Primary and backup copies must be stored (SPEC.md 3.3); the sacrificial one is only attempted. */
const MUST_STORE_COPIES = [0, 1] as const;
const REPAIR_DEADLINE_MS = 300_000;

const stack = stackTestnetForFile();

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

describe('churn on the multi-process real stack', () => {
  it('a DataManager and a PmidNode killed for good, DataManagers scaled up and down: every acknowledged chunk survives with its must-store copies', {
    timeout: 1_200_000,
  }, async () => {
    const { testnet } = stack();
    const copiesPerGroup = testnet.config.copiesPerGroup;
    const dataManagers = testnet.config.dataManagers;
    const client = await SafeClient.connect({ endpoint: testnet.endpoint, identity: generateIdentity(), timeoutMs: CLIENT_TIMEOUT_MS });

    /** How many live PmidNodes hold the copy, by its files on their disks. */
    const liveHolders = async (name: Name, copy: number): Promise<number> => {
      let holders = 0;
      for (const node of testnet.children) {
        if (node.persona === 'pmid-node' && node.running && (await exists(chunkFile(node.dataDir, name, copy)))) holders++;
      }
      return holders;
    };

    try {
      await client.ensureReady();
      const acknowledged: { name: Name; content: Buffer }[] = [];
      const failed: string[] = [];
      let next = 0;
      const worker = async () => {
        while (next < PUTS) {
          const content = randomBytes(2000 + next++ * 97);
          try {
            acknowledged.push({ name: await client.putChunk(content), content });
          } catch (error) {
            failed.push(error instanceof Error ? error.message : String(error));
          }
        }
      };

      let pmidKilledAt = 0;
      let scaledMs = 0;
      const chaos = async () => {
        while (acknowledged.length < 4) await sleep(100);
        expect(await testnet.kill('data-manager', 0, 'SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
        while (acknowledged.length < 8) await sleep(100);
        // The PmidNode holding the most acknowledged copies so far.
        let victim = -1;
        let most = 0;
        for (const node of testnet.children) {
          if (node.persona !== 'pmid-node' || !node.running) continue;
          let held = 0;
          for (const { name } of acknowledged)
            for (const copy of MUST_STORE_COPIES) if (await exists(chunkFile(node.dataDir, name, copy))) held++;
          if (held > most) [victim, most] = [node.index, held];
        }
        expect(most).toBeGreaterThan(0);
        await testnet.kill('pmid-node', victim, 'SIGKILL');
        pmidKilledAt = Date.now();
        await testnet.scale('data-manager', dataManagers + 2);
        await testnet.scale('data-manager', dataManagers);
        scaledMs = Date.now() - pmidKilledAt;
      };
      await Promise.all([...Array.from({ length: WORKERS }, worker), chaos()]);
      // The issue asks that every ACKNOWLEDGED chunk survive. A Put caught by the DataManager join
      // while its records were still syncing is answered by the stalled-store repair
      // (test/sim/put-holder-departs.test.ts), but only after SAFE_DM_STALLED_STORE_MS, which on a
      // loaded machine can pass the client's deadline: an unanswered Put is counted and printed,
      // and anything other than "no agreed answer" still fails the test.
      expect(failed.filter((why) => !/no agreed answer/.test(why))).toEqual([]);
      expect(acknowledged.length + failed.length).toBe(PUTS);
      if (failed.length > 0) console.log(`churn on the real stack: ${failed.length} of ${PUTS} Puts unanswered during churn`);

      // Repair, watched from the kill on (while the DataManagers scale): every must-store copy of every
      // acknowledged chunk back on copiesPerGroup live PmidNodes.
      const shortCopies = async (): Promise<string[]> => {
        const short: string[] = [];
        for (const { name } of acknowledged) {
          for (const copy of MUST_STORE_COPIES) {
            const holders = await liveHolders(name, copy);
            if (holders < copiesPerGroup) short.push(`${toHex(name).slice(0, 16)}.${copy}: ${holders}`);
          }
        }
        return short;
      };
      let short = await shortCopies();
      while (short.length > 0 && Date.now() < pmidKilledAt + REPAIR_DEADLINE_MS) {
        await sleep(1000);
        short = await shortCopies();
      }
      const repairMs = Date.now() - pmidKilledAt;
      console.log(
        `churn on the real stack: ${acknowledged.length} acknowledged chunks; must-store copies all back on ${copiesPerGroup} live PmidNodes ${(repairMs / 1000).toFixed(1)} s after the PmidNode was killed (scaling DataManagers +2/−2 took ${(scaledMs / 1000).toFixed(1)} s of it)`,
      );
      expect(short, 'copies below their must-store count of live PmidNodes').toEqual([]);

      for (const { name, content } of acknowledged) {
        expect(Buffer.from(await client.getChunk(name)).equals(content), toHex(name).slice(0, 16)).toBe(true);
      }
    } finally {
      client.close();
    }
  });
});
