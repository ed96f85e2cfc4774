#!/usr/bin/env node
// `pnpm test`: builds every package (tsc -b, so type errors fail the run), runs every vitest
// project, checks lint and format with Biome, and ends with one plain summary line: "N passed, N failed, N skipped".
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status ?? 1;

console.log('> tsc -b');
if (run(bin('tsc'), ['-b']) !== 0) {
  console.log('build failed');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

console.log('> biome check');
const lint = run(bin('biome'), ['check', '.']);

const dir = mkdtempSync(join(tmpdir(), 'safe-test-'));
const report = join(dir, 'vitest.json');
const status = run(bin('vitest'), [
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${report}`,
  ...process.argv.slice(2),
]);

let summary;
try {
  const results = JSON.parse(readFileSync(report, 'utf8'));
  const failed =
    results.numFailedTests + (results.numFailedTestSuites > 0 && results.numFailedTests === 0 ? results.numFailedTestSuites : 0);
  summary = `${results.numPassedTests} passed, ${failed} failed, ${results.numPendingTests + results.numTodoTests} skipped`;
} catch {
  summary = `0 passed, 1 failed (vitest wrote no report, exit ${status})`;
}
rmSync(dir, { recursive: true, force: true });
console.log(summary);
process.exit(status === 0 && lint === 0 ? 0 : 1);
