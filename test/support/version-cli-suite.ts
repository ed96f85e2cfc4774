import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { CliResult } from './safe-cli.js';

type Safe = (...args: string[]) => Promise<CliResult>;

/** The last line of a successful command: "INDEX ID". */
function version(result: CliResult): { index: string; id: string } {
  expect(result.code, result.stderr).toBe(0);
  const [index, id] = (result.stdout.trim().split('\n').at(-1) ?? '').split(' ');
  expect(id).toMatch(/^[0-9a-f]{128}$/);
  return { index: index as string, id: id as string };
}

/** A failure: one line on stderr, the exit code, and what it says. */
function failure(result: CliResult, code: number, says: RegExp): void {
  expect(result.code, `${result.stdout}${result.stderr}`).toBe(code);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(says);
}

/**
 * `safe version` end to end: versions of a file under a KEY, a fork, the tips and a branch, a
 * version's content, deleting a branch until its fork, a limit, and every refusal a user can meet.
 * `key` tells runs apart (an identity's KEY names one SDV for good).
 */
export async function versionCliScenario(safe: Safe, dir: string, key: string): Promise<void> {
  const files = await Promise.all(
    [0, 1, 2, 3].map(async (n) => {
      const path = join(dir, `v${n}.bin`);
      const content = randomBytes(1000 + n * 700);
      await writeFile(path, content);
      return { path, content };
    }),
  );
  const [f0, f1, f2, f3] = files as [(typeof files)[0], (typeof files)[0], (typeof files)[0], (typeof files)[0]];
  failure(await safe('version', 'tips', key), 3, new RegExp(`no versions of "${key}"`));

  const v0 = version(await safe('version', 'put', key, f0.path));
  expect(v0.index).toBe('0');
  const v1 = version(await safe('version', 'put', key, f1.path));
  expect(v1.index).toBe('1');
  const v2 = version(await safe('version', 'put', key, f2.path, '--parent', v0.id));
  expect(v2.index).toBe('1');
  // The tips, highest (index, then id) first.
  const tips = [v1, v2].sort((a, b) => (a.id < b.id ? 1 : -1)).map((v) => `${v.index} ${v.id}`);
  const listed = await safe('version', 'tips', key);
  expect(listed.code, listed.stderr).toBe(0);
  expect(listed.stdout.trim().split('\n')).toEqual(tips);

  // Two tips: a put or a log without an ID is refused, listing them.
  failure(await safe('version', 'put', key, f3.path), 1, /has 2 tips; name one with --parent/);
  failure(await safe('version', 'log', key), 1, /has 2 tips; name one with an ID/);
  const log = await safe('version', 'log', key, v1.id);
  expect(log.code, log.stderr).toBe(0);
  expect(log.stdout.trim().split('\n')).toEqual([`1 ${v1.id}`, `0 ${v0.id}`]);
  failure(await safe('version', 'log', key, v0.id), 2, /version 0 [0-9a-f]{16}… of ".*" is not a tip/);
  failure(await safe('version', 'log', key, randomBytes(64).toString('hex')), 3, /no version [0-9a-f]{16}… of/);
  failure(await safe('version', 'rm', key, v0.id), 2, /is not a tip/);

  // Any version's content comes back; rm takes the fork's branch and prints the tips left.
  const out = join(dir, 'out.bin');
  expect((await safe('version', 'get', key, v0.id, '-o', out)).code).toBe(0);
  expect((await readFile(out)).equals(f0.content)).toBe(true);
  const rm = await safe('version', 'rm', key, v2.id);
  expect(rm.code, rm.stderr).toBe(0);
  expect(rm.stdout.trim()).toBe(`1 ${v1.id}`);
  const kept = await safe('version', 'get', key, '-o', out);
  expect([kept.code, kept.stderr]).toEqual([2, `safe: ${out} exists: add --force to replace it\n`]);
  expect((await safe('version', 'get', key, '-o', out, '--force')).code).toBe(0);
  expect((await readFile(out)).equals(f1.content)).toBe(true);

  // A KEY made with one branch at most refuses a second.
  const limited = `${key}-limited`;
  const a = version(await safe('version', 'put', limited, f0.path, '--max-branches', '1'));
  version(await safe('version', 'put', limited, f1.path));
  failure(await safe('version', 'put', limited, f2.path, '--parent', a.id), 7, /over a limit: cannot exceed limit: 2 branches/);
  failure(await safe('version', 'put', limited, f2.path, '--max-versions', '0'), 2, /--max-versions needs a whole number from 1/);
  expect(await safe('version', 'tips', 'x', 'extra').then((r) => r.code)).toBe(2);
}
