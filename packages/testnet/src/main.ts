#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, type Logger, parseSetting } from '@safe/core';
import { pino } from 'pino';
import { type LogLevel, loadTestnetConfig, type TestnetConfig, testnetFields } from './config.js';
import { type EmbeddedTestnet, startEmbeddedTestnet } from './embedded.js';
import { StartAbortedError, startMultiProcessTestnet } from './multi-process.js';
import { type EmbeddedTracing, startEmbeddedTracing, type TracingTarget, tracingTarget } from './tracing.js';

export const USAGE = `usage: safe-testnet [--stack embedded|local] [--data-dir DIR] [--fresh] [--host HOST] [--port N] [--trace]

Runs the whole network: every persona's replicas and the gRPC Gateway clients talk to.

  --stack embedded  (default) everything in this process: an in-memory bus, PGlite, and PmidNode
                    chunks under the data directory
  --stack local     one OS process per replica (node services/<persona>/dist/main.js) on the real
                    stack: Kafka, Postgres and Redis from SAFE_KAFKA_BROKERS, SAFE_POSTGRES_URL and
                    SAFE_REDIS_URL, else from .safe-stack/stack.env (\`pnpm stack up\`); each replica
                    keeps its key (and chunks) in DIR/<persona>/<n>/ and logs to DIR/logs/<persona>-<n>.log;
                    the replicas form a network of their own (SAFE_NETWORK=testnet-<hash of DIR>),
                    and the Gateway waits up to 60 s for a group's answer unless
                    SAFE_TESTNET_CALL_TIMEOUT_MS says otherwise (env SAFE_TESTNET_STACK)
  --data-dir DIR  where keys, databases and chunks live (env SAFE_DATA_DIR, default .safe-testnet,
                  or .safe-testnet-local with --stack local)
  --fresh         delete the testnet's files in the data directory first (env SAFE_TESTNET_FRESH);
                  with --stack local the replicas get new keys, so new schemas, Redis keys and
                  consumer groups: nothing a previous run left in the stack is read again
  --host HOST     address to listen on (env SAFE_TESTNET_HOST, default 127.0.0.1)
  --port N        port of the Gateway (the first MaidManager's with --stack local), 0 for any free
                  one (env SAFE_TESTNET_PORT, default 50051)
  --trace         trace every request (OpenTelemetry, OTLP/HTTP): spans go to
                  OTEL_EXPORTER_OTLP_ENDPOINT, else to the Jaeger of \`pnpm stack up --jaeger\`
                  (SAFE_JAEGER_OTLP_ENDPOINT, from the environment or .safe-stack/stack.env);
                  prints where Jaeger's query API is. \`safe --trace COMMAND\` prints a command's
                  trace id, \`safe trace ID\` shows the trace
  --help          this text

Every other setting (replica counts, K, PmidNode capacity, timeouts, log level) is an
environment variable; see packages/testnet/README.md.`;

/** The data directory of `--stack local` when neither --data-dir nor SAFE_DATA_DIR names one. */
export const LOCAL_STACK_DATA_DIR = '.safe-testnet-local';
/** The Gateway's call timeout with `--stack local` unless SAFE_TESTNET_CALL_TIMEOUT_MS says: the SDK's own default. */
export const LOCAL_STACK_CALL_TIMEOUT_MS = 60_000;

export type CliCommand =
  | { readonly kind: 'help' }
  | { readonly kind: 'run'; readonly overrides: Partial<TestnetConfig>; readonly trace: boolean };

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
  const flag = <K extends 'dataDir' | 'host' | 'port' | 'stack'>(key: K, name: string, raw: string | undefined) => {
    if (raw === undefined) return;
    if (raw === '') throw new ConfigError(`--${name} needs a value`);
    try {
      overrides[key] = parseSetting(testnetFields[key], raw) as TestnetConfig[K];
    } catch (error) {
      throw new ConfigError(`--${name} ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  flag('dataDir', 'data-dir', values['data-dir']);
  flag('host', 'host', values.host);
  flag('port', 'port', values.port);
  flag('stack', 'stack', values.stack);
  if (values.fresh) overrides.fresh = true;
  return { kind: 'run', overrides, trace: values.trace ?? false };
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
      stack: { type: 'string' },
      trace: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** Runs the CLI; resolves with the exit code once the testnet has stopped (or failed to start). */
export async function main(args: readonly string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  let config: TestnetConfig;
  let tracing: TracingTarget | undefined;
  try {
    const command = parseCommandLine(args);
    if (command.kind === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    config = loadTestnetConfig(env, command.overrides);
    if (config.stack === 'local') {
      if (command.overrides.dataDir === undefined && env.SAFE_DATA_DIR === undefined) config = { ...config, dataDir: LOCAL_STACK_DATA_DIR };
      // 26 processes on a small machine answer slower than one: wait as long as the safe CLI does.
      if (env.SAFE_TESTNET_CALL_TIMEOUT_MS === undefined) config = { ...config, callTimeoutMs: LOCAL_STACK_CALL_TIMEOUT_MS };
    }
    if (command.trace) tracing = await tracingTarget(env);
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
  const starting = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    starting.abort();
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
  let embeddedTracing: EmbeddedTracing | undefined;
  try {
    let testnet: Pick<EmbeddedTestnet, 'endpoint' | 'summary' | 'dataDir' | 'close'>;
    try {
      if (config.stack === 'local') {
        testnet = await startMultiProcessTestnet({
          ...config,
          logger: logger as unknown as Logger,
          env,
          // Every replica process starts the SDK itself (run-replica imports otel.js) when this is set.
          ...(tracing ? { childEnv: { OTEL_EXPORTER_OTLP_ENDPOINT: tracing.otlpEndpoint } } : {}),
          abortSignal: starting.signal,
          onChildExit: (child, tail) => {
            const how = child.exit?.signal ? `was killed by ${child.exit.signal}` : `exited with code ${child.exit?.code ?? 'unknown'}`;
            process.stderr.write(`safe-testnet: ${child.name} (pid ${child.pid}) ${how}; last lines of ${child.logFile}:\n${tail}\n`);
          },
        });
      } else {
        embeddedTracing = tracing && (await startEmbeddedTracing(tracing.otlpEndpoint));
        testnet = await startEmbeddedTestnet({
          ...config,
          logger: logger as unknown as Logger,
          ...(embeddedTracing ? { tracingFor: embeddedTracing.tracingFor } : {}),
        });
      }
    } catch (error) {
      if (error instanceof StartAbortedError) {
        process.stdout.write('testnet stopped\n');
        return 0;
      }
      const reason = error instanceof Error ? error.message : String(error);
      logger.error({ err: reason }, 'testnet did not start');
      process.stderr.write(`safe-testnet: ${reason}\n`);
      // A setting that cannot work is a usage error (2); a port or a data dir that fails is 1.
      return error instanceof ConfigError ? 2 : 1;
    }
    if (signals === 0) {
      process.stdout.write(`endpoint: ${testnet.endpoint}\n`);
      if (tracing) {
        process.stdout.write(`tracing: spans to ${tracing.otlpEndpoint}\n`);
        if (tracing.jaegerUrl) process.stdout.write(`jaeger: ${tracing.jaegerUrl} (export SAFE_JAEGER_URL=${tracing.jaegerUrl})\n`);
      }
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
    await embeddedTracing?.shutdown();
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

/** Runs `safe-testnet` as this process: its exit code, and a stopped testnet's process ends. */
export function runAsProcess(args: readonly string[]): void {
  main(args).then(
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

if (isEntryPoint()) runAsProcess(process.argv.slice(2));
