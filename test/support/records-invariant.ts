import { type HandlerContext, type Name, type PersonaDefinition, type PersonaRecords, shortName, toHex } from '@safe/core';
import type { SimNode } from '@safe/core/sim';
import { dataManagerPersona } from '@safe/data-manager';
import { maidManagerPersona } from '@safe/maid-manager';
import { mpidManagerPersona } from '@safe/mpid-manager';
import { pmidManagerPersona } from '@safe/pmid-manager';
import { schemaFor } from '@safe/testnet';
import { versionManagerPersona } from '@safe/version-manager';
import type { SimNet } from './sim-network.js';

export const MANAGER_PERSONAS = ['maid-manager', 'data-manager', 'pmid-manager', 'version-manager', 'mpid-manager'] as const;
export type ManagerPersona = (typeof MANAGER_PERSONAS)[number];

const DEFINITIONS: Record<ManagerPersona, PersonaDefinition<unknown>> = {
  'maid-manager': maidManagerPersona as PersonaDefinition<unknown>,
  'data-manager': dataManagerPersona as PersonaDefinition<unknown>,
  'pmid-manager': pmidManagerPersona as PersonaDefinition<unknown>,
  'version-manager': versionManagerPersona as PersonaDefinition<unknown>,
  'mpid-manager': mpidManagerPersona as PersonaDefinition<unknown>,
};

export interface HeldRecord {
  readonly nae: Name;
  readonly key: Uint8Array;
  /** replica (hex) → value (hex) */
  readonly values: Map<string, string>;
}

/** What one replica held when last read: each record (id, NAE, key, value as hex or '(gone)'). */
interface ReplicaRecords {
  readonly replica: unknown;
  readonly writes: number;
  readonly records: readonly { id: string; nae: Name; key: Uint8Array; value: string }[];
}

/**
 * The records each replica held when last read, by network and replica (hex): read again only when
 * the replica is another (a restart) or its schema was written since (SimNet.sqlWrites), as each
 * persona's `list` and `read` answer from its tables alone (a quarter or so of the reads in churn-all).
 */
const lastRead = new WeakMap<SimNet, Map<string, ReplicaRecords>>();

async function readReplica(net: SimNet, persona: ManagerPersona, node: SimNode) {
  const records = DEFINITIONS[persona].records as PersonaRecords<unknown>;
  const hex = toHex(node.info.name);
  const identity = net.identities.get(hex);
  const schema = identity && schemaFor(persona, identity);
  const cache = lastRead.get(net) ?? new Map<string, ReplicaRecords>();
  lastRead.set(net, cache);
  const cached = cache.get(hex);
  const writes = schema === undefined ? undefined : net.sqlWrites(schema);
  if (cached !== undefined && writes !== undefined && cached.replica === node.replica && cached.writes === writes) return cached.records;
  const ctx = node.replica.context as HandlerContext<unknown>;
  const read: { id: string; nae: Name; key: Uint8Array; value: string }[] = [];
  for await (const refs of records.list(ctx)) {
    for (const ref of refs) {
      const value = await records.read(ctx, ref.nae, ref.key);
      read.push({
        id: `${toHex(ref.nae)}:${toHex(ref.key)}`,
        nae: ref.nae,
        key: ref.key,
        value: value === undefined ? '(gone)' : toHex(value),
      });
    }
  }
  if (writes !== undefined) cache.set(hex, { replica: node.replica, writes, records: read });
  return read;
}

/** Every record of `persona`, read from each replica's own store: who holds it, with which value. */
export async function recordsOf(net: SimNet, persona: ManagerPersona): Promise<Map<string, HeldRecord>> {
  const out = new Map<string, HeldRecord>();
  for (const node of net.sim.nodes(persona)) {
    for (const { id, nae, key, value } of await readReplica(net, persona, node)) {
      const held = out.get(id) ?? { nae, key, values: new Map<string, string>() };
      held.values.set(toHex(node.info.name), value);
      out.set(id, held);
    }
  }
  return out;
}

/**
 * SPEC.md 5a: every record of every manager persona is held by exactly the K replicas of its
 * persona closest to its NAE, all with the same value. Returns what is wrong (empty when nothing),
 * and the number of records checked.
 */
export async function checkRecordInvariant(net: SimNet): Promise<{
  violations: string[];
  records: Record<ManagerPersona, number>;
  /** The records read, persona by persona, for further checks without reading every store again. */
  held: Record<ManagerPersona, Map<string, HeldRecord>>;
}> {
  const k = net.sim.params.closeGroupSize;
  const violations: string[] = [];
  const counts = { 'maid-manager': 0, 'data-manager': 0, 'pmid-manager': 0, 'version-manager': 0, 'mpid-manager': 0 };
  const all = {} as Record<ManagerPersona, Map<string, HeldRecord>>;
  for (const persona of MANAGER_PERSONAS) {
    const view = net.sim.routing.view(persona);
    all[persona] = await recordsOf(net, persona);
    for (const [id, held] of all[persona]) {
      counts[persona]++;
      const expected = view.closeGroup(held.nae, k).map(toHex);
      const holders = [...held.values.keys()];
      const missing = expected.filter((n) => !held.values.has(n));
      const extra = holders.filter((n) => !expected.includes(n));
      const what = `${persona} record ${shortName(held.nae)}/${id.split(':')[1]?.slice(0, 8) ?? ''}`;
      if (missing.length > 0) violations.push(`${what}: missing on ${missing.map((n) => n.slice(0, 8)).join(', ')}`);
      if (extra.length > 0) violations.push(`${what}: still on ${extra.map((n) => n.slice(0, 8)).join(', ')} (not in its close group)`);
      const values = new Set(expected.map((n) => held.values.get(n)).filter((v) => v !== undefined));
      if (values.size > 1) {
        // Show each value from the first byte where they differ.
        const list = [...values] as string[];
        let at = 0;
        while (list.every((v) => v[at] === list[0]?.[at])) at++;
        at -= at % 2;
        const by = expected.map((n) => `${n.slice(0, 8)}=…[${at / 2}]${(held.values.get(n) ?? '-').slice(at, at + 24)}`).join(' ');
        violations.push(`${what}: values differ: ${by}`);
      }
    }
  }
  return { violations, records: counts, held: all };
}
