import { z } from 'zod';
import { ConfigError } from './errors.js';

/**
 * The group parameters of SPEC.md section 5. Every quorum and limit in the runtime and in the
 * personas comes from here; handlers carry no magic numbers.
 */
export interface GroupParameters {
  /** K: members of a close group. */
  readonly closeGroupSize: number;
  /** An unresolved sync entry re-sent this many times without resolving is dropped. */
  readonly syncAttemptsBeforeDrop: number;
  /** How long the firewall remembers a message and its reply. */
  readonly firewallMemoryMs: number;
  /** How long an incomplete accumulation is kept before it is forgotten. */
  readonly accumulatorMemoryMs: number;
  /** Account transfer: records per AccountTransfer message (default 64). */
  readonly transferBatchRecords?: number;
  /** Account transfer: messages a replica sends per churn event or tick; the rest waits for later ticks (default 16). */
  readonly transferBatchesPerTick?: number;
  /** Account transfer: a record still short of agreement this long after its first copy is pulled afresh from its close group (default 30 s). */
  readonly transferPullMs?: number;
  /** A request a member that just entered its NAE's close group cannot serve without the NAE's record waits this long for it by account transfer, and a copy from a node this view does not know yet for a view that does; 0: refused at once (default 5 s). */
  readonly awaitRecordMs?: number;
  /** Most requests held for their records at once; past it they are refused at once (default 1024). */
  readonly awaitRecordRequests?: number;
  /** Opportunistic cache (SPEC.md 4): most bytes of chunk content a replica keeps in memory; 0 disables it (default 64 MiB). */
  readonly cacheBytes?: number;
  /** Opportunistic cache: most chunks a replica keeps; 0 disables it (default 1024). */
  readonly cacheEntries?: number;
  /** Most bytes of bulk content (chunks in flight) a replica holds in memory; past it the entry answers "busy" (default 64 MiB). */
  readonly contentBytes?: number;
  /** A message whose quorum came without its content waits this long for the content copy before pulling it from a sender, and between pulls (default 2 s). */
  readonly contentWaitMs?: number;
  /** Most client calls an entry holds open at once; past it the entry answers "busy" at once (default 1024). */
  readonly openCalls?: number;
}

/** The account-transfer limits, with their defaults when a caller built GroupParameters without them. */
export const DEFAULT_TRANSFER_BATCH_RECORDS = 64;
export const DEFAULT_TRANSFER_BATCHES_PER_TICK = 16;
export const DEFAULT_TRANSFER_PULL_MS = 30_000;
export const DEFAULT_AWAIT_RECORD_MS = 5_000;
export const DEFAULT_AWAIT_RECORD_REQUESTS = 1024;
/** The cache limits, with their defaults when a caller built GroupParameters without them. */
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_CACHE_ENTRIES = 1024;
export const DEFAULT_CONTENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_CONTENT_WAIT_MS = 2_000;
export const DEFAULT_OPEN_CALLS = 1024;

/** The content limits (SAFE_CONTENT_BYTES, SAFE_CONTENT_WAIT_MS), with their defaults. */
export function contentLimits(params: GroupParameters): { bytes: number; waitMs: number } {
  return {
    bytes: Math.max(0, params.contentBytes ?? DEFAULT_CONTENT_BYTES),
    waitMs: Math.max(1, params.contentWaitMs ?? DEFAULT_CONTENT_WAIT_MS),
  };
}

/** Client calls an entry holds open at once (SAFE_OPEN_CALLS), with its default. */
export function openCallLimit(params: GroupParameters): number {
  return Math.max(1, params.openCalls ?? DEFAULT_OPEN_CALLS);
}

/**
 * How long a client request is good for around the time it says it was signed (docs/replay.md):
 * at most `futureMs` ahead of a member's clock (clock skew) and `pastMs` behind it. The two add up
 * to the firewall's memory, so every repeat of a request that was taken comes while the firewall
 * still remembers it, and is answered from there.
 */
export function clientRequestWindow(params: GroupParameters): { futureMs: number; pastMs: number } {
  const futureMs = Math.min(10_000, Math.floor(params.firewallMemoryMs / 10));
  return { futureMs, pastMs: params.firewallMemoryMs - futureMs };
}

export function transferBatchRecords(params: GroupParameters): number {
  return Math.max(1, params.transferBatchRecords ?? DEFAULT_TRANSFER_BATCH_RECORDS);
}

export function transferBatchesPerTick(params: GroupParameters): number {
  return Math.max(1, params.transferBatchesPerTick ?? DEFAULT_TRANSFER_BATCHES_PER_TICK);
}

export function transferPullMs(params: GroupParameters): number {
  return Math.max(1, params.transferPullMs ?? DEFAULT_TRANSFER_PULL_MS);
}

/** How long, and how many, requests wait for a record a member that just entered the close group lacks. */
export function awaitRecordLimits(params: GroupParameters): { ms: number; requests: number } {
  return {
    ms: Math.max(0, params.awaitRecordMs ?? DEFAULT_AWAIT_RECORD_MS),
    requests: Math.max(0, params.awaitRecordRequests ?? DEFAULT_AWAIT_RECORD_REQUESTS),
  };
}

/**
 * Copies needed before a group message is acted on: K − 1 distinct members of the sending group.
 * A group smaller than K (a young network) needs all but one of its members, and at least one.
 */
export function groupQuorum(params: GroupParameters, sendingGroupSize: number): number {
  const effective = Math.min(params.closeGroupSize, sendingGroupSize);
  return Math.max(1, effective - 1);
}

/** Members that must have seen a sync entry before it is resolved: floor(K / 2) + 1. */
export function syncResolution(params: GroupParameters): number {
  return Math.floor(params.closeGroupSize / 2) + 1;
}

/**
 * Members that must send the same value before an account transfer is written: (K + 1) / 2 in
 * integer arithmetic, as the C++ DataManagerValue::Resolve did (2 of the 3 old members for K = 4).
 */
export function transferAgreement(params: GroupParameters): number {
  return Math.max(1, Math.floor((params.closeGroupSize + 1) / 2));
}

// ---- typed, validated configuration from the environment (zod) ----

/** What a setting says besides its value and default: the variable it is read from and what it means. */
export interface SettingMeta {
  readonly env: string;
  readonly doc: string;
}

/** Each config field's variable and doc, registered next to its schema. */
export const configSettings = z.registry<SettingMeta>();

/**
 * One setting: the string of its environment variable in, a typed value out; absent or empty, its
 * default. A schema's error message says what is allowed ("an integer from 1 to 8").
 */
export type ConfigField<T = unknown> = z.ZodDefault<z.ZodType<T, unknown>>;
export type ConfigShape = Record<string, ConfigField>;
/** The typed config a shape of fields reads: z.infer of its object schema. */
export type ConfigOf<S extends ConfigShape> = Readonly<z.infer<z.ZodObject<S>>>;

/** A field from any zod schema of an environment string: its default and docs declared with it. */
export function setting<T>(schema: z.ZodType<T, unknown>, env: string, fallback: NoInfer<T>, doc: string): ConfigField<T> {
  return schema.default(fallback as z.util.NoUndefined<T>).register(configSettings, { env, doc }) as ConfigField<T>;
}

export function intField(env: string, fallback: number, doc: string, min = 0, max = Number.MAX_SAFE_INTEGER): ConfigField<number> {
  const allowed = { error: `an integer from ${min} to ${max}` };
  return setting(z.coerce.number(allowed).int(allowed).min(min, allowed).max(max, allowed), env, fallback, doc);
}

export function stringField(env: string, fallback: string, doc: string): ConfigField<string> {
  return setting(z.string(), env, fallback, doc);
}

export function boolField(env: string, fallback: boolean, doc: string): ConfigField<boolean> {
  const values = { truthy: ['1', 'true', 'yes', 'on'], falsy: ['0', 'false', 'no', 'off'] };
  return setting(z.stringbool({ ...values, case: 'insensitive', error: 'true or false' }), env, fallback, doc);
}

export function enumField<T extends string>(env: string, fallback: T, values: readonly T[], doc: string): ConfigField<T> {
  return setting(z.enum(values, { error: `one of ${values.join(', ')}` }) as z.ZodType<T, unknown>, env, fallback, doc);
}

/** The variable, default and doc of a field. */
export function settingOf<F extends ConfigField>(field: F): SettingMeta & { readonly default: z.output<F> } {
  const meta = configSettings.get(field);
  if (meta === undefined) throw new Error('a config field must be built with setting() (it has no variable)');
  return { ...meta, default: field.def.defaultValue as z.output<F> };
}

/** `raw` as the value of `field`; a bad one throws what is allowed, e.g. `must be an integer from 1 to 8, got "9"`. */
export function parseSetting<F extends ConfigField>(field: F, raw: string): z.output<F> {
  const result = field.safeParse(raw);
  if (!result.success) throw new ConfigError(problemOf(raw, result.error.issues[0]));
  return result.data as z.output<F>;
}

function problemOf(raw: string, issue: z.core.$ZodIssue | undefined): string {
  return `must be ${issue?.message ?? 'valid'}, got ${JSON.stringify(raw)}`;
}

/**
 * Reads every field of `shape` from `env` with the shape's one object schema. A bad value is
 * reported (`SAFE_K must be ..., got "1"`) and stands at its default, so that checks across fields
 * still see a whole config.
 */
export function readConfig<S extends ConfigShape>(
  shape: S,
  env: Record<string, string | undefined> = process.env,
): { config: ConfigOf<S>; problems: string[] } {
  const schema = z.object(shape);
  const input: Record<string, string | undefined> = {};
  for (const [key, field] of Object.entries(shape)) {
    const raw = env[settingOf(field).env];
    input[key] = raw === '' ? undefined : raw;
  }
  const result = schema.safeParse(input);
  if (result.success) return { config: result.data, problems: [] };
  const problems = new Map<string, string>();
  for (const issue of result.error.issues) {
    const key = String(issue.path[0]);
    const field = shape[key];
    if (field === undefined || problems.has(key)) continue;
    problems.set(key, `${settingOf(field).env} ${problemOf(input[key] ?? '', issue)}`);
  }
  for (const key of problems.keys()) input[key] = undefined;
  return { config: schema.parse(input), problems: [...problems.values()] };
}

/** Reads every field from the environment; one ConfigError lists every bad value. */
export function loadConfig<S extends ConfigShape>(shape: S, env: Record<string, string | undefined> = process.env): ConfigOf<S> {
  const { config, problems } = readConfig(shape, env);
  if (problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  return config;
}

/** The configuration table for docs: variable, default, meaning. */
export function describeConfig(shape: ConfigShape): string {
  const rows = Object.values(shape).map((field) => {
    const { env, doc, default: fallback } = settingOf(field);
    return `| \`${env}\` | \`${String(fallback)}\` | ${doc} |`;
  });
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

/** A JSON Schema (draft-07) object. */
export type JsonSchema = { [keyword: string]: unknown };

/** The keywords first, in this order, of a setting's JSON Schema; the rest follow as zod wrote them. */
const KEYWORD_ORDER = ['description', 'type', 'enum', 'pattern', 'minimum', 'maximum', 'minItems', 'items', 'default'];

/**
 * The JSON Schema (draft-07) of a setting's typed value, from zod's own `z.toJSONSchema` of the
 * field's output: type, enum, pattern, bounds and default; described as `VARIABLE: doc`. The bounds
 * of "any safe integer" (intField's defaults) are left out: they bound nothing a person would write.
 */
export function settingJsonSchema(field: ConfigField): JsonSchema {
  const { env, doc } = settingOf(field);
  const { $schema: _, ...generated } = z.toJSONSchema(field, { io: 'output', target: 'draft-07' }) as JsonSchema;
  if (generated.minimum === Number.MIN_SAFE_INTEGER) delete generated.minimum;
  if (generated.maximum === Number.MAX_SAFE_INTEGER) delete generated.maximum;
  const schema: JsonSchema = { description: `${env}: ${doc}`, ...generated };
  const ordered: JsonSchema = {};
  for (const keyword of [...KEYWORD_ORDER, ...Object.keys(schema)]) if (keyword in schema) ordered[keyword] = schema[keyword];
  return ordered;
}

/** The JSON Schema of an object of settings by field name: `keys` of `shape` (default: all), each as settingJsonSchema makes it. */
export function configJsonSchema(shape: ConfigShape, keys: readonly string[] = Object.keys(shape)): JsonSchema {
  const properties: JsonSchema = {};
  for (const key of keys) {
    const field = shape[key];
    if (field === undefined) throw new Error(`${key} is no config field (known: ${Object.keys(shape).join(', ')})`);
    properties[key] = settingJsonSchema(field);
  }
  return { type: 'object', properties };
}

/** Group parameters from SAFE_K and friends, with SPEC.md's defaults. */
export const groupParameterFields = {
  closeGroupSize: intField('SAFE_K', 4, 'close group size K', 2, 32),
  syncAttemptsBeforeDrop: intField('SAFE_SYNC_ATTEMPTS', 100, 'sends of an unresolved sync entry before it is dropped', 1),
  firewallMemoryMs: intField('SAFE_FIREWALL_MEMORY_MS', 300_000, 'how long the firewall remembers a message (ms)', 1000),
  accumulatorMemoryMs: intField('SAFE_ACCUMULATOR_MEMORY_MS', 300_000, 'how long an incomplete accumulation is kept (ms)', 1000),
  transferBatchRecords: intField('SAFE_TRANSFER_BATCH', DEFAULT_TRANSFER_BATCH_RECORDS, 'records per account-transfer message', 1, 100_000),
  transferBatchesPerTick: intField(
    'SAFE_TRANSFER_BATCHES_PER_TICK',
    DEFAULT_TRANSFER_BATCHES_PER_TICK,
    'account-transfer messages a replica sends per churn event or tick; the rest waits for later ticks',
    1,
    100_000,
  ),
  transferPullMs: intField(
    'SAFE_TRANSFER_PULL_MS',
    DEFAULT_TRANSFER_PULL_MS,
    'a transferred record still short of agreement this long after its first copy is pulled afresh from its close group (ms)',
    100,
  ),
  awaitRecordMs: intField(
    'SAFE_AWAIT_RECORD_MS',
    DEFAULT_AWAIT_RECORD_MS,
    "a request a member that just entered its NAE's close group cannot serve without the record waits this long for it by account transfer, and a copy from a node this view does not know yet for a view that does (ms); 0 refuses at once",
  ),
  awaitRecordRequests: intField(
    'SAFE_AWAIT_RECORD_REQUESTS',
    DEFAULT_AWAIT_RECORD_REQUESTS,
    'most requests a replica holds for their records at once; past it they are refused at once',
  ),
  cacheBytes: intField(
    'SAFE_CACHE_BYTES',
    DEFAULT_CACHE_BYTES,
    'bytes of chunk content each replica on the Get path caches in memory (FIFO); 0 disables the cache',
  ),
  cacheEntries: intField('SAFE_CACHE_ENTRIES', DEFAULT_CACHE_ENTRIES, 'chunks each replica on the Get path caches; 0 disables the cache'),
  contentBytes: intField(
    'SAFE_CONTENT_BYTES',
    DEFAULT_CONTENT_BYTES,
    'bytes of chunks in flight a replica holds in memory; past it the entry answers busy (RESOURCE_EXHAUSTED)',
    1024 * 1024,
  ),
  contentWaitMs: intField(
    'SAFE_CONTENT_WAIT_MS',
    DEFAULT_CONTENT_WAIT_MS,
    'a message whose quorum came without its content waits this long for it before pulling it from a sender (ms)',
    1,
  ),
  openCalls: intField(
    'SAFE_OPEN_CALLS',
    DEFAULT_OPEN_CALLS,
    'client calls an entry holds open at once; past it the entry answers busy (RESOURCE_EXHAUSTED) at once',
    1,
  ),
} satisfies ConfigShape;

/** The group parameters' schema; its defaults are SPEC.md's. */
export const groupParametersSchema = z.object(groupParameterFields);

/** Every group parameter at its default, read from the schema. */
export const DEFAULT_GROUP_PARAMETERS: GroupParameters = groupParametersSchema.parse({});
