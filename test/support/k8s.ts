import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';

/** The one-node cluster of `pnpm k8s up` (scripts/k8s/k8s.sh): its kubectl and helm, with its kubeconfig. */
export const ROOT = join(import.meta.dirname, '..', '..');
export const CHART = join(ROOT, 'helm', 'safe-network');
const K8S = join(ROOT, 'scripts', 'k8s', 'k8s.sh');

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

export interface Cluster {
  readonly env: NodeJS.ProcessEnv;
  /** kubectl ARGS in the namespace; throws with its stderr when it fails. */
  kubectl(...args: string[]): Promise<string>;
  helm(...args: string[]): Promise<string>;
}

/** The cluster `pnpm k8s up` runs, or an error saying how to start it. */
export async function cluster(namespace: string): Promise<Cluster> {
  const status = await run('bash', [K8S, 'status'], process.env);
  if (status.code !== 0) throw new Error(`no one-node cluster: run 'pnpm k8s up' and 'pnpm k8s images' first\n${status.stdout}`);
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const line of (await run('bash', [K8S, 'env'], process.env)).stdout.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line);
    if (match?.[1] !== undefined) env[match[1]] = (match[2] ?? '').replace('$PATH', process.env.PATH ?? '');
  }
  const checked = async (cmd: string, args: string[]) => {
    const result = await run(cmd, args, env);
    if (result.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${result.code}\n${result.stderr}`);
    return result.stdout;
  };
  return {
    env,
    kubectl: (...args) => checked('kubectl', ['-n', namespace, ...args]),
    helm: (...args) => checked('helm', ['-n', namespace, ...args]),
  };
}

export interface Forward {
  readonly endpoint: string;
  close(): void;
}

/** `kubectl port-forward TARGET :PORT`: the local 127.0.0.1 endpoint it picked. */
export function portForward(k: Cluster, namespace: string, target: string, port: number): Promise<Forward> {
  const child = spawn('kubectl', ['-n', namespace, 'port-forward', target, `:${port}`], { env: k.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let said = '';
  return new Promise((resolve, reject) => {
    const seen = (chunk: Buffer) => {
      said += chunk.toString();
      const local = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(said)?.[1];
      if (local !== undefined) resolve({ endpoint: `127.0.0.1:${local}`, close: () => child.kill('SIGTERM') });
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.on('exit', (code) => reject(new Error(`kubectl port-forward ${target} exited ${code}: ${said}`)));
  });
}

export interface PodState {
  readonly name: string;
  readonly uid: string;
  readonly restarts: number;
  readonly ready: boolean;
}

/** Every pod of the release's persona (app.kubernetes.io/component), by name. */
export async function pods(k: Cluster, release: string, component?: string): Promise<PodState[]> {
  const selector = `app.kubernetes.io/instance=${release}${component ? `,app.kubernetes.io/component=${component}` : ''}`;
  const list = JSON.parse(await k.kubectl('get', 'pods', '-l', selector, '-o', 'json')) as {
    items: {
      metadata: { name: string; uid: string; deletionTimestamp?: string };
      status: { containerStatuses?: { restartCount: number; ready: boolean }[] };
    }[];
  };
  return list.items
    .filter((pod) => pod.metadata.deletionTimestamp === undefined)
    .map((pod) => ({
      name: pod.metadata.name,
      uid: pod.metadata.uid,
      restarts: (pod.status.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0),
      ready: (pod.status.containerStatuses ?? []).every((c) => c.ready) && (pod.status.containerStatuses ?? []).length > 0,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
