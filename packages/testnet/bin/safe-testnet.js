#!/usr/bin/env node
// The `safe-testnet` bin. It lives outside dist/ so that `pnpm install` can link it before the first
// build; the launcher itself is the compiled dist/main.js.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('safe-testnet: not built yet; run `pnpm build` at the repository root first\n');
  process.exit(1);
}
const { runAsProcess } = await import(entry.href);
runAsProcess(process.argv.slice(2));
