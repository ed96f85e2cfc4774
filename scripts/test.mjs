#!/usr/bin/env node
// `pnpm test`: builds every package (tsc -b, so type errors fail the run), type-checks the tests,
// checks lint and format with Biome, brings the one-node cluster up (root only), picks the servers
// of the adapter and stack tests: testcontainers when a Docker engine answers and has the local
// infrastructure images (vitest's global setup starts them, test/support/global-infra.ts), else the
// local stack (Postgres, Redis, Kafka: `bash scripts/stack/stack.sh up`, its env from
// .safe-stack/stack.env), runs every vitest project, says which servers ran, and ends with one plain
// summary line: "N passed, N failed, N skipped".
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

// Tests are not part of the packages' builds (dist holds no tests), so they are type-checked here.
console.log('> tsc -p tsconfig.tests.json');
if (run(bin('tsc'), ['-p', 'tsconfig.tests.json']) !== 0) {
  console.log('type check of the tests failed');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

console.log('> biome check');
const lint = run(bin('biome'), ['check', '.']);

/**
 * Runs `bash SCRIPT up ARGS...` (and any `extra` commands after it) unless `status` says it is
 * already up. A failure names what failed (the script's "ERROR:" line) and ends the run. Returns
 * the stop to call at the end: `down` only if this run started it.
 */
function bringUp(label, script, upArgs, extra = []) {
  const wasUp = spawnSync('bash', [script, 'status'], { cwd: root, stdio: 'ignore' }).status === 0;
  const stop = () => {
    if (wasUp) return;
    console.log(`> ${label} down (this run started it)`);
    spawnSync('bash', [script, 'down'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  };
  for (const args of [['up', ...upArgs], ...extra]) {
    console.log(`> ${label} ${args.join(' ')}`);
    const started = Date.now();
    const up = spawnSync('bash', [script, ...args], { cwd: root, stdio: ['inherit', 'pipe', 'pipe'] });
    process.stdout.write(up.stdout ?? '');
    process.stderr.write(up.stderr ?? '');
    console.log(`> ${label} ${args[0]}: ${((Date.now() - started) / 1000).toFixed(0)} s`);
    if (up.status === 0) continue;
    const said = `${up.stderr ?? ''}\n${up.stdout ?? ''}`
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
    const why =
      up.error?.message ??
      said.find((line) => line.includes('ERROR:'))?.replace(/^\[\w+\] ERROR:\s*/, '') ??
      said.at(-1) ??
      `exit ${up.status}`;
    console.log(`${label} ${args[0]} failed: ${why}`);
    for (const s of stops) s();
    stop();
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  return stop;
}
const stops = [];
const stopWhatWeStarted = () => {
  for (const stop of stops.splice(0)) stop();
};

// The k8s suite needs the one-node cluster (root only) with the images loaded: the first run
// builds Kubernetes and the images (~20-30 min, cached after); SAFE_K8S=0 skips the suite.
if (process.env.SAFE_K8S !== '0' && process.getuid?.() !== 0) {
  console.log('> k8s suite skipped: the one-node cluster needs root (kubelet, containerd, iptables)');
  process.env.SAFE_K8S = '0';
}
if (process.env.SAFE_K8S !== '0') {
  stops.push(bringUp('k8s', join(root, 'scripts', 'k8s', 'k8s.sh'), [], [['images']]));
}

// The adapter and stack suites' Postgres, Redis, Kafka and Jaeger: testcontainers when a Docker engine
// answers (the cluster's dockerd, started above, or any other) and has the local infrastructure
// images (`pnpm k8s images` builds them; never pulled), else the local-process stack. SAFE_TEST_INFRA
// (auto, containers, stack) decides instead; see docs/testing.md.
const IMAGES = [
  // As test/support/infra.ts (IMAGES).
  'safe-local/postgres:15',
  'safe-local/redis:7',
  `safe-local/kafka:${process.env.SAFE_KAFKA_VERSION || '3.9.2'}`,
  `safe-local/jaeger:${process.env.SAFE_JAEGER_VERSION || '1.42.0'}`,
];
const infraMode = process.env.SAFE_TEST_INFRA?.trim() || 'auto';
let useContainers = false;
if (infraMode !== 'stack') {
  const probe = spawnSync('docker', ['image', 'inspect', '--format', '{{.Id}}', ...IMAGES], {
    cwd: root,
    encoding: 'utf8',
    timeout: 20_000,
  });
  useContainers = probe.status === 0;
  const why = probe.error?.message ?? (probe.stderr ?? '').trim().split('\n')[0];
  if (useContainers) console.log('> test servers: testcontainers (vitest starts them from the local images; no local stack)');
  else if (infraMode === 'containers') {
    console.log(`SAFE_TEST_INFRA=containers, but the Docker engine or its images are not there: ${why}`);
    stopWhatWeStarted();
    console.log('0 passed, 1 failed');
    process.exit(1);
  } else console.log(`> test servers: the local-process stack (no Docker engine with the local images: ${why || 'no answer'})`);
}
process.env.SAFE_TEST_INFRA = useContainers ? 'containers' : 'stack';

if (!useContainers) {
  // The stack suites (and the adapters' own tests) need the real stack; `up` is idempotent and, when
  // a component does not come up, names it and prints the end of its log (on stderr, shown as is).
  // A stack this run starts, it stops at the end; one that was already running is left running.
  // --jaeger: the trace suite reads a trace back from it; the first run builds it (~2-3 min, printed).
  stops.push(bringUp('stack', join(root, 'scripts', 'stack', 'stack.sh'), ['--jaeger']));

  // Its env lines, for vitest and every process the tests start; a variable already set wins.
  const stackEnv = join(process.env.SAFE_STACK_DIR || join(root, '.safe-stack'), 'stack.env');
  let stackLines;
  try {
    stackLines = readFileSync(stackEnv, 'utf8').split(/\r?\n/);
  } catch (error) {
    console.log(`stack up wrote no ${stackEnv}: ${error.message}`);
    stopWhatWeStarted();
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  for (const line of stackLines) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (match && process.env[match[1]] === undefined) process.env[match[1]] = match[2].trim().replace(/^(['"])(.*)\1$/, '$2');
  }
}

const dir = mkdtempSync(join(tmpdir(), 'safe-test-'));
const report = join(dir, 'vitest.json');
// The global setup writes which servers ran here (one line per set it started or fell back to).
process.env.SAFE_TEST_INFRA_REPORT = join(dir, 'servers.txt');
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
  // A file that fails outside any test (a hook, an import) counts once: its tests show as skipped.
  const failedFiles = results.testResults.filter(
    (file) => file.status === 'failed' && !file.assertionResults.some((test) => test.status === 'failed'),
  ).length;
  const failed = results.numFailedTests + failedFiles + (lint === 0 ? 0 : 1);
  summary = `${results.numPassedTests} passed, ${failed} failed, ${results.numPendingTests + results.numTodoTests} skipped`;
} catch {
  summary = `0 passed, 1 failed (vitest wrote no report, exit ${status})`;
}
let servers = '';
try {
  servers = readFileSync(process.env.SAFE_TEST_INFRA_REPORT, 'utf8').trim();
} catch {
  servers = useContainers ? '' : 'the local-process stack (pnpm stack up)';
}
for (const line of servers.split('\n').filter(Boolean)) console.log(`> test servers: ${line}`);
rmSync(dir, { recursive: true, force: true });
stopWhatWeStarted();
console.log(summary);
process.exit(status === 0 && lint === 0 ? 0 : 1);
