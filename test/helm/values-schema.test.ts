/**
 * helm/safe-network/values.schema.json against what scripts/helm/values-schema.mjs makes of the zod
 * config fields (built: `tsc -b` first) and the chart's `safe.configEnv` table: a changed field, a
 * hand edit of a generated part or a table that no longer matches the fields fails here. No helm needed.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { groupParameterFields, settingOf } from '@safe/core';
import { dataManagerConfigFields } from '@safe/data-manager';
import { describe, expect, it } from 'vitest';
import { hostConfigFields } from '../../packages/host/src/config.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = join(ROOT, 'scripts', 'helm', 'values-schema.mjs');
const SCHEMA = join(ROOT, 'helm', 'safe-network', 'values.schema.json');

interface Schema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  enum?: unknown[];
  properties?: Record<string, Schema>;
}

describe('helm/safe-network/values.schema.json', () => {
  it('is what scripts/helm/values-schema.mjs generates from the config fields (else: pnpm helm:schema)', () => {
    const generated = execFileSync(process.execPath, [SCRIPT, '--stdout'], { cwd: ROOT, encoding: 'utf8' });
    const checkedIn = readFileSync(SCHEMA, 'utf8');
    expect(JSON.parse(checkedIn), 'run `pnpm helm:schema`').toEqual(JSON.parse(generated));
    expect(checkedIn, 'run `pnpm helm:schema`').toBe(generated);
  });

  it("describes each setting by its field's variable, default and bounds", () => {
    const schema = JSON.parse(readFileSync(SCHEMA, 'utf8')) as Schema;
    const group = schema.properties?.group?.properties ?? {};
    expect(Object.keys(group)).toEqual(Object.keys(groupParameterFields));
    expect(group.closeGroupSize).toEqual({
      description: 'SAFE_K: close group size K',
      type: 'integer',
      minimum: 2,
      maximum: 32,
      default: 4,
    });
    // Any other setting may be null: the chart passes on only the keys set to something.
    expect(group.cacheBytes?.type).toEqual(['integer', 'null']);

    const replica = schema.properties?.replica?.properties ?? {};
    expect(replica.heartbeatMs).toMatchObject({ minimum: 50, default: settingOf(hostConfigFields.heartbeatMs).default });
    expect(replica.logLevel?.enum).toEqual(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent', null]);
    // The chart sets these itself: not under `replica`.
    for (const key of ['network', 'dataDir', 'postgresUrl', 'grpcPort', 'advertiseHost']) expect(replica, key).not.toHaveProperty(key);

    const dataManager = schema.properties?.dataManager?.properties?.config?.properties ?? {};
    expect(Object.keys(dataManager)).toEqual(Object.keys(dataManagerConfigFields));
    expect(dataManager.lowRankPercent?.description).toBe(
      `SAFE_DM_LOW_RANK_PERCENT: ${settingOf(dataManagerConfigFields.lowRankPercent).doc}`,
    );
    expect(schema.properties?.pmidNode?.properties?.config?.properties?.pmidCapacity).toMatchObject({ minimum: 1, default: 1024 ** 3 });
    expect(schema.properties?.maidManager?.properties?.config?.properties).toEqual({});
  });
});
