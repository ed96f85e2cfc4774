#!/usr/bin/env node
// Per component of a release, the largest memory working set and CPU use of its pods right now,
// from the kubelet's stats summary (no metrics-server needed). How the chart's resources were set:
//   node scripts/k8s/pod-usage.mjs <namespace> [release]     (KUBECONFIG/PATH from `pnpm k8s env`)
import { execFileSync } from 'node:child_process';

const [namespace, release] = process.argv.slice(2);
if (!namespace) {
  console.error('usage: pod-usage.mjs <namespace> [release]');
  process.exit(2);
}
const kubectl = (...args) => execFileSync('kubectl', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
const byComponent = new Map();
for (const node of JSON.parse(kubectl('get', 'nodes', '-o', 'json')).items) {
  const summary = JSON.parse(kubectl('get', '--raw', `/api/v1/nodes/${node.metadata.name}/proxy/stats/summary`));
  for (const pod of summary.pods ?? []) {
    if (pod.podRef.namespace !== namespace) continue;
    if (release && !pod.podRef.name.startsWith(`${release}-`)) continue;
    const component = pod.podRef.name.replace(/-\d+$/, '').replace(/-[a-z0-9]{8,10}-[a-z0-9]{5}$/, '');
    const mem = pod.memory?.workingSetBytes ?? 0;
    const cpu = (pod.cpu?.usageNanoCores ?? 0) / 1e6;
    const seen = byComponent.get(component) ?? { pods: 0, memMiB: 0, cpuMilli: 0 };
    byComponent.set(component, {
      pods: seen.pods + 1,
      memMiB: Math.max(seen.memMiB, Math.round(mem / 2 ** 20)),
      cpuMilli: Math.max(seen.cpuMilli, Math.round(cpu)),
    });
  }
}
console.log('component'.padEnd(28), 'pods', 'max working set (MiB)', 'max CPU (millicores)');
for (const [component, u] of [...byComponent].sort()) {
  console.log(component.padEnd(28), String(u.pods).padStart(4), String(u.memMiB).padStart(21), String(u.cpuMilli).padStart(20));
}
