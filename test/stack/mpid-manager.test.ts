import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mpidName } from '@safe/chunks';
import { closestNames, type Name, nameFromHex, toHex } from '@safe/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { msgCliScenario } from '../support/msg-cli-suite.js';
import { runSafe } from '../support/safe-cli.js';
import { type StackTestnet, startStackTestnet } from '../support/stack-testnet.js';

/**
 * `safe mpid` and `safe msg` against the multi-process testnet on the real stack (Kafka, Postgres,
 * Redis), then churn: while a message is held for an offline recipient, the MpidManager closest to
 * the recipient's MPID is killed for good; the MPID and the held message must end on the K closest
 * live MpidManagers (read from their Postgres schemas), and the message be printed exactly once.
 */
const SETTLE_DEADLINE_MS = 180_000;
const PREFIX = 's';
let net: StackTestnet;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safe-stack-mpid-'));
  // K + 1 MpidManagers: a killed member's records must move to the one that was outside their group.
  net = await startStackTestnet({ maidManagers: 4, dataManagers: 4, versionManagers: 4, mpidManagers: 5, pmidManagers: 4, pmidNodes: 6 });
});

afterAll(async () => {
  await net?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Rows of `table` keyed by MPID (+ `key`) in every running MpidManager; what is wrong (not on exactly the K closest, or values differ). */
async function recordProblems(table: 'mpids' | 'held', key: string): Promise<{ problems: string[]; records: string[] }> {
  const k = net.testnet.config.closeGroupSize;
  const live = net.testnet.children.filter((c) => c.persona === 'mpid-manager' && c.running);
  const held = new Map<string, { mpid: string; values: Map<string, string> }>();
  for (const child of live) {
    const rows = await net.db.query<{ mpid: Uint8Array; k: string; value: Uint8Array }>(
      `SELECT ${table === 'mpids' ? 'name' : 'mpid'} AS mpid, ${key} AS k, value FROM "${child.schema}".${table}`,
    );
    for (const row of rows) {
      const id = `${toHex(row.mpid)}/${row.k}`;
      const entry = held.get(id) ?? { mpid: toHex(row.mpid), values: new Map<string, string>() };
      held.set(id, entry);
      entry.values.set(child.nodeName, toHex(row.value));
    }
  }
  const names = live.map((c) => nameFromHex(c.nodeName));
  const problems: string[] = [];
  for (const [id, { mpid, values }] of held) {
    const group = closestNames(nameFromHex(mpid), names, k).map(toHex);
    const holders = [...values.keys()];
    if (group.some((n) => !values.has(n)) || holders.some((n) => !group.includes(n)))
      problems.push(
        `${table} ${id.slice(0, 8)}: held by ${holders.map((n) => n.slice(0, 8)).join(',')}, group ${group.map((n) => n.slice(0, 8)).join(',')}`,
      );
    if (new Set(values.values()).size > 1) problems.push(`${table} ${id.slice(0, 8)}: values differ`);
  }
  return { problems, records: [...held.keys()].sort() };
}

/** Both kinds of record, polled until they settle or the deadline passes. */
async function settled(): Promise<{ problems: string[]; records: string[] }> {
  const deadline = Date.now() + SETTLE_DEADLINE_MS;
  for (;;) {
    const [mpids, held] = [await recordProblems('mpids', "''"), await recordProblems('held', "encode(sender || id, 'hex')")];
    const result = { problems: [...mpids.problems, ...held.problems], records: [...mpids.records, ...held.records] };
    if (result.problems.length === 0 || Date.now() > deadline) return result;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

describe('safe mpid and safe msg on the multi-process real stack', () => {
  const safe = (home: string, ...args: string[]) => runSafe(home, net.testnet.endpoint, args, true);

  it('messages end to end through the CLI', { timeout: 900_000 }, async () => {
    expect(net.testnet.summary).toMatch(/, 5 mpid-manager, /);
    await msgCliScenario(safe, dir, PREFIX);
  });

  it('a held message survives the death of its closest MpidManager, printed once', { timeout: 900_000 }, async () => {
    const [alice, bob] = [join(dir, 'home-alice'), join(dir, 'home-bob')];
    const recipient = toHex(mpidName(`${PREFIX}b`));

    await writeFile(join(dir, 'three.txt'), 'held through churn');
    const sent = await safe(alice, 'msg', 'send', `${PREFIX}b`, join(dir, 'three.txt'));
    expect(sent.code, sent.stderr).toBe(0);
    const before = await settled();
    expect(before.problems).toEqual([]);
    expect(before.records.filter((r) => r.startsWith(recipient))).toHaveLength(2); // bob's account and the held message

    const managers = net.testnet.children.filter((c) => c.persona === 'mpid-manager');
    const [closest] = closestNames(nameFromHex(recipient), managers.map((c) => nameFromHex(c.nodeName)) as Name[], 1);
    const victim = managers.find((c) => c.nodeName === toHex(closest as Name));
    expect(await net.testnet.kill('mpid-manager', victim?.index ?? -1, 'SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });

    // Account transfer moves the account and the held message to the member that now completes the group.
    const after = await settled();
    expect(after.problems, 'MpidManager records after one died').toEqual([]);
    expect(after.records).toEqual(before.records);

    const listened = await safe(bob, 'msg', 'listen', '--once');
    expect(listened.code, listened.stderr).toBe(0);
    const printed = listened.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { from: string; body: string });
    expect(printed.map((m) => `${m.from}:${Buffer.from(m.body, 'base64').toString()}`)).toEqual([`${PREFIX}a:held through churn`]);
    const again = await safe(bob, 'msg', 'listen', '--once');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe('');
  });
});
