import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { SafeClient } from '@safe/client';
import { closestNames, generateIdentity, type Name, nameFromHex, toHex } from '@safe/core';
import { routingFromMembers } from '@safe/host';
import { closeRedis, connectRedis, RedisMembership } from '@safe/redis';
import type { TestnetChild } from '@safe/testnet';
import { describe, expect, it } from 'vitest';
import { CLIENT_TIMEOUT_MS, chunkFile, stackTestnetForFile } from '../support/stack-testnet.js';

/**
 * Data integrity on the real stack (issue 5, SPEC.md 3.3): a must-store copy is corrupted on a
 * PmidNode's disk (same length, other bytes). The DataManagers' periodic integrity check (every
 * INTEGRITY_PERIOD_MS here instead of the hour's default) must find it: the holder is treated as
 * having lost the copy (its PmidManagers' lost total grows, its rank on their /metrics drops below
 * 1, the corrupt file is deleted from its disk), a new copy goes to another live PmidNode so the
 * copy is back on its must-store count, and the chunk still reads back byte-identical. How long
 * detection and repair took is printed.
 */
const INTEGRITY_PERIOD_MS = 10_000;
const CHUNK_BYTES = 4096;
/** The primary copy (index 0): must be stored (SPEC.md 3.3). */
const COPY = 0;
const DEADLINE_MS = 120_000;

const stack = stackTestnetForFile({ integrityPeriodMs: INTEGRITY_PERIOD_MS });

/** Polls `probe` until `done` holds of its value or the deadline passes; the last value either way. */
async function pollUntil<T>(probe: () => Promise<T>, done: (value: T) => boolean, deadline: number, everyMs = 250): Promise<T> {
  let value = await probe();
  while (!done(value) && Date.now() < deadline) {
    await sleep(everyMs);
    value = await probe();
  }
  return value;
}

describe('a chunk corrupted on a PmidNode on the multi-process real stack', () => {
  it('is found by the periodic integrity check: the holder is charged a loss, a new copy is stored elsewhere, the chunk reads back intact', {
    timeout: 300_000,
  }, async () => {
    const { testnet, db } = stack();
    const copiesPerGroup = testnet.config.copiesPerGroup;
    const client = await SafeClient.connect({ endpoint: testnet.endpoint, identity: generateIdentity(), timeoutMs: CLIENT_TIMEOUT_MS });
    const pmidNodes = () => testnet.children.filter((c) => c.persona === 'pmid-node' && c.running);

    /** The live PmidNodes whose disk holds the copy with exactly its content. */
    const goodHolders = async (name: Name, content: Buffer): Promise<TestnetChild[]> => {
      const good: TestnetChild[] = [];
      for (const node of pmidNodes()) {
        const bytes = await readFile(chunkFile(node.dataDir, name, COPY)).catch(() => undefined);
        if (bytes?.equals(content)) good.push(node);
      }
      return good;
    };

    /** The PmidNode's PmidManagers: the close group of its name among the running PmidManager replicas. */
    const managersOf = (pmid: TestnetChild): TestnetChild[] => {
      const managers = testnet.children.filter((c) => c.persona === 'pmid-manager' && c.running);
      const group = closestNames(
        nameFromHex(pmid.nodeName),
        managers.map((m) => nameFromHex(m.nodeName)),
        testnet.config.closeGroupSize,
      ).map(toHex);
      return managers.filter((m) => group.includes(m.nodeName));
    };

    /** The PmidNode's lost total in each of its PmidManagers' accounts (-1: no account), by replica. */
    const lostTotals = async (pmid: TestnetChild): Promise<Record<string, number>> => {
      const totals: Record<string, number> = {};
      for (const manager of managersOf(pmid)) {
        const [row] = await db.query<{ lost: string | number }>(`SELECT lost FROM "${manager.schema}".pmid_accounts WHERE pmid = $1`, [
          nameFromHex(pmid.nodeName),
        ]);
        totals[manager.name] = row === undefined ? -1 : Number(row.lost);
      }
      return totals;
    };

    /** `safe_pmid_rank{pmid}` of the PmidNode on each PmidManager's admin port that reports it. */
    const ranks = async (pmid: TestnetChild): Promise<number[]> => {
      const sample = new RegExp(`^safe_pmid_rank\\{pmid="${pmid.nodeName.slice(0, 16)}"\\} (\\S+)$`, 'm');
      const out: number[] = [];
      for (const manager of managersOf(pmid)) {
        const text = await fetch(`http://127.0.0.1:${manager.adminPort}/metrics`, { signal: AbortSignal.timeout(2000) })
          .then((r) => r.text())
          .catch(() => '');
        const match = sample.exec(text);
        if (match?.[1] !== undefined) out.push(Number(match[1]));
      }
      return out;
    };

    /** The PmidNode's rank as the shared membership view agrees it (what every DataManager chooses holders by). */
    const agreedRank = async (pmid: TestnetChild): Promise<number> => {
      const { routing } = routingFromMembers(await membership.members());
      return routing.agreedRank(nameFromHex(pmid.nodeName), testnet.config.closeGroupSize);
    };
    const redis = await connectRedis(testnet.stack.redisUrl, { name: 'corrupt-chunk-test' });
    const membership = new RedisMembership(redis, { key: `safe:${testnet.network}:members` });

    try {
      await client.ensureReady();
      const content = randomBytes(CHUNK_BYTES);
      const name = await client.putChunk(content);
      const label = toHex(name).slice(0, 16);

      // The acknowledged copy on its must-store count of PmidNodes (a holder's file may land just after the answer).
      const holders = await pollUntil(
        () => goodHolders(name, content),
        (good) => good.length >= copiesPerGroup,
        Date.now() + 30_000,
      );
      expect(holders.length, `${label}.${COPY} holders after the Put`).toBe(copiesPerGroup);
      const victim = holders[0] as TestnetChild;
      const lostBefore = await lostTotals(victim);
      // Every one of the victim's PmidManagers keeps its account.
      expect(
        Object.values(lostBefore).filter((lost) => lost >= 0),
        `${victim.name}'s accounts`,
      ).toHaveLength(testnet.config.closeGroupSize);

      // Corrupt it: same length, a few bytes flipped in the middle.
      const file = chunkFile(victim.dataDir, name, COPY);
      const corrupt = Buffer.from(content);
      for (let i = 0; i < 8; i++) corrupt[CHUNK_BYTES / 2 + i] = (corrupt[CHUNK_BYTES / 2 + i] as number) ^ 0xff;
      await writeFile(file, corrupt);
      const corruptedAt = Date.now();
      const deadline = corruptedAt + DEADLINE_MS;

      // Detection: each of the victim's PmidManagers adds the copy to its lost total.
      const charged = Object.fromEntries(Object.entries(lostBefore).map(([manager, before]) => [manager, before + CHUNK_BYTES]));
      const lostAfter = await pollUntil(
        () => lostTotals(victim),
        (totals) => Object.entries(charged).every(([manager, lost]) => (totals[manager] ?? 0) >= lost),
        deadline,
      );
      const detectedMs = Date.now() - corruptedAt;
      expect(lostAfter, `lost totals of ${victim.name}, before ${JSON.stringify(lostBefore)}`).toEqual(charged);

      // Repair: the copy back on copiesPerGroup live PmidNodes with its right bytes, one of them new, the victim's corrupt file deleted.
      const repaired = await pollUntil(
        () => goodHolders(name, content),
        (good) => good.length >= copiesPerGroup,
        deadline,
      );
      const repairedMs = Date.now() - corruptedAt;
      const repairedNames = repaired.map((node) => node.name);
      expect(repairedNames, `${label}.${COPY} live holders with the right bytes`).toHaveLength(copiesPerGroup);
      expect(repairedNames).not.toContain(victim.name);
      expect(repairedNames.some((node) => !holders.some((old) => old.name === node))).toBe(true);
      const corruptLeft = await pollUntil(
        () =>
          readFile(file).then(
            () => true,
            () => false,
          ),
        (left) => !left,
        deadline,
      );
      expect(corruptLeft, `the corrupt copy still on ${victim.name}'s disk`).toBe(false);

      // The rank its PmidManagers publish on their admin ports dropped below 1 (a scrape answers with the previous refresh).
      const published = await pollUntil(
        () => ranks(victim),
        (values) => values.length === testnet.config.closeGroupSize && values.every((rank) => rank < 1),
        deadline,
      );
      expect(published).toHaveLength(testnet.config.closeGroupSize);
      for (const rank of published) expect(rank).toBeLessThan(1);
      // And they announce it in the membership, so every DataManager's view agrees on it: the next
      // copies go to this node last (SPEC.md 3.4 Ranking).
      const agreed = await pollUntil(
        () => agreedRank(victim),
        (rank) => rank < 1,
        deadline,
      );
      expect(agreed).toBe(Math.floor(Math.min(...published) * 100) / 100);

      expect(Buffer.from(await client.getChunk(name)).equals(content)).toBe(true);
      console.log(
        `corrupt chunk on the real stack: ${victim.name}'s copy ${COPY} of ${label} (${CHUNK_BYTES} B) charged as lost by its ${Object.keys(charged).length} PmidManagers ${(detectedMs / 1000).toFixed(1)} s after the corruption, back on ${copiesPerGroup} live PmidNodes (new: ${repairedNames.filter((node) => !holders.some((old) => old.name === node)).join(', ')}) after ${(repairedMs / 1000).toFixed(1)} s (integrity period ${INTEGRITY_PERIOD_MS / 1000} s)`,
      );
    } finally {
      client.close();
      await membership.close();
      await closeRedis(redis);
    }
  });
});
