#!/usr/bin/env node
// `pnpm bench` (issue 15, part 5): `safe put` and a cold `safe get` of random files through the
// CLI, on the embedded testnet and on the multi-process testnet on the real stack, with the CPU
// each persona and Kafka, Postgres and Redis used per MiB put, what went over Kafka per MiB put
// (from the replicas' /metrics and the broker's logs), and plain kafkajs produce and consume of
// 1 MiB records on the same broker for comparison.
//
//   pnpm bench [--sizes 1,5,20] [--modes embedded,stack] [--replicas 6,12] [--out docs/bench/latest.md]
//              [--op-timeout 600]
//
// `pnpm bench` builds (`tsc -b`) first; `node scripts/bench/bench.mjs` runs on what is built.
// --replicas is the number of DataManagers and of PmidManagers (6 MaidManagers, 8 PmidNodes).
// Every replica runs with its chunk cache off (SAFE_CACHE_BYTES=0, SAFE_CACHE_ENTRIES=0), so a
// get is served by the PmidNodes, not from memory. The table goes to stdout; the same as
// Markdown and JSON to --out (FILE.md and FILE.json). Every step has a timeout; a step that fails
// is reported and the bench goes on. Every child process is stopped at the end (also on Ctrl-C),
// the temp dirs removed, and what the multi-process testnet left in the stack deleted.
//
// The pieces: options.mjs (the flags), testnet-run.mjs (one testnet, either mode), stack-mode.mjs
// (what the local stack adds), plain-kafka.mjs (the baseline), measure.mjs, bus-accounting.mjs and
// proc-cpu.mjs (what is measured), report*.mjs (the tables and targets).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { atExit, exitAfterCleanup, stopping } from './child-processes.mjs';
import { errorText, log } from './log.mjs';
import { machineInfo } from './machine.mjs';
import { readOptions } from './options.mjs';
import { built } from './repo.mjs';
import { heading, outputFiles, renderMarkdown, renderText } from './report.mjs';
import { stackUp } from './stack-mode.mjs';
import { benchTestnet, MAID_MANAGERS, PMID_NODES } from './testnet-run.mjs';

const { sizes, modes, replicaCounts, opTimeoutMs, out } = readOptions();

const data = {
  machine: await machineInfo(),
  options: { sizes, modes, replicas: replicaCounts, opTimeoutSeconds: opTimeoutMs / 1000 },
  settings: [
    "every replica's chunk cache off (SAFE_CACHE_BYTES=0, SAFE_CACHE_ENTRIES=0): a get is answered by the PmidNodes (the OS page cache is not dropped)",
    `${MAID_MANAGERS} MaidManagers and ${PMID_NODES} PmidNodes; DM/PM = DataManagers and PmidManagers each`,
    "each file is fresh random bytes; a 4 KiB put and rm first make the client's account, unmeasured",
    `each op's time limit ${opTimeoutMs / 1000} s; the Gateway waits 60 s for a group's answer (SAFE_TESTNET_CALL_TIMEOUT_MS)`,
  ],
  baseline: undefined,
  runs: [],
};
log(heading(data).slice(0, 3).join('\n'));

const workDir = await mkdtemp(join(tmpdir(), 'safe-bench-'));
atExit(() => rm(workDir, { recursive: true, force: true }));

try {
  const { testnet: testnetPackage } = await built();
  for (const mode of modes) {
    if (stopping()) break;
    let stack;
    if (mode === 'stack') {
      stack = await stackUp(data, testnetPackage);
      if (stack === undefined) continue;
    }
    for (const replicas of replicaCounts)
      if (!stopping()) data.runs.push(await benchTestnet({ mode, replicas, stack, workDir, sizes, opTimeoutMs }));
  }
} catch (error) {
  log(`bench FAILED: ${errorText(error)}`);
  data.error = errorText(error);
}

data.machine.loadAtEnd = loadavg().map((x) => Number(x.toFixed(2)));
log(`\n${renderText(data)}`);
const files = outputFiles(out);
try {
  await mkdir(dirname(files.md), { recursive: true });
  await writeFile(files.md, renderMarkdown(data));
  await writeFile(files.json, `${JSON.stringify(data, null, 2)}\n`);
  log(`\nwritten: ${files.md}, ${files.json}`);
} catch (error) {
  log(`could not write ${files.md}: ${errorText(error)}`);
}
const failed = data.error !== undefined || data.runs.some((r) => r.error || r.ops.some((o) => !o.ok));
await exitAfterCleanup(failed ? 1 : 0);
