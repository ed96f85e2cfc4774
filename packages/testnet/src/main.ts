#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, type Logger, parseSetting, settingOf } from '@safe/core';
import { Command, CommanderError, Option, type OutputConfiguration } from 'commander';
import { pino } from 'pino';
import { definedOnly, type LogLevel, loadTestnetConfig, type TestnetConfig, testnetFields } from './config.js';
import { type EmbeddedTestnet, startEmbeddedTestnet } from './embedded.js';
import { StartAbortedError, startMultiProcessTestnet } from './multi-process.js';
import { type EmbeddedTracing, startEmbeddedTracing, type TracingTarget, tracingTarget } from './tracing.js';

/** The command line in one line, as errors repeat it; `--help` shows the rest. */
export const USAGE_LINE = 'usage: safe-testnet [--stack embedded|local] [--data-dir DIR] [--fresh] [--host HOST] [--port N] [--trace]';

/** After the flags in `--help`: what `--stack local` and `--trace` take from the environment. */
const HELP_DETAILS = `
--stack local runs each replica as \`node services/<persona>/dist/main.js\` on Kafka, Postgres and
Redis from SAFE_KAFKA_BROKERS, SAFE_POSTGRES_URL and SAFE_REDIS_URL, else from
.safe-stack/stack.env (\`pnpm stack up\`). A replica keeps its key (and chunks) in DIR/<persona>/<n>/
and logs to DIR/logs/<persona>-<n>.log; the replicas form a network of their own
(SAFE_NETWORK=testnet-<hash of DIR>), and the Gateway waits up to 60 s for a group's answer unless
SAFE_TESTNET_CALL_TIMEOUT_MS says otherwise.

--trace sends spans (OpenTelemetry, OTLP/HTTP) to OTEL_EXPORTER_OTLP_ENDPOINT, else to the Jaeger
of \`pnpm stack up --jaeger\` (SAFE_JAEGER_OTLP_ENDPOINT, from the environment or
.safe-stack/stack.env). \`safe --trace COMMAND\` prints a command's trace id, \`safe trace ID\` shows it.

Every other setting (replica counts, K, PmidNode capacity, timeouts, log level) is an environment
variable; see packages/testnet/README.md.
`;

/** The data directory of `--stack local` when neither --data-dir nor SAFE_DATA_DIR names one. */
export const LOCAL_STACK_DATA_DIR = '.safe-testnet-local';
/** The Gateway's call timeout with `--stack local` unless SAFE_TESTNET_CALL_TIMEOUT_MS says: the SDK's own default. */
export const LOCAL_STACK_CALL_TIMEOUT_MS = 60_000;

export type CliCommand =
  | { readonly kind: 'help'; readonly text: string }
  | { readonly kind: 'run'; readonly overrides: Partial<TestnetConfig>; readonly trace: boolean };

/** The flags that set a config field: each value goes through that field's zod schema. */
type ValueFlag = 'stack' | 'dataDir' | 'host' | 'port';

/** A flag's value as its config field reads it; '' or a bad value is a ConfigError naming the flag. */
function flagValue<K extends ValueFlag>(key: K, flag: string): (raw: string) => TestnetConfig[K] {
  return (raw) => {
    if (raw === '') throw new ConfigError(`${flag} needs a value`);
    try {
      return parseSetting(testnetFields[key], raw) as TestnetConfig[K];
    } catch (error) {
      throw new ConfigError(`${flag} ${error instanceof Error ? error.message : String(error)}`);
    }
  };
}

/** " (env SAFE_..., default ...)": where else a flag's value comes from, read off its config field. */
function fromEnv(key: ValueFlag | 'fresh', fallback: string = String(settingOf(testnetFields[key]).default)): string {
  return ` (env ${settingOf(testnetFields[key]).env}, default ${fallback})`;
}

/** The `safe-testnet` command line; the help commander prints is made from it. */
function program(output: OutputConfiguration): Command {
  const valueOption = (key: ValueFlag, flags: string, description: string, fallback?: string) => {
    const flag = flags.split(' ')[0] ?? flags;
    return new Option(flags, description + fromEnv(key, fallback)).argParser(flagValue(key, flag));
  };
  return new Command('safe-testnet')
    .configureOutput(output)
    .usage(USAGE_LINE.replace(/^usage: safe-testnet /, ''))
    .description("Runs the whole network: every persona's replicas and the gRPC Gateway clients talk to.")
    .addOption(
      valueOption(
        'stack',
        '--stack <embedded|local>',
        'embedded: everything in this process (an in-memory bus, PGlite, PmidNode chunks under the data directory); local: one OS process per replica on the real stack (below)',
      ),
    )
    .addOption(
      valueOption(
        'dataDir',
        '--data-dir <DIR>',
        'where keys, databases and chunks live',
        `.safe-testnet, ${LOCAL_STACK_DATA_DIR} with --stack local`,
      ),
    )
    .option(
      '--fresh',
      `delete the testnet's files in the data directory first; with --stack local the replicas get new keys, so nothing an earlier run left in the stack is read again${fromEnv('fresh')}`,
    )
    .addOption(valueOption('host', '--host <HOST>', 'address to listen on'))
    .addOption(valueOption('port', '--port <N>', "port of the Gateway (the first MaidManager's with --stack local), 0 for any free one"))
    .option('--trace', "trace every request (OpenTelemetry, below) and print where Jaeger's query API is")
    .helpOption('-h, --help', 'show this help')
    .configureHelp({ styleTitle: (title) => title.toLowerCase() })
    .addHelpText('after', HELP_DETAILS)
    .exitOverride();
}

/** Parses the command line; throws ConfigError (exit 2) for an unknown flag, a stray argument or a bad value. */
export function parseCommandLine(args: readonly string[]): CliCommand {
  const help: string[] = [];
  const command = program({
    writeOut: (text) => help.push(text),
    writeErr: () => {},
    outputError: () => {},
    getOutHelpWidth: () => 100,
    getErrHelpWidth: () => 100,
    getOutHasColors: () => false,
    getErrHasColors: () => false,
  });
  try {
    command.parse([...args], { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error; // a ConfigError of a flag's value
    if (error.code === 'commander.helpDisplayed') return { kind: 'help', text: help.join('') };
    throw new ConfigError(commanderProblem(error, command));
  }
  // Only the flags given are in opts(): the environment and the defaults stay for the rest.
  const { fresh, trace, ...values } = command.opts<{ [K in ValueFlag]?: TestnetConfig[K] } & { fresh?: boolean; trace?: boolean }>();
  const overrides: Partial<TestnetConfig> = { ...definedOnly(values), ...(fresh ? { fresh } : {}) };
  return { kind: 'run', overrides, trace: trace ?? false };
}

/** A parse failure commander reports, naming the flag or argument. */
function commanderProblem(error: CommanderError, command: Command): string {
  const said = error.message.replace(/^error: /, '').replace(/\s+/g, ' ');
  switch (error.code) {
    case 'commander.optionMissingArgument':
      return `${/'(--[\w-]+)/.exec(said)?.[1] ?? said} needs a value`;
    case 'commander.excessArguments':
      return `unexpected argument ${JSON.stringify(command.args[0])}`;
    case 'commander.unknownOption': {
      // `--fresh=yes`: commander knows no `--fresh=yes`, but --fresh is a flag without a value.
      const flag = /'(--[^=']+)=/.exec(said)?.[1];
      const known = flag === undefined ? undefined : command.options.find((option) => option.long === flag && option.isBoolean());
      return known ? `${flag} takes no value` : said;
    }
    default:
      return said;
  }
}

/** Runs the CLI; resolves with the exit code once the testnet has stopped (or failed to start). */
export async function main(args: readonly string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  let config: TestnetConfig;
  let tracing: TracingTarget | undefined;
  try {
    const command = parseCommandLine(args);
    if (command.kind === 'help') {
      process.stdout.write(command.text);
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
    process.stderr.write(`safe-testnet: ${error instanceof Error ? error.message : String(error)}\n${USAGE_LINE}\n`);
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
