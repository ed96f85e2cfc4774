#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, type Logger } from '@safe/core';
import { pino } from 'pino';
import { type LogLevel, loadTestnetConfig, type TestnetConfig, testnetFields } from './config.js';
import { type EmbeddedTestnet, startEmbeddedTestnet } from './embedded.js';

export const USAGE = `usage: safe-testnet [--data-dir DIR] [--fresh] [--host HOST] [--port N]

Runs the whole network in this process: every persona's replicas on an in-memory bus, PGlite and
PmidNode chunks under the data directory, and the gRPC Gateway clients talk to.

  --data-dir DIR  where keys, PGlite and chunks live (env SAFE_DATA_DIR, default .safe-testnet)
  --fresh         delete the data directory first (env SAFE_TESTNET_FRESH)
  --host HOST     address to listen on (env SAFE_TESTNET_HOST, default 127.0.0.1)
  --port N        port to listen on, 0 for any free one (env SAFE_TESTNET_PORT, default 50051)
  --help          this text

Every other setting (replica counts, K, PmidNode capacity, timeouts, log level) is an
environment variable; see the README.`;

export type CliCommand = { readonly kind: 'help' } | { readonly kind: 'run'; readonly overrides: Partial<TestnetConfig> };

/** Parses the command line; throws ConfigError (exit 2) for an unknown flag or a bad value. */
export function parseCommandLine(args: readonly string[]): CliCommand {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(args);
  } catch (error) {
    throw new ConfigError(error instanceof Error ? error.message.replace(/\. To specify a positional argument.*$/s, '') : String(error));
  }
  const { values } = parsed;
  if (values.help) return { kind: 'help' };
  const overrides: { -readonly [K in keyof TestnetConfig]?: TestnetConfig[K] } = {};
  const flag = <K extends 'dataDir' | 'host' | 'port'>(key: K, name: string, raw: string | undefined) => {
    if (raw === undefined) return;
    if (raw === '') throw new ConfigError(`--${name} needs a value`);
    try {
      overrides[key] = testnetFields[key].parse(raw) as TestnetConfig[K];
    } catch (error) {
      throw new ConfigError(`--${name} ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  flag('dataDir', 'data-dir', values['data-dir']);
  flag('host', 'host', values.host);
  flag('port', 'port', values.port);
  if (values.fresh) overrides.fresh = true;
  return { kind: 'run', overrides };
}

function parseFlags(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: false,
    options: {
      'data-dir': { type: 'string' },
      fresh: { type: 'boolean' },
      host: { type: 'string' },
      port: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** Runs the CLI; resolves with the exit code once the testnet has stopped (or failed to start). */
export async function main(args: readonly string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  let config: TestnetConfig;
  try {
    const command = parseCommandLine(args);
    if (command.kind === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    config = loadTestnetConfig(env, command.overrides);
  } catch (error) {
    process.stderr.write(`safe-testnet: ${error instanceof Error ? error.message : String(error)}\n${USAGE.split('\n')[0]}\n`);
    return 2;
  }

  const logger = pino({ level: config.logLevel as LogLevel, base: { service: 'safe-testnet' } });

  // Signals are taken from the start: one during start-up stops the testnet as soon as it is up.
  let signalled: (signal: NodeJS.Signals) => void = () => undefined;
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => {
    signalled = resolve;
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      logger.flush();
      process.exit(130);
    }
    logger.info({ signal }, 'stopping');
    signalled(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    let testnet: EmbeddedTestnet;
    try {
      testnet = await startEmbeddedTestnet({ ...config, logger: logger as unknown as Logger });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      logger.error({ err: reason }, 'testnet did not start');
      process.stderr.write(`safe-testnet: ${reason}\n`);
      // A setting that cannot work is a usage error (2); a port or a data dir that fails is 1.
      return error instanceof ConfigError ? 2 : 1;
    }
    if (signals === 0) {
      process.stdout.write(`endpoint: ${testnet.endpoint}\n`);
      process.stdout.write(`testnet ready: ${testnet.summary}, data in ${testnet.dataDir}\n`);
    }
    await stopRequested;
    try {
      await testnet.close();
    } catch (error) {
      process.stderr.write(`safe-testnet: shutdown failed: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
    process.stdout.write('testnet stopped\n');
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    logger.flush();
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // Nothing should be left, but a stray handle must not keep a stopped testnet alive.
      setTimeout(() => process.exit(code), 2000).unref();
    },
    (error: unknown) => {
      process.stderr.write(`safe-testnet: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
