import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_CHUNK_BYTES } from '@safe/chunks';
import { findTraces } from '@safe/client';
import { type TracingTarget, tracingTarget } from '@safe/testnet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSafe } from '../support/safe-cli.js';
import { type StackTestnet, startStackTestnet } from '../support/stack-testnet.js';
import { childrenOf, follows, spanKey as key, PUT_PATH, wholeTrace } from '../support/trace-path.js';

/**
 * A Put read back from a real collector (the OpenTelemetry demo's trace-edges test): the testnet
 * on the real stack exports to the stack's Jaeger (`pnpm test` starts it: `stack up --jaeger`),
 * `safe --trace put` of a two-chunk file prints its trace id, and Jaeger's HTTP API must hold
 * that one trace with the true parent edges of a Put across the four personas.
 */
let target: TracingTarget;
let jaeger: string;
let net: StackTestnet;
let home: string;

beforeAll(async () => {
  target = await tracingTarget(process.env);
  if (target.jaegerUrl === undefined) throw new Error('no SAFE_JAEGER_URL: start the stack with `pnpm stack up --jaeger`');
  jaeger = target.jaegerUrl;
  home = await mkdtemp(join(tmpdir(), 'safe-trace-'));
  net = await startStackTestnet({ childEnv: { OTEL_EXPORTER_OTLP_ENDPOINT: target.otlpEndpoint } });
});

afterAll(async () => {
  await net?.close();
  if (home !== undefined) await rm(home, { recursive: true, force: true });
});

describe('a Put read back from Jaeger', () => {
  it('safe --trace put of a two-chunk file is one trace with the Put edges across every persona, no span in error', async () => {
    const file = join(home, 'two-chunks.bin');
    const size = MAX_CHUNK_BYTES + 1;
    await writeFile(file, randomBytes(size));
    // The account and its vault first, untraced (a new client's first GetAccount answers "unknown
    // client"), with other content: the traced Put must store its chunks, not find them stored.
    await writeFile(join(home, 'first.bin'), randomBytes(64));
    const warmUp = await runSafe(home, net.testnet.endpoint, ['put', join(home, 'first.bin')], true);
    expect(warmUp.code, warmUp.stderr).toBe(0);

    const since = Date.now();
    const put = await runSafe(home, net.testnet.endpoint, ['--trace', 'put', file], true);
    expect(put.code, put.stderr).toBe(0);
    const id = /^trace: ([0-9a-f]{32})$/m.exec(put.stderr)?.[1] ?? '';
    expect(put.stderr).toMatch(/^trace: [0-9a-f]{32}$/m);
    expect(put.stderr).toContain(`${jaeger.replace(/\/+$/, '')}/api/traces/${id}`);

    const spans = await wholeTrace(jaeger, id);
    const children = childrenOf(spans);
    // One trace for the command: every span the CLI and the MaidManagers' Put handling made since.
    expect(await findTraces(jaeger, 'safe-cli', since)).toEqual([id]);
    expect(await findTraces(jaeger, 'safe-maid-manager', since, 'maid-manager Put')).toEqual([id]);

    const [root, ...others] = spans.filter((s) => s.parentId === undefined);
    expect(others.map(key)).toEqual([]);
    expect(root && key(root)).toBe('safe-cli/safe put');
    expect(root?.tags).toMatchObject({ 'safe.file.size': size, 'safe.file.chunks': 2 });

    // Two chunks and the data map, each a Gateway call under the root that runs the whole Put path.
    const puts = (children.get(root?.spanId ?? '') ?? []).filter((s) => s.operation === 'Gateway.Send Put');
    expect(puts).toHaveLength(3);
    for (const call of puts) {
      expect(call.tags['safe.chunk']).toMatch(/^[0-9a-f]{128}$/);
      expect(call.tags['safe.persona']).toBe('maid-manager');
      expect(
        (children.get(call.spanId) ?? []).some((entry) => follows(entry, PUT_PATH, children)),
        String(call.tags['safe.chunk']),
      ).toBe(true);
    }
    const handled = spans.filter((s) => s.operation === 'data-manager Put');
    expect(handled.every((s) => /^maid-manager:[0-9a-f]{16}$/.test(String(s.tags['safe.copy_group'])))).toBe(true);
    expect(handled.every((s) => puts.some((call) => call.tags['safe.chunk'] === s.tags['safe.chunk']))).toBe(true);

    // A message from a group is handled once K − 1 = 3 copies agree: the first is the handling
    // span's parent, the others its links (no copy that came after the quorum). The answers that
    // travel back are applied by each member under a span of its own, so their copies differ.
    const fromGroups = ['data-manager Put', 'pmid-manager Put', 'pmid-node Put', 'data-manager PutResponse', 'maid-manager PutResponse'];
    const quorum = spans.filter((s) => fromGroups.includes(s.operation));
    expect(quorum.filter((s) => s.links > 2).map((s) => `${s.operation}: ${s.links} link(s)`)).toEqual([]);
    const answers = spans.filter((s) => s.operation === 'data-manager PutResponse' || s.operation === 'maid-manager PutResponse');
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.filter((s) => s.links !== 2).map((s) => `${s.operation}: ${s.links} link(s)`)).toEqual([]);

    const services = new Set(spans.map((s) => s.service));
    for (const persona of ['maid-manager', 'data-manager', 'pmid-manager', 'pmid-node']) expect(services).toContain(`safe-${persona}`);
    expect(spans.filter((s) => s.error).map(key)).toEqual([]);
  });
});
