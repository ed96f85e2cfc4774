import { execFile } from 'node:child_process';
import { join } from 'node:path';

/** The `safe` CLI as a user runs it. */
export const SAFE_CLI = join(import.meta.dirname, '..', '..', 'packages', 'client', 'dist', 'cli.js');

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `safe ARGS` with its identity under `home`, against the Gateway at `endpoint` (`env` added to the process's). */
export function runSafe(
  home: string,
  endpoint: string,
  args: readonly string[],
  log = false,
  env: NodeJS.ProcessEnv = {},
): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SAFE_CLI, ...args],
      { env: { ...process.env, ...env, SAFE_HOME: home, SAFE_ENDPOINT: endpoint }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (log)
          console.log(
            `safe ${args.slice(0, 2).join(' ')}: exit ${error ? error.code : 0} after ${((Date.now() - started) / 1000).toFixed(1)} s ${stderr.trim()}`,
          );
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}
