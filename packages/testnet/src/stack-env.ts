import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@safe/core';

/** The repository: where the stack's env file lives when SAFE_STACK_DIR does not say (`pnpm stack up` writes it), and the services' builds. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Where the real stack is: what every replica process gets as SAFE_POSTGRES_URL, SAFE_REDIS_URL and SAFE_KAFKA_BROKERS. */
export interface StackEnv {
  readonly postgresUrl: string;
  readonly redisUrl: string;
  readonly kafkaBrokers: string;
}

const STACK_VARIABLES = { postgresUrl: 'SAFE_POSTGRES_URL', redisUrl: 'SAFE_REDIS_URL', kafkaBrokers: 'SAFE_KAFKA_BROKERS' } as const;

/** `KEY=VALUE` lines (comments, blank lines, `export ` and surrounding quotes allowed), as `pnpm stack env` prints them. */
export function parseEnvFile(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (match === null) continue;
    const [, key = '', value = ''] = match;
    values[key] = value.replace(/^(['"])(.*)\1$/, '$2');
  }
  return values;
}

/** The env file of the local stack: `$SAFE_STACK_DIR/stack.env`, default `<repo>/.safe-stack/stack.env`. */
export function stackEnvFile(env: Record<string, string | undefined> = process.env): string {
  return join(env.SAFE_STACK_DIR?.trim() || join(REPO_ROOT, '.safe-stack'), 'stack.env');
}

/**
 * The stack from the environment; a variable the environment does not set is read from the
 * stack's env file. Throws ConfigError naming what is missing (and how to get it) otherwise.
 */
export async function loadStackEnv(env: Record<string, string | undefined> = process.env): Promise<StackEnv> {
  const file = stackEnvFile(env);
  let fromFile: Record<string, string> | undefined;
  const values: Partial<Record<keyof StackEnv, string>> = {};
  const missing: string[] = [];
  for (const [key, variable] of Object.entries(STACK_VARIABLES) as [keyof StackEnv, string][]) {
    let value = env[variable]?.trim();
    if (!value) {
      fromFile ??= await readFile(file, 'utf8').then(parseEnvFile, () => ({}));
      value = fromFile[variable]?.trim();
    }
    if (value) values[key] = value;
    else missing.push(variable);
  }
  if (missing.length > 0) {
    throw new ConfigError(
      `--stack local needs ${missing.join(', ')}: set ${missing.length > 1 ? 'them' : 'it'} in the environment, or start the local stack with \`pnpm stack up\` (it writes ${file})`,
    );
  }
  return values as StackEnv;
}
