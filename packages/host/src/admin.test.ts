import { ChunkCache, generateIdentity, nameOf, RoutingTable, toHex } from '@safe/core';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { buildAdminServer, Readiness } from './admin.js';
import { exposeCacheMetrics, MetricsRegistry } from './metrics.js';
import { OtelTelemetry } from './telemetry.js';

const silent = pino({ level: 'silent' });
function setup() {
  const metrics = new MetricsRegistry();
  const readiness = new Readiness();
  const app = buildAdminServer({ logger: silent, metrics, readiness, probeTimeoutMs: 200 });
  return { app, metrics, readiness };
}

describe('admin server', () => {
  it('answers /healthz 200 while the process runs, whatever its dependencies', async () => {
    const { app } = setup();
    const reply = await app.inject({ method: 'GET', url: '/healthz' });
    expect(reply.statusCode).toBe(200);
    expect(reply.json()).toEqual({ ok: true });
  });

  it('answers /readyz 503 with what it waits for, then 200 once everything is up, then 503 while stopping', async () => {
    const { app, readiness } = setup();
    const up = { postgres: false, redis: false, kafka: false, member: false };
    readiness.require('postgres', 'postgres: not connected', () => up.postgres);
    readiness.require('redis', 'redis: not connected', async () => up.redis);
    readiness.require('kafka', 'kafka: not connected', () => up.kafka);
    readiness.require('membership', 'membership: this node is not in the view', () => up.member);
    const readyz = async () => {
      const reply = await app.inject({ method: 'GET', url: '/readyz' });
      return { status: reply.statusCode, body: reply.json() as { ready: boolean; waiting?: string[] } };
    };

    expect(await readyz()).toEqual({
      status: 503,
      body: {
        ready: false,
        waiting: [
          'starting',
          'postgres: not connected',
          'redis: not connected',
          'kafka: not connected',
          'membership: this node is not in the view',
        ],
      },
    });
    up.postgres = true;
    up.redis = true;
    readiness.setPhase('ready');
    expect((await readyz()).body.waiting).toEqual(['kafka: not connected', 'membership: this node is not in the view']);
    up.kafka = true;
    up.member = true;
    expect(await readyz()).toEqual({ status: 200, body: { ready: true } });
    up.redis = false; // the connection dropped
    expect(await readyz()).toEqual({ status: 503, body: { ready: false, waiting: ['redis: not connected'] } });
    up.redis = true;
    readiness.setPhase('stopping');
    readiness.setPhase('ready'); // a shutdown is final
    expect(await readyz()).toEqual({ status: 503, body: { ready: false, waiting: ['shutting down'] } });
  });

  it('counts a check that throws or hangs as unmet', async () => {
    const { app, readiness } = setup();
    readiness.setPhase('ready');
    readiness.require('postgres', 'postgres: not connected', () => {
      throw new Error('boom');
    });
    readiness.require('kafka', 'kafka: not connected', () => new Promise<boolean>(() => {}));
    const reply = await app.inject({ method: 'GET', url: '/readyz' });
    expect(reply.statusCode).toBe(503);
    expect(reply.json()).toEqual({ ready: false, waiting: ['postgres: not connected', 'kafka: not connected'] });
  });

  it('answers /members with the membership view as JSON, 503 until there is one, and has no /members without a view', async () => {
    const metrics = new MetricsRegistry();
    let view: RoutingTable | undefined;
    const app = buildAdminServer({ logger: silent, metrics, readiness: new Readiness(), members: () => view });
    const before = await app.inject({ method: 'GET', url: '/members' });
    expect(before.statusCode).toBe(503);
    expect(before.json()).toEqual({ waiting: 'membership' });
    const [a, b] = [generateIdentity(), generateIdentity()];
    view = new RoutingTable([
      { persona: 'pmid-node', name: a.name, publicKey: a.publicKey },
      { persona: 'data-manager', name: b.name, publicKey: b.publicKey },
    ]);
    const reply = await app.inject({ method: 'GET', url: '/members' });
    expect(reply.statusCode).toBe(200);
    const { members } = reply.json() as { members: Record<string, string[]> };
    expect(members['pmid-node']).toEqual([toHex(a.name)]);
    expect(members['data-manager']).toEqual([toHex(b.name)]);
    expect(members['maid-manager']).toEqual([]);
    expect((await setup().app.inject({ method: 'GET', url: '/members' })).statusCode).toBe(404);
  });

  it('serves the runtime counters and process metrics as Prometheus text', async () => {
    const { app, metrics } = setup();
    const telemetry = new OtelTelemetry({ metrics });
    telemetry.count('safe_messages_total', { persona: 'data-manager', type: 'Put', result: 'handled' });
    telemetry.count('safe_messages_total', { persona: 'data-manager', type: 'Put', result: 'handled' });
    telemetry.count('safe_messages_total', { persona: 'data-manager', type: 'Put', result: 'rejected' });
    telemetry.count('safe_messages_total', { persona: 'data-manager', type: 'We"ird\n', result: 'pending' });
    metrics.gauge({
      name: 'safe_members',
      help: 'members',
      labelNames: ['persona'],
      collect: () => [{ labels: { persona: 'pmid-node' }, value: 3 }],
    });
    const reply = await app.inject({ method: 'GET', url: '/metrics' });
    expect(reply.statusCode).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = reply.body;
    expect(text).toContain('# TYPE safe_messages_total counter');
    expect(text).toContain('safe_messages_total{persona="data-manager",result="handled",type="Put"} 2');
    expect(text).toContain('safe_messages_total{persona="data-manager",result="rejected",type="Put"} 1');
    expect(text).toContain('type="We\\"ird\\n"');
    expect(text).toContain('safe_members{persona="pmid-node"} 3');
    expect(text).toMatch(/^process_resident_memory_bytes \d+$/m);
    expect(text).toMatch(/^process_cpu_seconds_total [\d.]+$/m);
    expect(await metrics.total('safe_messages_total', { result: 'handled' })).toBe(2);
  });

  it('shows a counter first counted under a new name, with the label names of its first use', async () => {
    const { app, metrics } = setup();
    const other = setup(); // a second replica in this process: the process metrics are on both
    metrics.inc('safe_content_total', { result: 'mismatch', persona: 'data-manager' });
    metrics.inc('safe_content_total', { persona: 'data-manager', result: 'expired', stray: 'x' }, 2);
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toContain('# TYPE safe_content_total counter');
    expect(text).toContain('safe_content_total{persona="data-manager",result="mismatch"} 1');
    expect(text).toContain('safe_content_total{persona="data-manager",result="expired"} 2');
    expect(text).toContain('# TYPE safe_record_awaits_total counter'); // known before it is counted
    const otherText = (await other.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(otherText).not.toContain('safe_content_total{');
    expect(otherText).toMatch(/^process_resident_memory_bytes \d+$/m);
  });

  it("shows the group bus's bytes published and read with their HELP text", async () => {
    const { app, metrics } = setup();
    const telemetry = new OtelTelemetry({ metrics });
    telemetry.count('safe_bus_consumed_bytes_total', { topic: 'safe.data-manager' }, 1500);
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    for (const name of ['safe_bus_published_bytes_total', 'safe_bus_consumed_total', 'safe_bus_consumed_bytes_total']) {
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\w`, 'm'));
      expect(text).toContain(`# TYPE ${name} counter`);
    }
    expect(text).toContain('safe_bus_consumed_bytes_total{topic="safe.data-manager"} 1500');
  });

  it("serves the chunk cache's hits, misses and size as they are at the scrape", async () => {
    const { app, metrics } = setup();
    const cache = new ChunkCache({ maxBytes: 1024, maxEntries: 8 });
    exposeCacheMetrics(metrics, cache, { persona: 'data-manager' });
    const chunk = new Uint8Array(100).fill(7);
    cache.get(nameOf(chunk));
    cache.insert(nameOf(chunk), chunk);
    cache.get(nameOf(chunk));
    cache.get(nameOf(chunk));
    cache.insert(nameOf(chunk), new Uint8Array(3));
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toContain('# TYPE safe_cache_hits_total counter');
    expect(text).toContain('safe_cache_hits_total{persona="data-manager"} 2');
    expect(text).toContain('safe_cache_misses_total{persona="data-manager"} 1');
    expect(text).toContain('safe_cache_inserts_total{persona="data-manager"} 1');
    expect(text).toContain('safe_cache_rejected_total{persona="data-manager"} 1');
    expect(text).toContain('# TYPE safe_cache_bytes gauge');
    expect(text).toContain('safe_cache_bytes{persona="data-manager"} 100');
    expect(text).toContain('safe_cache_entries{persona="data-manager"} 1');
    cache.get(nameOf(chunk));
    expect((await app.inject({ method: 'GET', url: '/metrics' })).body).toContain('safe_cache_hits_total{persona="data-manager"} 3');
  });
});
