import {
  boolField,
  ConfigError,
  type ConfigOf,
  type ConfigShape,
  describeConfig,
  enumField,
  groupParameterFields,
  intField,
  loadConfig,
  parseSetting,
  settingOf,
  stringField,
} from '@safe/core';
import { dataManagerConfigFields } from '@safe/data-manager';
import type { NetworkPersona } from './replicas.js';

const GIB = 1024 * 1024 * 1024;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const TESTNET_STACKS = ['embedded', 'local'] as const;
export type TestnetStack = (typeof TESTNET_STACKS)[number];

/** The testnet's own settings. */
export const testnetFields = {
  host: stringField('SAFE_TESTNET_HOST', '127.0.0.1', 'address the gRPC Gateway listens on (flag `--host`)'),
  port: intField('SAFE_TESTNET_PORT', 50051, 'port of the gRPC Gateway; 0 takes any free port (flag `--port`)', 0, 65535),
  dataDir: stringField(
    'SAFE_DATA_DIR',
    '.safe-testnet',
    'where the testnet keeps replica keys, PGlite and PmidNode chunks; relative to the working directory (flag `--data-dir`)',
  ),
  fresh: boolField(
    'SAFE_TESTNET_FRESH',
    false,
    'start over: delete the testnet files in the data directory first, refusing a directory that holds anything else (flag `--fresh`)',
  ),
  maidManagers: intField('SAFE_TESTNET_MAID_MANAGERS', 6, 'MaidManager replicas (K + 2 at the default K)', 1, 256),
  dataManagers: intField('SAFE_TESTNET_DATA_MANAGERS', 6, 'DataManager replicas (K + 2 at the default K)', 1, 256),
  versionManagers: intField('SAFE_TESTNET_VERSION_MANAGERS', 6, 'VersionManager replicas (K + 2 at the default K)', 1, 256),
  mpidManagers: intField('SAFE_TESTNET_MPID_MANAGERS', 6, 'MpidManager replicas (K + 2 at the default K)', 1, 256),
  pmidManagers: intField('SAFE_TESTNET_PMID_MANAGERS', 6, 'PmidManager replicas (K + 2 at the default K)', 1, 256),
  pmidNodes: intField('SAFE_TESTNET_PMID_NODES', 8, 'PmidNodes (vaults holding chunks)', 1, 256),
  pmidCapacity: intField('SAFE_TESTNET_PMID_CAPACITY', GIB, 'bytes each PmidNode offers the network', 1),
  callTimeoutMs: intField('SAFE_TESTNET_CALL_TIMEOUT_MS', 30_000, 'longest the Gateway waits for a group to agree on an answer (ms)', 100),
  tickMs: intField('SAFE_TESTNET_TICK_MS', 1000, 'how often every replica re-sends its unresolved sync entries (ms)', 10),
  shutdownGraceMs: intField(
    'SAFE_TESTNET_SHUTDOWN_GRACE_MS',
    5000,
    'on shutdown, how long calls in progress may finish before they are cancelled (ms)',
    0,
  ),
  logLevel: enumField<LogLevel>('SAFE_LOG_LEVEL', 'info', LOG_LEVELS, 'pino log level of `safe-testnet`'),
  stack: enumField<TestnetStack>(
    'SAFE_TESTNET_STACK',
    'embedded',
    TESTNET_STACKS,
    '`embedded`: every replica in this process (in-memory bus, PGlite); `local`: one OS process per replica on the real stack (Kafka, Postgres, Redis) from the environment or `.safe-stack/stack.env` (flag `--stack`)',
  ),
} satisfies ConfigShape;

/** Everything `safe-testnet` reads: its own settings, the group parameters and the DataManager's. */
export const testnetConfigFields = { ...testnetFields, ...groupParameterFields, ...dataManagerConfigFields };

export type TestnetConfig = ConfigOf<typeof testnetConfigFields>;

/** The defaults, as one config object (no environment read). */
export function defaultTestnetConfig(): TestnetConfig {
  return loadConfig(testnetConfigFields, {});
}

/**
 * Checks a config built in code (defaults, environment, flags and overrides merged) with the same
 * parsers the environment goes through; reports every bad value at once.
 */
export function validateTestnetConfig(config: TestnetConfig): TestnetConfig {
  const problems: string[] = [];
  for (const [key, field] of Object.entries(testnetConfigFields)) {
    const value = config[key as keyof TestnetConfig];
    const setting = settingOf(field);
    try {
      if (value === undefined || parseSetting(field, String(value)) !== value)
        throw new Error(`must be like ${JSON.stringify(setting.default)}, got ${JSON.stringify(value)}`);
    } catch (error) {
      problems.push(`${key} (${setting.env}) ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  return config;
}

/** Environment first, then `overrides` (the command line's flags) on top; validated. */
export function loadTestnetConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<TestnetConfig> = {},
): TestnetConfig {
  return validateTestnetConfig({ ...loadConfig(testnetConfigFields, env), ...definedOnly(overrides) });
}

export function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The configuration table in packages/testnet/README.md. */
export function describeTestnetConfig(): string {
  return describeConfig(testnetConfigFields);
}

/** How many replicas of each persona the testnet runs. */
export function countsOf(config: TestnetConfig): Record<NetworkPersona, number> {
  return {
    'maid-manager': config.maidManagers,
    'data-manager': config.dataManagers,
    'version-manager': config.versionManagers,
    'mpid-manager': config.mpidManagers,
    'pmid-manager': config.pmidManagers,
    'pmid-node': config.pmidNodes,
  };
}
