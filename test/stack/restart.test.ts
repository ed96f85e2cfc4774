import { randomBytes } from 'node:crypto';
import { SafeClient } from '@safe/client';
import { generateIdentity, type Name, sha512, toHex } from '@safe/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_TIMEOUT_MS, type StackTestnet, startStackTestnet } from '../support/stack-testnet.js';

/**
 * Churn the hard way: a DataManager process is killed with SIGKILL while Puts stream in, then
 * started again with the same identity (same data dir: same key, schema, Redis prefix and Kafka
 * consumer group). No acknowledged Put may be lost, and no account charged twice.
 */
const PUTS = 40;
const WORKERS = 2;
const VICTIM = { persona: 'data-manager', index: 1 } as const;

let net: StackTestnet;

beforeAll(async () => {
  net = await startStackTestnet();
});

afterAll(async () => {
  await net?.close();
});

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

describe('a DataManager process killed and started again', () => {
  it('a DataManager killed with SIGKILL mid-stream and restarted loses no acknowledged Put and charges no account twice', {
    timeout: 600_000,
  }, async () => {
    const { testnet, db } = net;
    const client = await SafeClient.connect({ endpoint: testnet.endpoint, identity: generateIdentity(), timeoutMs: CLIENT_TIMEOUT_MS });
    try {
      await client.ensureReady();
      const start = (await client.account()).stored;

      // The stream: PUTS distinct small chunks, WORKERS at a time. A Put is acknowledged when putChunk resolves.
      const acknowledged: { name: Name; content: Buffer; at: number }[] = [];
      const failed: string[] = [];
      let next = 0;
      const worker = async () => {
        while (next < PUTS) {
          const content = randomBytes(1000 + next++ * 101);
          try {
            const name = await client.putChunk(content);
            acknowledged.push({ name, content, at: Date.now() });
          } catch (error) {
            failed.push(error instanceof Error ? error.message : String(error));
          }
        }
      };

      // The chaos: once a few Puts are through, SIGKILL the victim; start it again with its data dir.
      const victim = testnet.child(VICTIM.persona, VICTIM.index);
      let killedAt = 0;
      let restartedAt = 0;
      let ackedAtKill = 0;
      let recordsAtRestart = 0;
      const chaos = async () => {
        while (acknowledged.length < 6 && failed.length === 0) await sleep(100);
        ackedAtKill = acknowledged.length;
        const exit = await testnet.kill(VICTIM.persona, VICTIM.index, 'SIGKILL');
        killedAt = Date.now();
        expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
        const again = await testnet.restart(VICTIM.persona, VICTIM.index);
        restartedAt = Date.now();
        expect(again.pid).not.toBe(victim.pid);
        expect(again.nodeName).toBe(victim.nodeName);
        const [row] = await db.query<{ n: number }>(`SELECT count(*)::int4 AS n FROM "${victim.schema}".chunks`);
        recordsAtRestart = row?.n ?? 0;
      };
      await Promise.all([...Array.from({ length: WORKERS }, worker), chaos()]);

      expect(failed).toEqual([]);
      expect(acknowledged).toHaveLength(PUTS);
      // Mid-stream: Puts were acknowledged before the kill, while the victim was down or starting, and after it was back.
      expect(ackedAtKill).toBeGreaterThan(0);
      expect(acknowledged.filter((a) => a.at > killedAt).length).toBeGreaterThan(0);
      expect(acknowledged.filter((a) => a.at > restartedAt).length).toBeGreaterThan(0);

      // Every acknowledged Put comes back byte-identical.
      for (const { name, content } of acknowledged) {
        expect(Buffer.from(await client.getChunk(name)).equals(content), toHex(name).slice(0, 16)).toBe(true);
      }

      // The account holds exactly what was acknowledged: a chunk's cost is its size, charged once per Put.
      const total = acknowledged.reduce((sum, a) => sum + a.content.length, 0);
      expect((await client.account()).stored - start).toBe(total);

      // And so does every MaidManager replica that holds the account, entry by entry (key = SHA-512 of the name).
      const keys = new Map(acknowledged.map((a) => [toHex(sha512(a.name)), a.content.length]));
      let holders = 0;
      for (const mm of testnet.children.filter((c) => c.persona === 'maid-manager')) {
        const [account] = await db.query<{ stored: number }>(`SELECT stored FROM "${mm.schema}".accounts WHERE client = $1`, [client.name]);
        if (account === undefined) continue;
        holders++;
        expect(account.stored - start, mm.name).toBe(total);
        const entries = await db.query<{ key: Uint8Array; copies: number; cost: number }>(
          `SELECT key, copies, cost FROM "${mm.schema}".entries WHERE client = $1`,
          [client.name],
        );
        const streamed = entries.filter((e) => keys.has(toHex(e.key)));
        expect(streamed, mm.name).toHaveLength(PUTS);
        for (const e of streamed) expect({ copies: e.copies, cost: e.cost }, mm.name).toEqual({ copies: 1, cost: keys.get(toHex(e.key)) });
      }
      expect(holders).toBeGreaterThanOrEqual(net.testnet.config.closeGroupSize - 1);

      // The restarted DataManager resumed in its own schema and went on recording new chunks.
      const [after] = await db.query<{ n: number }>(`SELECT count(*)::int4 AS n FROM "${victim.schema}".chunks`);
      expect(after?.n ?? 0).toBeGreaterThan(recordsAtRestart);
    } finally {
      client.close();
    }
  });
});
