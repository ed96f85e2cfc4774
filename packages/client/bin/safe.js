#!/usr/bin/env node
// The `safe` bin. It lives outside dist/ so that `pnpm install` can link it before the first build;
// the CLI itself is the compiled dist/cli.js, which runs on import.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('safe: not built yet; run `pnpm build` at the repository root first\n');
  process.exit(1);
}
await import(entry.href);
