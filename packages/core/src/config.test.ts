import { describe, expect, it } from 'vitest';
import {
  boolField,
  configJsonSchema,
  DEFAULT_GROUP_PARAMETERS,
  describeConfig,
  enumField,
  type GroupParameters,
  groupParameterFields,
  groupQuorum,
  intField,
  loadConfig,
  parseSetting,
  settingJsonSchema,
  settingOf,
  stringField,
  syncResolution,
  transferAgreement,
  transferBatchesPerTick,
  transferBatchRecords,
  transferPullMs,
} from './config.js';
import { ConfigError } from './errors.js';

const withK = (closeGroupSize: number): GroupParameters => ({ ...DEFAULT_GROUP_PARAMETERS, closeGroupSize });

describe('group quorums (SPEC.md 5)', () => {
  it('defaults to the numbers SPEC.md 5 gives: K = 4, 100 sync attempts, a firewall memory of 300 s', () => {
    expect(DEFAULT_GROUP_PARAMETERS).toMatchObject({ closeGroupSize: 4, syncAttemptsBeforeDrop: 100, firewallMemoryMs: 300_000 });
  });

  // K: [group quorum K−1, sync resolution floor(K/2)+1, transfer agreement floor((K+1)/2)]
  const table: [number, number, number, number][] = [
    [2, 1, 2, 1],
    [3, 2, 2, 2],
    [4, 3, 3, 2],
    [5, 4, 3, 3],
    [6, 5, 4, 3],
    [7, 6, 4, 4],
    [8, 7, 5, 4],
  ];
  it.each(table)('K = %i: groupQuorum %i, syncResolution %i, transferAgreement %i', (k, quorum, resolution, agreement) => {
    expect(groupQuorum(withK(k), k)).toBe(quorum);
    expect(groupQuorum(withK(k), 100)).toBe(quorum);
    expect(syncResolution(withK(k))).toBe(resolution);
    expect(transferAgreement(withK(k))).toBe(agreement);
    // A sync resolution is always a strict majority of the group.
    expect(2 * resolution).toBeGreaterThan(k);
  });

  it('account-transfer limits built without them are the defaults', () => {
    const { transferBatchRecords: _a, transferBatchesPerTick: _b, transferPullMs: _c, ...bare } = DEFAULT_GROUP_PARAMETERS;
    expect(transferBatchRecords(bare)).toBe(DEFAULT_GROUP_PARAMETERS.transferBatchRecords);
    expect(transferBatchesPerTick(bare)).toBe(DEFAULT_GROUP_PARAMETERS.transferBatchesPerTick);
    expect(transferPullMs(bare)).toBe(DEFAULT_GROUP_PARAMETERS.transferPullMs);
    expect(transferBatchRecords({ ...bare, transferBatchRecords: 5 })).toBe(5);
  });

  it('a sending group smaller than K needs all but one of its members, and at least one', () => {
    const params = withK(4);
    expect(groupQuorum(params, 3)).toBe(2);
    expect(groupQuorum(params, 2)).toBe(1);
    expect(groupQuorum(params, 1)).toBe(1);
    expect(groupQuorum(params, 0)).toBe(1);
  });
});

describe('loadConfig', () => {
  const fields = {
    port: intField('T_PORT', 8080, 'port', 1, 65535),
    name: stringField('T_NAME', 'safe', 'name'),
    verbose: boolField('T_VERBOSE', false, 'verbose'),
    policy: enumField('T_POLICY', 'linear', ['linear', 'exponential'] as const, 'farming policy'),
  };

  it('uses defaults for missing or empty variables', () => {
    expect(loadConfig(fields, {})).toEqual({ port: 8080, name: 'safe', verbose: false, policy: 'linear' });
    expect(loadConfig(fields, { T_PORT: '', T_NAME: '' })).toEqual({ port: 8080, name: 'safe', verbose: false, policy: 'linear' });
  });

  it('parses good values', () => {
    expect(loadConfig(fields, { T_PORT: '9000', T_NAME: 'x', T_VERBOSE: 'YES', T_POLICY: 'exponential' })).toEqual({
      port: 9000,
      name: 'x',
      verbose: true,
      policy: 'exponential',
    });
    for (const [raw, value] of [
      ['1', true],
      ['on', true],
      ['false', false],
      ['0', false],
      ['Off', false],
    ] as const) {
      expect(loadConfig(fields, { T_VERBOSE: raw }).verbose).toBe(value);
    }
  });

  it('reports all bad values at once with a ConfigError', () => {
    let error: unknown;
    try {
      loadConfig(fields, { T_PORT: '70000', T_VERBOSE: 'maybe', T_POLICY: 'random' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toMatch(/T_PORT must be an integer from 1 to 65535, got "70000"/);
    expect(message).toMatch(/T_VERBOSE must be true or false, got "maybe"/);
    expect(message).toMatch(/T_POLICY must be one of linear, exponential, got "random"/);
    expect((error as ConfigError).kind).toBe('invalid-argument');
  });

  it('rejects non-integers and out-of-range integers', () => {
    for (const raw of ['1.5', 'abc', '0', '-1', '1e9']) expect(() => loadConfig(fields, { T_PORT: raw })).toThrow(ConfigError);
  });

  it('reads the group parameters from SAFE_K and friends', () => {
    expect(loadConfig(groupParameterFields, {})).toEqual(DEFAULT_GROUP_PARAMETERS);
    expect(loadConfig(groupParameterFields, { SAFE_K: '8', SAFE_SYNC_ATTEMPTS: '10' })).toEqual({
      ...DEFAULT_GROUP_PARAMETERS,
      closeGroupSize: 8,
      syncAttemptsBeforeDrop: 10,
    });
    expect(loadConfig(groupParameterFields, { SAFE_TRANSFER_BATCH: '8', SAFE_TRANSFER_BATCHES_PER_TICK: '2' })).toMatchObject({
      transferBatchRecords: 8,
      transferBatchesPerTick: 2,
    });
    expect(() => loadConfig(groupParameterFields, { SAFE_TRANSFER_BATCH: '0' })).toThrow(/SAFE_TRANSFER_BATCH /);
    expect(() => loadConfig(groupParameterFields, { SAFE_K: '1', SAFE_FIREWALL_MEMORY_MS: '10' })).toThrow(
      /SAFE_K .*; SAFE_FIREWALL_MEMORY_MS /,
    );
  });

  it('a field carries its variable, default and doc, and parses one value alone', () => {
    expect(settingOf(fields.port)).toEqual({ env: 'T_PORT', default: 8080, doc: 'port' });
    expect(parseSetting(fields.port, '9000')).toBe(9000);
    expect(() => parseSetting(fields.port, '0')).toThrow(/^must be an integer from 1 to 65535, got "0"$/);
    expect(() => parseSetting(fields.port, 'x')).toThrow(ConfigError);
  });

  it('settingJsonSchema: the typed value as zod writes its JSON Schema, described by variable and doc', () => {
    expect(settingJsonSchema(groupParameterFields.closeGroupSize)).toEqual({
      description: 'SAFE_K: close group size K',
      type: 'integer',
      minimum: 2,
      maximum: 32,
      default: 4,
    });
    // No upper bound given: none written.
    expect(settingJsonSchema(intField('T_MS', 5, 'ms', 1))).toEqual({ description: 'T_MS: ms', type: 'integer', minimum: 1, default: 5 });
    expect(settingJsonSchema(enumField('T_E', 'a', ['a', 'b'], 'e'))).toEqual({
      description: 'T_E: e',
      type: 'string',
      enum: ['a', 'b'],
      default: 'a',
    });
    expect(settingJsonSchema(boolField('T_B', false, 'b'))).toEqual({ description: 'T_B: b', type: 'boolean', default: false });
    expect(Object.keys(settingJsonSchema(groupParameterFields.closeGroupSize))).toEqual([
      'description',
      'type',
      'minimum',
      'maximum',
      'default',
    ]);
    const schema = configJsonSchema(groupParameterFields, ['closeGroupSize', 'cacheBytes']);
    expect(Object.keys(schema.properties as object)).toEqual(['closeGroupSize', 'cacheBytes']);
    expect(() => configJsonSchema(groupParameterFields, ['closeGroupSiz'])).toThrow(/closeGroupSiz is no config field/);
  });

  it('describeConfig lists every variable with its default', () => {
    const doc = describeConfig(groupParameterFields);
    expect(doc.split('\n')).toHaveLength(2 + Object.keys(groupParameterFields).length);
    expect(doc).toContain('| `SAFE_K` | `4` | close group size K |');
  });
});
