#!/usr/bin/env node
// Writes helm/safe-network/values.schema.json with its replica settings generated from the zod
// config fields the replicas read them with, so the chart's schema cannot drift from the services:
//   group                 groupParameterFields     packages/core/src/config.ts
//   replica               hostConfigFields         packages/host/src/config.ts (those the chart passes on)
//   <persona>.config      the persona's own fields services/<persona>/src/config.ts
//   network, kafka.brokers.items                   hostConfigFields (SAFE_NETWORK, SAFE_KAFKA_BROKERS)
// Which keys each block has, and the variable each becomes, is the chart's `safe.configEnv` table
// (templates/_helpers.tpl); a key there that is no config field, or names another variable, or a
// field the table leaves out, is an error. Everything else in the file is written by hand and kept.
//
//   node scripts/helm/values-schema.mjs            write the file (after `npx tsc -b`; `pnpm helm:schema` does both)
//   node scripts/helm/values-schema.mjs --stdout   print what it would write
//   node scripts/helm/values-schema.mjs --check    exit 1 when the file differs from it
// test/helm/values-schema.test.ts fails when the checked-in file differs.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..');
const CHART = join(ROOT, 'helm', 'safe-network');
export const SCHEMA_FILE = join(CHART, 'values.schema.json');
const HELPERS = join(CHART, 'templates', '_helpers.tpl');
const BIOME = join(ROOT, 'node_modules', '.bin', 'biome');
const GENERATED = 'generated from the zod config fields by scripts/helm/values-schema.mjs (pnpm helm:schema)';
const GENERATED_PARTS =
  'group, replica, network, kafka.brokers.items and every <persona>.config are generated from the zod config fields the replicas read their environment with (scripts/helm/values-schema.mjs; after changing a field, run `pnpm helm:schema`; test/helm/values-schema.test.ts fails while this file differs). The rest is written here by hand.';

/**
 * Host fields the chart sets itself rather than from `replica`, and from what. A new host field is
 * either passed on through `replica` (add it to `safe.configEnv`) or listed here.
 */
const SET_BY_THE_CHART = {
  network: '`network` (empty: the release name)',
  dataDir: '/data, the volume',
  postgresUrl: '`postgres`',
  redisUrl: '`redis`',
  kafkaBrokers: '`kafka.brokers`',
  grpcHost: '0.0.0.0',
  grpcPort: '`ports.grpc`',
  advertiseHost: "the pod's name under its headless Service",
  adminHost: '0.0.0.0',
  adminPort: '`ports.admin`',
  adoptVaultKeysDir: '`adoptVaults.enabled`',
};

async function built() {
  try {
    const [core, host, dataManager, pmidManager, pmidNode] = await Promise.all([
      import('../../packages/core/dist/index.js'),
      import('../../packages/host/dist/config.js'),
      import('../../services/data-manager/dist/config.js'),
      import('../../services/pmid-manager/dist/config.js'),
      import('../../services/pmid-node/dist/config.js'),
    ]);
    return { core, host, dataManager, pmidManager, pmidNode };
  } catch (error) {
    throw new Error(`the packages are not built (run \`npx tsc -b\`): ${error.message}`);
  }
}

/**
 * A setting's schema that also takes null: the chart passes on only the keys set to something
 * (`safe.mappedEnv` skips a null), so null leaves the setting at the service default, and Helm
 * keeps a null it has no default to drop it from.
 */
function orNull(setting) {
  const widened = { ...setting, type: [setting.type, 'null'] };
  if (Array.isArray(setting.enum)) widened.enum = [...setting.enum, null];
  return widened;
}

/** The chart's `safe.configEnv` table: values block -> { key: variable }. */
function chartConfigEnv() {
  const source = readFileSync(HELPERS, 'utf8');
  const table = /\{\{-? define "safe\.configEnv" -?\}\}\n([\s\S]*?)\{\{-? end -?\}\}/.exec(source)?.[1];
  if (table === undefined) throw new Error(`no "safe.configEnv" in ${relative(ROOT, HELPERS)}`);
  return parse(table);
}

/** values.schema.json as it should be: `base` (the checked-in file) with every generated part made afresh. */
export async function valuesSchema(base = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8'))) {
  const { core, host, dataManager, pmidManager, pmidNode } = await built();
  const groupKeys = new Set(Object.keys(core.groupParameterFields));
  const hostOnly = Object.fromEntries(Object.entries(host.hostConfigFields).filter(([key]) => !groupKeys.has(key)));
  const blocks = {
    group: { fields: core.groupParameterFields, source: 'groupParameterFields (packages/core/src/config.ts)' },
    replica: { fields: hostOnly, source: 'hostConfigFields (packages/host/src/config.ts)', setByTheChart: SET_BY_THE_CHART },
    maidManager: { fields: {}, source: 'services/maid-manager: no settings of its own' },
    dataManager: { fields: dataManager.dataManagerConfigFields, source: 'dataManagerConfigFields (services/data-manager/src/config.ts)' },
    versionManager: { fields: {}, source: 'services/version-manager: no settings of its own' },
    mpidManager: { fields: {}, source: 'services/mpid-manager: no settings of its own' },
    pmidManager: { fields: pmidManager.pmidManagerConfigFields, source: 'pmidManagerConfigFields (services/pmid-manager/src/config.ts)' },
    pmidNode: { fields: pmidNode.pmidNodeConfigFields, source: 'pmidNodeConfigFields (services/pmid-node/src/config.ts)' },
  };
  const table = chartConfigEnv();
  const problems = [];
  for (const [block, { fields, setByTheChart = {} }] of Object.entries(blocks)) {
    const mapped = table[block] ?? {};
    for (const [key, env] of Object.entries(mapped)) {
      const field = fields[key];
      if (field === undefined) problems.push(`${block}.${key} -> ${env}: no such config field`);
      else if (core.settingOf(field).env !== env) problems.push(`${block}.${key} -> ${env}: the field reads ${core.settingOf(field).env}`);
    }
    for (const key of Object.keys(fields)) {
      if (!(key in mapped) && !(key in setByTheChart))
        problems.push(`${block}.${key} (${core.settingOf(fields[key]).env}) is not in the table`);
    }
  }
  for (const block of Object.keys(table)) if (!(block in blocks)) problems.push(`${block}: no such values block`);
  if (problems.length > 0) {
    throw new Error(`"safe.configEnv" in ${relative(ROOT, HELPERS)} does not match the config fields:\n  ${problems.join('\n  ')}`);
  }

  const settings = {};
  for (const [block, { fields }] of Object.entries(blocks)) {
    settings[block] = Object.fromEntries(
      Object.entries(core.configJsonSchema(fields, Object.keys(table[block] ?? {})).properties).map(([key, setting]) => [
        key,
        block === 'group' && key === 'closeGroupSize' ? setting : orNull(setting),
      ]),
    );
  }

  const schema = structuredClone(base);
  const properties = (at, path) => {
    if (typeof at?.properties !== 'object') throw new Error(`${relative(ROOT, SCHEMA_FILE)} has no ${path}.properties`);
    return at.properties;
  };
  const top = properties(schema, '(top)');
  const onlyKeysSet = 'only the keys set are passed on (absent or null: the service default)';
  top.group = {
    $comment: GENERATED,
    type: 'object',
    description: `Group parameters every persona must agree on (SPEC.md section 5), ${blocks.group.source}; ${onlyKeysSet}`,
    required: ['closeGroupSize'],
    properties: settings.group,
  };
  top.replica = {
    $comment: GENERATED,
    type: 'object',
    description: `Host settings of every replica, ${blocks.replica.source}; ${onlyKeysSet}. The chart sets the others itself: ${Object.keys(SET_BY_THE_CHART).join(', ')}`,
    properties: settings.replica,
  };
  for (const block of Object.keys(blocks).filter((name) => name !== 'group' && name !== 'replica')) {
    properties(top[block], block).config = {
      $comment: GENERATED,
      type: 'object',
      description: `The persona's own settings by config field name, ${blocks[block].source}; ${onlyKeysSet}`,
      properties: settings[block],
    };
  }
  const network = core.settingJsonSchema(host.hostConfigFields.network);
  top.network = {
    $comment: GENERATED,
    ...network,
    description:
      'SAFE_NETWORK: names the Kafka topics (`safe.<network>.<persona>`) and the Redis membership hash; empty = the release name',
  };
  const brokers = properties(top.kafka, 'kafka').brokers;
  if (brokers === undefined) throw new Error(`${relative(ROOT, SCHEMA_FILE)} has no kafka.properties.brokers`);
  brokers.items = { $comment: GENERATED, ...core.settingJsonSchema(host.hostConfigFields.kafkaBrokers).items };
  const { $schema, $comment: _, ...rest } = schema;
  return { $schema, $comment: GENERATED_PARTS, ...rest };
}

/** The file's text: JSON as biome formats it (the repository's formatter, so `pnpm lint` agrees). */
export function format(schema) {
  return execFileSync(BIOME, ['format', `--stdin-file-path=${SCHEMA_FILE}`], {
    cwd: ROOT,
    input: `${JSON.stringify(schema, null, 2)}\n`,
    encoding: 'utf8',
  });
}

if (process.argv[1] === import.meta.filename) {
  const mode = process.argv[2];
  if (mode !== undefined && mode !== '--stdout' && mode !== '--check') {
    console.error('usage: node scripts/helm/values-schema.mjs [--stdout | --check]');
    process.exit(2);
  }
  try {
    const text = format(await valuesSchema());
    const file = relative(ROOT, SCHEMA_FILE);
    if (mode === '--stdout') process.stdout.write(text);
    else if (mode === '--check') {
      if (readFileSync(SCHEMA_FILE, 'utf8') !== text) {
        console.error(`${file} is not what the config fields make: run \`pnpm helm:schema\``);
        process.exit(1);
      }
    } else {
      writeFileSync(SCHEMA_FILE, text);
      console.log(`wrote ${file}`);
    }
  } catch (error) {
    console.error(`values-schema: ${error.message}`);
    process.exit(1);
  }
}
