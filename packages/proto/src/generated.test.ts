import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const checkedIn = join(root, 'packages/proto/src/gen');
const scratch = mkdtempSync(join(tmpdir(), 'safe-proto-gen-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out.set(relative(dir, path), readFileSync(path, 'utf8'));
  }
  return out;
}

it('the checked-in generated code is what `pnpm proto:gen` makes of proto/', () => {
  // buf.gen.yaml's `out` under a scratch base directory: the same template, the same plugin.
  execFileSync(join(root, 'node_modules/.bin/buf'), ['generate', '--output', scratch], { cwd: root, stdio: 'pipe' });
  const fresh = files(join(scratch, 'packages/proto/src/gen'));
  const current = files(checkedIn);
  expect([...current.keys()].sort(), 'files: run `pnpm proto:gen`').toEqual([...fresh.keys()].sort());
  for (const [name, text] of fresh) expect(current.get(name), `${name} is stale: run \`pnpm proto:gen\``).toBe(text);
});
