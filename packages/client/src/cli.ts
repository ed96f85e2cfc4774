#!/usr/bin/env node
import { run } from './cli-main.js';

// A closed stdout (`safe get NAME | head`) fails the write that hit it; do not crash on the event too.
process.stdout.on('error', () => {});
process.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
