import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { CliResult } from './safe-cli.js';

type Safe = (home: string, ...args: string[]) => Promise<CliResult>;

const ok = (result: CliResult) => {
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result.stdout;
};
const bodies = (stdout: string) =>
  stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const { from, id, body } = JSON.parse(line) as { from: string; id: string; body: string };
      expect(id).toMatch(/^[0-9a-f]+$/);
      return `${from}:${Buffer.from(body, 'base64').toString()}`;
    });

/**
 * `safe mpid` and `safe msg` as users run them: public ids `<prefix>a` and `<prefix>b` (each in its
 * own home), messages sent while the recipient is offline printed once it listens, and lists.
 */
export async function msgCliScenario(safe: Safe, dir: string, prefix: string): Promise<void> {
  const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((who) => join(dir, `home-${who}`)) as [string, string, string];
  const [a, b] = [`${prefix}a`, `${prefix}b`];
  expect(ok(await safe(alice, 'mpid', 'create', a))).toMatch(/^[0-9a-f]{128}\n$/);
  const taken = await safe(carol, 'mpid', 'create', a);
  expect(taken.code).not.toBe(0);
  expect(taken.stderr).toMatch(new RegExp(`^safe: .*the public id ${a} is taken\\n$`));
  ok(await safe(bob, 'mpid', 'create', b));
  // bob is offline: alice's messages are held for him.
  for (const [file, text] of [
    ['one.txt', 'first message'],
    ['two.txt', 'second message'],
  ]) {
    await writeFile(join(dir, file as string), text as string);
    expect(ok(await safe(alice, 'msg', 'send', b, join(dir, file as string)))).toMatch(/^[0-9a-f]{32}\n$/);
  }
  const unknown = await safe(alice, 'msg', 'send', `${prefix}nobody`, join(dir, 'one.txt'));
  expect(unknown.code).not.toBe(0);
  expect(unknown.stderr).toMatch(/no public id with this name/);
  // bob comes online: the held messages, in order, each printed once.
  expect(bodies(ok(await safe(bob, 'msg', 'listen', '--once')))).toEqual([`${a}:first message`, `${a}:second message`]);
  expect(ok(await safe(bob, 'msg', 'listen', '--once'))).toBe('');
  // bob blocks alice: she is refused, clearly, and nothing is held.
  ok(await safe(bob, 'msg', 'block', a));
  expect(ok(await safe(bob, 'msg', 'lists'))).toBe(`block ${a}\n`);
  const refused = await safe(alice, 'msg', 'send', b, join(dir, 'one.txt'));
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toBe(`safe: permission denied: ${b} does not accept messages from ${a}\n`);
  ok(await safe(bob, 'msg', 'unblock', a));
  expect(ok(await safe(bob, 'msg', 'lists'))).toBe('');
  ok(await safe(alice, 'msg', 'send', b, join(dir, 'two.txt')));
  expect(bodies(ok(await safe(bob, 'msg', 'listen', '--once')))).toEqual([`${a}:second message`]);
  // Only the owner reads or changes its lists: carol has no public id of her own.
  const stranger = await safe(carol, 'msg', 'lists');
  expect(stranger.code).not.toBe(0);
  expect(stranger.stderr).toMatch(/this account has no public id/);
}
