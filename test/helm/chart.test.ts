/**
 * The Helm chart (helm/safe-network), checked by rendering it: `helm lint` and `helm template`
 * for the default values and each ci/*-values.yaml, the output parsed and held against the
 * services' own configuration fields. No cluster is involved.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ConfigShape, groupParameterFields, importIdentity, settingOf } from '@safe/core';
import { dataManagerConfigFields } from '@safe/data-manager';
import { pmidManagerConfigFields } from '@safe/pmid-manager';
import { pmidNodeConfigFields } from '@safe/pmid-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { hostConfigFields, loadReplicaConfig } from '../../packages/host/src/config.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CHART = join(ROOT, 'helm', 'safe-network');
const CI_DIR = join(CHART, 'ci');
const RELEASE = 'alpha';
const NAMESPACE = 'safe';

/** Each field's variable, by key. */
function envsOf(fields: ConfigShape): Record<string, { env: string }> {
  return Object.fromEntries(Object.entries(fields).map(([key, field]) => [key, { env: settingOf(field).env }]));
}

const PERSONAS = {
  maidManager: { dir: 'maid-manager', own: {} as Record<string, { env: string }>, fields: {} },
  dataManager: { dir: 'data-manager', own: envsOf(dataManagerConfigFields), fields: dataManagerConfigFields as ConfigShape },
  versionManager: { dir: 'version-manager', own: {} as Record<string, { env: string }>, fields: {} },
  mpidManager: { dir: 'mpid-manager', own: {} as Record<string, { env: string }>, fields: {} },
  pmidManager: { dir: 'pmid-manager', own: envsOf(pmidManagerConfigFields), fields: pmidManagerConfigFields as ConfigShape },
  pmidNode: { dir: 'pmid-node', own: envsOf(pmidNodeConfigFields), fields: pmidNodeConfigFields as ConfigShape },
} as const;
const HOST = envsOf(hostConfigFields);
const GROUP = envsOf(groupParameterFields);
type Block = keyof typeof PERSONAS;
const BLOCKS = Object.keys(PERSONAS) as Block[];

/** Set by the platform for the pod, not read as configuration: POD_NAME only builds SAFE_ADVERTISE_HOST. */
const NOT_SERVICE_CONFIG = new Set(['POD_NAME', 'OTEL_EXPORTER_OTLP_ENDPOINT']);

function envOf(fields: Record<string, { env: string }>): string[] {
  return Object.values(fields).map((field) => field.env);
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}
interface Container {
  name: string;
  command?: string[];
  env?: EnvVar[];
  readinessProbe?: { httpGet?: { path: string; port: string | number }; grpc?: { port: number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  ports?: { name: string; containerPort: number }[];
}
interface Manifest {
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec?: {
    replicas?: number;
    serviceName?: string;
    clusterIP?: string;
    template?: {
      metadata?: { annotations?: Record<string, string> };
      spec: { containers: Container[]; initContainers?: Container[]; volumes?: { name: string; secret?: { secretName: string } }[] };
    };
    volumeClaimTemplates?: { metadata: { name: string }; spec: { resources: { requests: { storage: string } } } }[];
  };
  stringData?: Record<string, string>;
  data?: Record<string, string>;
}

let helm = '';

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(helm, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function template(valuesFiles: string[] = [], sets: string[] = []): Manifest[] {
  const args = ['template', RELEASE, CHART, '--namespace', NAMESPACE];
  for (const file of valuesFiles) args.push('-f', file);
  for (const set of sets) args.push('--set', set);
  const result = run(args);
  if (result.status !== 0) throw new Error(`helm ${args.join(' ')} failed:\n${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((document) => document.toJS() as Manifest | null)
    .filter((manifest): manifest is Manifest => manifest !== null);
}

function statefulSet(manifests: Manifest[], dir: string): Manifest {
  const found = manifests.find((m) => m.kind === 'StatefulSet' && m.metadata.name === `${RELEASE}-${dir}`);
  if (found === undefined) throw new Error(`no StatefulSet ${RELEASE}-${dir}`);
  return found;
}

function mainContainer(set: Manifest): Container {
  const container = set.spec?.template?.spec.containers[0];
  if (container === undefined) throw new Error(`${set.metadata.name} has no container`);
  return container;
}

function envMap(container: Container): Map<string, EnvVar> {
  return new Map((container.env ?? []).map((entry) => [entry.name, entry]));
}

const ciFiles = readdirSync(CI_DIR)
  .filter((file) => file.endsWith('-values.yaml'))
  .map((file) => join(CI_DIR, file));

beforeAll(() => {
  helm = execFileSync('bash', [join(ROOT, 'scripts', 'tools', 'ensure-helm.sh')], { encoding: 'utf8' }).trim();
}, 900_000);

describe('helm chart safe-network', () => {
  it('passes helm lint with the defaults and with every ci values file', () => {
    for (const files of [[], ...ciFiles.map((file) => [file])]) {
      const result = run(['lint', CHART, '--strict', ...files.flatMap((file) => ['-f', file])]);
      expect(result.stderr + result.stdout, files.join(' ')).toMatch(/0 chart\(s\) failed/);
      expect(result.status).toBe(0);
    }
  });

  it('has ci values files to test', () => {
    expect(ciFiles.map((file) => file.slice(CI_DIR.length + 1)).sort()).toEqual(
      expect.arrayContaining(['dev-values.yaml', 'external-values.yaml', 'scale-values.yaml']),
    );
  });

  for (const files of [[], ...ciFiles.map((file) => [file])]) {
    const label = files.length === 0 ? 'default values' : files.map((file) => file.slice(CI_DIR.length + 1)).join(' ');

    it(`${label}: a StatefulSet and headless Service per persona; every env var is one its service reads`, () => {
      const manifests = template(files);
      for (const block of BLOCKS) {
        const { dir, own } = PERSONAS[block];
        const set = statefulSet(manifests, dir);
        const headless = manifests.find((m) => m.kind === 'Service' && m.metadata.name === set.spec?.serviceName);
        expect(headless?.spec?.clusterIP, dir).toBe('None');

        const container = mainContainer(set);
        const readable = new Set([...envOf(HOST), ...envOf(GROUP), ...envOf(own)]);
        for (const entry of container.env ?? []) {
          if (NOT_SERVICE_CONFIG.has(entry.name)) continue;
          expect(readable.has(entry.name), `${dir} gets ${entry.name}, which it does not read`).toBe(true);
        }
        const env = envMap(container);
        expect(env.get('SAFE_NETWORK')?.value).toMatch(/^[a-z0-9][a-z0-9-]*$/);
        expect(env.get('SAFE_DATA_DIR')?.value).toBe('/data');
        expect(env.get('SAFE_K')?.value).toMatch(/^\d+$/);
        expect(env.get('SAFE_ADVERTISE_HOST')?.value).toBe(`$(POD_NAME).${RELEASE}-${dir}.${NAMESPACE}.svc.cluster.local`);
        expect(env.get('POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
        // The PmidNode has no Postgres schema: it is not given the URL it would ignore.
        expect(env.has('SAFE_POSTGRES_URL')).toBe(block !== 'pmidNode');
        expect(env.get('SAFE_REDIS_URL')?.valueFrom?.secretKeyRef).toBeDefined();

        const admin = container.ports?.find((port) => port.name === 'admin');
        expect(env.get('SAFE_ADMIN_PORT')?.value).toBe(String(admin?.containerPort));
        expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'admin' });
        if (label.startsWith('external')) {
          // grpcHealthProbe: grpc.health.v1 on the port the replica's gRPC server listens on.
          expect(container.readinessProbe?.httpGet).toBeUndefined();
          expect(String(container.readinessProbe?.grpc?.port)).toBe(env.get('SAFE_GRPC_PORT')?.value);
        } else {
          expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'admin' });
        }
        const annotations = set.spec?.template?.metadata?.annotations ?? {};
        expect(annotations['prometheus.io/scrape']).toBe('true');
        expect(annotations['prometheus.io/port']).toBe(String(admin?.containerPort));
        expect(container.command?.at(-1)).toBe(`services/${dir}/dist/main.js`);
      }
      const gateway = manifests.find((m) => m.kind === 'Service' && m.metadata.name === `${RELEASE}-gateway`);
      expect(gateway).toBeDefined();
    });
  }

  it("the environment each pod would get passes its service's own start-up validation", () => {
    for (const files of [[], ...ciFiles.map((file) => [file])]) {
      const manifests = template(files);
      const secrets = new Map(manifests.filter((m) => m.kind === 'Secret').map((m) => [m.metadata.name, m.stringData ?? {}]));
      for (const block of BLOCKS) {
        const { dir, fields } = PERSONAS[block];
        const pod = `${RELEASE}-${dir}-0`;
        const env: Record<string, string> = {};
        for (const entry of mainContainer(statefulSet(manifests, dir)).env ?? []) {
          const ref = entry.valueFrom?.secretKeyRef;
          let value = entry.value;
          if (entry.valueFrom?.fieldRef?.fieldPath === 'metadata.name') value = pod;
          // A Secret of the operator's (existingSecret) is not in the render: a stand-in URL of its kind.
          else if (ref !== undefined)
            value = secrets.get(ref.name)?.[ref.key] ?? (entry.name === 'SAFE_REDIS_URL' ? 'redis://r:6379' : 'postgres://p:5432/safe');
          // Kubernetes expands $(VAR) from the variables defined before it.
          env[entry.name] = (value ?? '').replace(/\$\((\w+)\)/g, (_, name: string) => env[name] ?? '');
        }
        const config = loadReplicaConfig(fields, env);
        expect(config.advertiseHost, `${dir} ${files.join(' ')}`).toBe(`${pod}.${RELEASE}-${dir}.${NAMESPACE}.svc.cluster.local`);
        expect(config.dataDir).toBe('/data');
        expect(config.network).not.toBe('');
      }
    }
  });

  it('default values: replica counts, PVC templates, SAFE_NETWORK = release name, URLs in the chart Secret', () => {
    const manifests = template();
    const expected: Record<Block, number> = {
      maidManager: 6,
      dataManager: 6,
      versionManager: 6,
      mpidManager: 6,
      pmidManager: 6,
      pmidNode: 8,
    };
    for (const block of BLOCKS) {
      const set = statefulSet(manifests, PERSONAS[block].dir);
      expect(set.spec?.replicas, block).toBe(expected[block]);
      const claim = set.spec?.volumeClaimTemplates?.[0];
      expect(claim?.metadata.name).toBe('data');
      expect(claim?.spec.resources.requests.storage).toBe(block === 'pmidNode' ? '10Gi' : '1Gi');
      const env = envMap(mainContainer(set));
      expect(env.get('SAFE_NETWORK')?.value).toBe(RELEASE);
      expect(env.get('SAFE_REDIS_URL')?.valueFrom?.secretKeyRef).toEqual({ name: `${RELEASE}-infra`, key: 'redis-url' });
      // No tracing endpoint: no OTel preload.
      expect(mainContainer(set).command).toEqual(['node', `services/${PERSONAS[block].dir}/dist/main.js`]);
      expect(env.has('OTEL_EXPORTER_OTLP_ENDPOINT')).toBe(false);
    }
    const secret = manifests.find((m) => m.kind === 'Secret' && m.metadata.name === `${RELEASE}-infra`);
    expect(secret?.stringData).toEqual({ 'postgres-url': 'postgres://safe@postgres:5432/safe', 'redis-url': 'redis://redis:6379' });
  });

  it('scale-values: DataManagers scaled to 7, every other persona unchanged', () => {
    const manifests = template([join(CI_DIR, 'scale-values.yaml')]);
    expect(statefulSet(manifests, 'data-manager').spec?.replicas).toBe(7);
    expect(statefulSet(manifests, 'maid-manager').spec?.replicas).toBe(6);
    expect(statefulSet(manifests, 'pmid-manager').spec?.replicas).toBe(6);
    expect(statefulSet(manifests, 'version-manager').spec?.replicas).toBe(6);
    expect(statefulSet(manifests, 'mpid-manager').spec?.replicas).toBe(6);
    expect(statefulSet(manifests, 'pmid-node').spec?.replicas).toBe(8);
    const scaled = template([], ['dataManager.replicas=8']);
    expect(statefulSet(scaled, 'data-manager').spec?.replicas).toBe(8);
  });

  it('PmidNodes wait for the readyz of every PmidManager before offering space', () => {
    const manifests = template([], ['pmidManager.replicas=5']);
    const wait = statefulSet(manifests, 'pmid-node').spec?.template?.spec.initContainers?.[0];
    const urls = (wait?.command ?? []).filter((arg) => arg.startsWith('http://'));
    expect(urls).toEqual(
      [0, 1, 2, 3, 4].map((i) => `http://${RELEASE}-pmid-manager-${i}.${RELEASE}-pmid-manager.${NAMESPACE}.svc.cluster.local:9464/readyz`),
    );
    for (const block of ['maidManager', 'dataManager', 'versionManager', 'mpidManager', 'pmidManager'] as const) {
      expect(statefulSet(manifests, PERSONAS[block].dir).spec?.template?.spec.initContainers).toBeUndefined();
    }
  });

  it('external-values: every setting reaches the env var of the config field it names; Secrets referenced, not inlined', () => {
    const file = join(CI_DIR, 'external-values.yaml');
    const values = parseAllDocuments(readFileSync(file, 'utf8'))[0]?.toJS() as Record<string, Record<string, unknown>>;
    const manifests = template([file]);
    for (const block of BLOCKS) {
      const { dir, own } = PERSONAS[block];
      const env = envMap(mainContainer(statefulSet(manifests, dir)));
      const given: [Record<string, { env: string }>, Record<string, unknown>][] = [
        [GROUP, values.group ?? {}],
        [HOST, values.replica ?? {}],
        [own, ((values[block] ?? {}) as { config?: Record<string, unknown> }).config ?? {}],
      ];
      for (const [fields, settings] of given) {
        for (const [key, value] of Object.entries(settings)) {
          const field = fields[key];
          expect(field, `${dir}: ${key} is no config field`).toBeDefined();
          expect(env.get(field?.env ?? '')?.value, `${dir}: ${key}`).toBe(String(value));
        }
      }
      expect(env.get('SAFE_NETWORK')?.value).toBe('testnet-b');
      expect(env.get('SAFE_KAFKA_BROKERS')?.value).toBe('kafka-0.kafka.infra:9092,kafka-1.kafka.infra:9092');
      expect(env.get('SAFE_REDIS_URL')?.valueFrom?.secretKeyRef).toEqual({ name: 'safe-infra', key: 'redis' });
      if (block !== 'pmidNode') expect(env.get('SAFE_POSTGRES_URL')?.valueFrom?.secretKeyRef).toEqual({ name: 'safe-infra', key: 'pg' });
      expect(env.get('OTEL_EXPORTER_OTLP_ENDPOINT')?.value).toBe('http://jaeger-collector.observability:4318');
      expect(mainContainer(statefulSet(manifests, dir)).command?.slice(0, 3)).toEqual(['node', '--import', './packages/host/dist/otel.js']);
    }
    // Every DataManager and PmidManager field is settable through the chart.
    const dm = envMap(mainContainer(statefulSet(manifests, 'data-manager')));
    for (const { env } of Object.values(PERSONAS.dataManager.own)) expect(dm.has(env), env).toBe(true);
    // 40 GiB does not turn into 4.294967296e+10 on its way through the YAML.
    expect(envMap(mainContainer(statefulSet(manifests, 'pmid-node'))).get('SAFE_PMID_CAPACITY')?.value).toBe('42949672960');
    expect(manifests.some((m) => m.kind === 'Secret')).toBe(false);
  });

  it('dev-values: in-chart Postgres, Redis, Kafka and Jaeger, and the personas pointed at them', () => {
    const manifests = template([join(CI_DIR, 'dev-values.yaml')]);
    for (const part of ['postgres', 'redis', 'kafka']) expect(statefulSet(manifests, part).spec?.replicas).toBe(1);
    expect(manifests.some((m) => m.kind === 'Deployment' && m.metadata.name === `${RELEASE}-jaeger`)).toBe(true);
    const env = envMap(mainContainer(statefulSet(manifests, 'data-manager')));
    expect(env.get('SAFE_KAFKA_BROKERS')?.value).toBe(`${RELEASE}-kafka:9092`);
    expect(env.get('SAFE_K')?.value).toBe('3');
    expect(env.get('OTEL_EXPORTER_OTLP_ENDPOINT')?.value).toBe(`http://${RELEASE}-jaeger:4318`);
    const secret = manifests.find((m) => m.kind === 'Secret');
    expect(secret?.stringData?.['postgres-url']).toBe(`postgres://safe:safe-dev@${RELEASE}-postgres:5432/safe`);
    // persistence off: an emptyDir instead of a claim.
    expect(statefulSet(manifests, 'maid-manager').spec?.volumeClaimTemplates).toBeUndefined();
  });

  it('adoptVaults (testnet only): a PKCS#8 Ed25519 key per PmidNode, installed on its volume and readable by the MaidManagers', () => {
    const manifests = template([join(CI_DIR, 'dev-values.yaml')]);
    const keys = manifests.find((m) => m.kind === 'Secret' && m.metadata.name === `${RELEASE}-pmid-node-keys`);
    const files = Object.keys(keys?.data ?? {}).sort();
    expect(files).toEqual([0, 1, 2, 3].map((i) => `${RELEASE}-pmid-node-${i}.key`));
    const names = new Set<string>();
    for (const file of files) {
      const identity = importIdentity(Buffer.from(keys?.data?.[file] ?? '', 'base64'));
      names.add(Buffer.from(identity.name).toString('hex'));
    }
    expect(names.size).toBe(4);

    const pmidNode = statefulSet(manifests, 'pmid-node').spec?.template?.spec;
    expect(pmidNode?.initContainers?.map((c) => c.name)).toEqual(['install-node-key', 'wait-for-pmid-managers']);
    expect(pmidNode?.volumes?.find((v) => v.name === 'vault-keys-secret')?.secret?.secretName).toBe(`${RELEASE}-pmid-node-keys`);
    const maid = statefulSet(manifests, 'maid-manager');
    expect(envMap(mainContainer(maid)).get('SAFE_TESTNET_ADOPT_VAULT_KEYS_DIR')?.value).toBe('/vault-keys');
    expect(maid.spec?.template?.spec.initContainers?.map((c) => c.name)).toEqual(['copy-vault-keys']);
    // Off by default: no key leaves its PmidNode.
    const plain = template();
    expect(plain.some((m) => m.metadata.name === `${RELEASE}-pmid-node-keys`)).toBe(false);
    expect(envMap(mainContainer(statefulSet(plain, 'maid-manager'))).has('SAFE_TESTNET_ADOPT_VAULT_KEYS_DIR')).toBe(false);
  });

  it('a setting set to null is not passed on: the service default stands', () => {
    const env = envMap(
      mainContainer(statefulSet(template([], ['group.cacheBytes=null', 'dataManager.config.maxHolders=null']), 'data-manager')),
    );
    expect(env.has('SAFE_CACHE_BYTES')).toBe(false);
    expect(env.has('SAFE_DM_MAX_HOLDERS')).toBe(false);
    expect(env.get('SAFE_K')?.value).toBe('4');
  });

  it('fails with a clear message for values that cannot make a network', () => {
    const bad: [string[], RegExp][] = [
      [['dataManager.replicas=3'], /dataManager\.replicas \(3\) is below the close group size K = group\.closeGroupSize \(4\)/],
      [['group.closeGroupSize=5', 'pmidManager.replicas=4'], /pmidManager\.replicas \(4\) is below .*\(5\)/],
      [['versionManager.replicas=2'], /versionManager\.replicas \(2\) is below .*\(4\): a version-manager close group needs K members/],
      [['mpidManager.replicas=3'], /mpidManager\.replicas \(3\) is below .*\(4\): a mpid-manager close group needs K members/],
      [['dataManager.config.copiesPerGroupp=2'], /dataManager\.config\.copiesPerGroupp is not a setting of this service/],
      [['kafka.brokers=null'], /kafka\.brokers is empty/],
      // values.schema.json
      [['dataManager.replicas=two'], /dataManager\.replicas: Invalid type/],
      [['network=Test_Net'], /network: Does not match pattern/],
      // values.schema.json: bounds and choices of the config fields (scripts/helm/values-schema.mjs)
      [['group.closeGroupSize=33'], /group\.closeGroupSize: Must be less than or equal to 32/],
      [['replica.tickMs=5'], /replica\.tickMs: Must be greater than or equal to 10/],
      [
        ['dataManager.config.farmingPolicy=quadratic'],
        /dataManager\.config\.farmingPolicy must be one of the following: "linear", "exponential"/,
      ],
      [['pmidNode.config.pmidCapacity=0'], /pmidNode\.config\.pmidCapacity: Must be greater than or equal to 1/],
    ];
    for (const [sets, message] of bad) {
      const result = run(['template', RELEASE, CHART, ...sets.flatMap((set) => ['--set', set])]);
      expect(result.status, sets.join(' ')).not.toBe(0);
      expect(result.stderr).toMatch(message);
    }
  });
});
