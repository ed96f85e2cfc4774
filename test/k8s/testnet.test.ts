import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_CHUNK_BYTES } from '@safe/chunks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART, type Cluster, cluster, type Forward, type PodState, pods, portForward } from '../support/k8s.js';
import { runSafe } from '../support/safe-cli.js';
import { childrenOf, follows, PUT_PATH, spanKey, wholeTrace } from '../support/trace-path.js';

/**
 * The chart on a real one-node Kubernetes (`pnpm k8s up`, `pnpm k8s images`): a dev testnet with
 * its in-chart Postgres, Redis, Kafka and Jaeger on the local images (ci/local-values.yaml), used
 * through the gateway Service with the `safe` CLI, scaled, its pods deleted, upgraded, uninstalled.
 * The steps share one release and run in order.
 */
const RELEASE = 't';
const NAMESPACE = `safe-k8s-${randomBytes(3).toString('hex')}`;
const PERSONAS = ['maid-manager', 'data-manager', 'version-manager', 'mpid-manager', 'pmid-manager', 'pmid-node'];
const DM = `statefulset/${RELEASE}-data-manager`;

let k: Cluster;
let home: string;
let gateway: Forward;
const stored = new Map<string, Buffer>(); // name -> content

/** Waits (bounded by the test's timeout) until `check` holds, returning its last value. */
async function until<T>(what: string, probe: () => Promise<T>, check: (value: T) => boolean): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined && check(value)) return value;
    await sleep(2000);
  }
  throw new Error(`${what}: still not so after 600 s`);
}

const safe = (args: string[], env: NodeJS.ProcessEnv = {}) => runSafe(home, gateway.endpoint, args, true, env);

async function everyFileIntact(): Promise<void> {
  for (const [name, content] of stored) {
    const out = join(home, `got-${name.slice(0, 8)}.bin`);
    const got = await safe(['get', name, '-o', out, '--force']);
    expect(got.code, got.stderr).toBe(0);
    expect((await readFile(out)).equals(content), `${content.length} B file`).toBe(true);
  }
}

const others = async () => (await pods(k, RELEASE)).filter((pod) => !pod.name.startsWith(`${RELEASE}-data-manager-`));
const same = (pod: PodState) => `${pod.name} ${pod.uid} restarts=${pod.restarts}`;

/** The DataManagers in the network's membership hash in Redis (each replica announces itself there). */
async function dataManagersInView(): Promise<number> {
  const values = await k.kubectl('exec', `${RELEASE}-redis-0`, '--', 'redis-cli', 'HVALS', `safe:${RELEASE}:members`);
  return values.split('\n').filter((line) => line.includes('"data-manager"')).length;
}

async function scaleDataManagers(replicas: number, how: 'kubectl' | 'helm'): Promise<void> {
  const before = (await others()).map(same);
  if (how === 'kubectl') await k.kubectl('scale', DM, `--replicas=${replicas}`);
  else await k.helm('upgrade', RELEASE, CHART, '--reuse-values', '--set', `dataManager.replicas=${replicas}`, '--wait', '--timeout', '10m');
  await k.kubectl('rollout', 'status', DM, '--timeout=10m');
  await until('the membership view', dataManagersInView, (n) => n === replicas);
  expect((await pods(k, RELEASE, 'data-manager')).filter((pod) => pod.ready)).toHaveLength(replicas);
  expect((await others()).map(same)).toEqual(before);
  await everyFileIntact();
}

/** The node name a replica logged when it loaded (or made) its key: `{"name": <hex>, "created": bool}`. */
async function nodeName(pod: string): Promise<{ name: string; created: boolean }> {
  const log = await k.kubectl('logs', pod, '-c', pod.slice(RELEASE.length + 1).replace(/-\d+$/, ''));
  const line = log.split('\n').find((l) => l.includes('"created"'));
  if (line === undefined) throw new Error(`${pod} logged no key line yet`);
  const { name, created } = JSON.parse(line) as { name: string; created: boolean };
  return { name, created };
}

// SAFE_K8S=0: no cluster here (not root, or a machine that cannot run one); scripts/test.mjs skips it too.
describe.skipIf(process.env.SAFE_K8S === '0')('the chart on a one-node Kubernetes', () => {
  beforeAll(async () => {
    k = await cluster(NAMESPACE);
    home = await mkdtemp(join(tmpdir(), 'safe-k8s-'));
  });

  afterAll(async () => {
    gateway?.close();
    // The namespace takes the claims helm uninstall leaves with it (and the provisioner their directories).
    await k?.kubectl('delete', 'namespace', NAMESPACE, '--wait=false').catch(() => undefined);
    if (home !== undefined) await rm(home, { recursive: true, force: true });
  });

  it('helm install of a dev testnet on the local images: every pod Ready', async () => {
    await k.helm(
      'install',
      RELEASE,
      CHART,
      '--create-namespace',
      '-f',
      join(CHART, 'ci', 'local-values.yaml'),
      '--wait',
      '--timeout',
      '15m',
    );
    await until(
      'every pod Ready',
      () => pods(k, RELEASE),
      (list) => list.length > 0 && list.every((pod) => pod.ready),
    );
    for (const c of [...PERSONAS, 'postgres', 'redis', 'kafka', 'jaeger']) expect((await pods(k, RELEASE, c)).length, c).toBeGreaterThan(0);
    gateway = await portForward(k, NAMESPACE, `svc/${RELEASE}-gateway`, 50051);
  });

  it('every ci values file renders objects the 1.33 apiserver accepts (kubectl apply --dry-run=server)', async () => {
    for (const values of ['dev-values.yaml', 'external-values.yaml', 'local-values.yaml', 'scale-values.yaml']) {
      const rendered = join(home, `rendered-${values}`);
      await writeFile(rendered, await k.helm('template', 'dry', CHART, '-f', join(CHART, 'ci', values)));
      const applied = await k.kubectl('apply', '--dry-run=server', '-f', rendered);
      expect(applied, values).toMatch(/statefulset\.apps\/dry-data-manager (created|configured) \(server dry run\)/);
    }
  });

  it('safe put of 1 B, 1 MiB + 1 and 3 MB through the gateway Service; safe get gives them back byte-identical', async () => {
    for (const size of [1, MAX_CHUNK_BYTES + 1, 3_000_000]) {
      const content = randomBytes(size);
      const file = join(home, `in-${size}.bin`);
      await writeFile(file, content);
      const put = await safe(['put', file]);
      expect(put.code, put.stderr).toBe(0);
      const name = put.stdout.trim().split('\n').at(-1) ?? '';
      expect(name).toMatch(/^[0-9a-f]{128}$/);
      stored.set(name, content);
    }
    await everyFileIntact();
  });

  it('kubectl scale of the DataManagers +2 then -2: the view follows, every file intact, no other persona restarted', async () => {
    await scaleDataManagers(5, 'kubectl');
    await scaleDataManagers(3, 'kubectl');
  });

  it('the same through helm upgrade --set dataManager.replicas', async () => {
    await scaleDataManagers(5, 'helm');
    await scaleDataManagers(3, 'helm');
  });

  it('a deleted DataManager pod and PmidNode pod come back as the same nodes (the name from their volume)', async () => {
    for (const pod of [`${RELEASE}-data-manager-1`, `${RELEASE}-pmid-node-2`]) {
      const [before] = (await pods(k, RELEASE)).filter((p) => p.name === pod);
      const named = await nodeName(pod);
      await k.kubectl('delete', 'pod', pod, '--wait=true');
      await until(
        `${pod} back and Ready`,
        () => pods(k, RELEASE),
        (list) => list.some((p) => p.name === pod && p.uid !== before?.uid && p.ready),
      );
      const again = await until(
        `${pod}'s key line`,
        () => nodeName(pod),
        () => true,
      );
      expect(again).toEqual({ name: named.name, created: false });
    }
    await everyFileIntact();
  });

  it("a Put's trace read back from the in-chart Jaeger has the edges MaidManager -> DataManager -> PmidManager -> PmidNode", async () => {
    const otlp = await portForward(k, NAMESPACE, `svc/${RELEASE}-jaeger`, 4318);
    const query = await portForward(k, NAMESPACE, `svc/${RELEASE}-jaeger`, 16686);
    try {
      const jaeger = `http://${query.endpoint}`;
      const file = join(home, 'traced.bin');
      const content = randomBytes(MAX_CHUNK_BYTES + 1);
      await writeFile(file, content);
      const put = await safe(['--trace', 'put', file], { OTEL_EXPORTER_OTLP_ENDPOINT: `http://${otlp.endpoint}`, SAFE_JAEGER_URL: jaeger });
      expect(put.code, put.stderr).toBe(0);
      stored.set(put.stdout.trim().split('\n').at(-1) ?? '', content);
      const id = /^trace: ([0-9a-f]{32})$/m.exec(put.stderr)?.[1] ?? '';
      expect(id).not.toBe('');
      const spans = await wholeTrace(jaeger, id);
      const children = childrenOf(spans);
      const calls = spans.filter((s) => spanKey(s) === 'safe-cli/Gateway.Send Put');
      expect(calls).toHaveLength(3); // two chunks and the data map
      for (const call of calls) expect((children.get(call.spanId) ?? []).some((s) => follows(s, PUT_PATH, children))).toBe(true);
      expect(spans.filter((s) => s.error).map(spanKey)).toEqual([]);
    } finally {
      otlp.close();
      query.close();
    }
  });

  it("helm test: the chart's own put/get round trip passes", async () => {
    const out = await k.helm('test', RELEASE, '--timeout', '10m');
    expect(out).toMatch(/TEST SUITE:\s+t-test-put-get[\s\S]*Phase:\s+Succeeded/);
  });

  it('helm upgrade of one DataManager setting rolls the DataManagers only, and no file is lost', async () => {
    const before = (await others()).map(same);
    const dmBefore = await pods(k, RELEASE, 'data-manager');
    await k.helm('upgrade', RELEASE, CHART, '--reuse-values', '--set', 'dataManager.config.getRetryMs=4000', '--wait', '--timeout', '10m');
    await k.kubectl('rollout', 'status', DM, '--timeout=10m');
    const dmAfter = await pods(k, RELEASE, 'data-manager');
    expect(dmAfter.filter((pod) => dmBefore.some((old) => old.uid === pod.uid))).toEqual([]);
    expect((await others()).map(same)).toEqual(before);
    await everyFileIntact();
  });

  it("helm uninstall leaves nothing running; the claims stay (on purpose: the nodes' keys and chunks)", async () => {
    gateway.close();
    await k.helm('uninstall', RELEASE, '--wait', '--timeout', '5m');
    await until(
      'no pod left',
      () => k.kubectl('get', 'pods', '-o', 'name'),
      (out) => out.trim() === '',
    );
    for (const kind of ['statefulsets', 'deployments', 'services', 'poddisruptionbudgets']) {
      expect((await k.kubectl('get', kind, '-o', 'name')).trim(), kind).toBe('');
    }
    // NOTES.txt's clean-up command selects them by the release's label.
    const claims = (await k.kubectl('get', 'pvc', '-l', `app.kubernetes.io/instance=${RELEASE}`, '-o', 'name')).trim().split('\n');
    expect(claims).toContain(`persistentvolumeclaim/data-${RELEASE}-data-manager-0`);
    expect(claims).toContain(`persistentvolumeclaim/data-${RELEASE}-pmid-node-0`);
  });
});
