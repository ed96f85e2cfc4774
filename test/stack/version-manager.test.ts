import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closestNames, type Name, nameFromHex, toHex } from '@safe/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSafe } from '../support/safe-cli.js';
import { type StackTestnet, startStackTestnet } from '../support/stack-testnet.js';
import { versionCliScenario } from '../support/version-cli-suite.js';

/**
 * `safe version` against the multi-process testnet on the real stack (Kafka, Postgres, Redis), then
 * churn: the VersionManager closest to an SDV is killed for good, and the SDV must end on the K
 * closest live VersionManagers, alike, read from their Postgres schemas as an operator would.
 */
const SETTLE_DEADLINE_MS = 180_000;
let net: StackTestnet;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safe-stack-version-'));
  // K + 1 VersionManagers: a killed member's SDVs must move to the one that was outside their group.
  net = await startStackTestnet({ maidManagers: 4, dataManagers: 4, versionManagers: 5, pmidManagers: 4, pmidNodes: 6 });
});

afterAll(async () => {
  await net?.close();
  await rm(dir, { recursive: true, force: true });
});

/** What is wrong with the SDV records now (empty: each SDV on exactly its K closest running VersionManagers, alike), and the SDVs seen. */
async function sdvProblems(): Promise<{ problems: string[]; sdvs: string[] }> {
  const k = net.testnet.config.closeGroupSize;
  const live = net.testnet.children.filter((c) => c.persona === 'version-manager' && c.running);
  const held = new Map<string, Map<string, string>>();
  for (const child of live) {
    const rows = await net.db.query<{ name: Uint8Array; value: Uint8Array }>(`SELECT name, value FROM "${child.schema}".sdvs`);
    for (const row of rows) held.set(toHex(row.name), (held.get(toHex(row.name)) ?? new Map()).set(child.nodeName, toHex(row.value)));
  }
  const names = live.map((c) => nameFromHex(c.nodeName));
  const problems: string[] = [];
  for (const [sdv, values] of held) {
    const group = closestNames(nameFromHex(sdv), names, k).map(toHex);
    const holders = [...values.keys()];
    if (group.some((n) => !values.has(n)) || holders.some((n) => !group.includes(n)))
      problems.push(
        `${sdv.slice(0, 8)}: held by ${holders.map((n) => n.slice(0, 8)).join(',')}, group ${group.map((n) => n.slice(0, 8)).join(',')}`,
      );
    if (new Set(values.values()).size > 1) problems.push(`${sdv.slice(0, 8)}: values differ`);
  }
  return { problems, sdvs: [...held.keys()] };
}

describe('safe version on the multi-process real stack', () => {
  it('versions end to end through the CLI; an SDV survives the death of its closest VersionManager', { timeout: 900_000 }, async () => {
    const safe = (...args: string[]) => runSafe(join(dir, 'home'), net.testnet.endpoint, args, true);
    await versionCliScenario(safe, dir, 'notes');
    const before = await sdvProblems();
    expect(before.problems).toEqual([]);
    expect(before.sdvs).toHaveLength(2);

    const first = before.sdvs[0] as string;
    const vms = net.testnet.children.filter((c) => c.persona === 'version-manager');
    const [closest] = closestNames(nameFromHex(first), vms.map((c) => nameFromHex(c.nodeName)) as Name[], 1);
    const victim = vms.find((c) => c.nodeName === toHex(closest as Name));
    expect(await net.testnet.kill('version-manager', victim?.index ?? -1, 'SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });

    // Account transfer moves the SDVs to the member that now completes their groups.
    const deadline = Date.now() + SETTLE_DEADLINE_MS;
    let after = await sdvProblems();
    while (after.problems.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      after = await sdvProblems();
    }
    expect(after.problems, 'SDV records after a VersionManager died').toEqual([]);
    expect(after.sdvs.sort()).toEqual([...before.sdvs].sort());
    const tips = await safe('version', 'tips', 'notes');
    expect(tips.code, tips.stderr).toBe(0);
    expect(tips.stdout.trim().split('\n')).toHaveLength(1);
  });
});
