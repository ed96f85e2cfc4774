import { closestNames, type Name, nameEquals, toHex } from './name.js';

/** The personas of SPEC.md section 3, plus the client (MaidNode) that talks to them. */
export const PERSONAS = ['maid-manager', 'data-manager', 'pmid-manager', 'pmid-node', 'version-manager', 'mpid-manager'] as const;
export type PersonaName = (typeof PERSONAS)[number];
/** The personas in the order a request travels: how Info and testnet summaries list them. */
export const REPORT_ORDER: readonly PersonaName[] = [
  'maid-manager',
  'data-manager',
  'version-manager',
  'mpid-manager',
  'pmid-manager',
  'pmid-node',
];
/** A source that is not a network persona: a client (MaidNode / MpidNode). */
export const CLIENT = 'client';
export type SourcePersona = PersonaName | typeof CLIENT;

export function isPersonaName(value: string): value is PersonaName {
  return (PERSONAS as readonly string[]).includes(value);
}

/**
 * One PmidManager's word on a PmidNode's rank (SPEC.md 3.4 Ranking): stored / (stored + lost),
 * from 0 to 1. A PmidManager announces the ranks of the PmidNodes it manages that lost data.
 */
export interface RankReport {
  readonly pmid: Name;
  readonly rank: number;
}

/** A PmidNode nobody reports on has lost nothing: it is trusted. */
export const UNRANKED = 1;

export interface NodeInfo {
  readonly persona: PersonaName;
  readonly name: Name;
  readonly publicKey: Uint8Array;
  /** Where direct messages reach it (gRPC address), when it has one. */
  readonly endpoint?: string;
  /** A PmidManager's rank reports, from its announcement. */
  readonly rankReports?: readonly RankReport[];
}

/** The lower middle of `values` (a value some member holds), or undefined for none. */
export function lowerMedian(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** One persona's XOR space as this node currently sees it. Immutable: churn makes a new view. */
export class GroupView {
  readonly persona: PersonaName;
  readonly #nodes: ReadonlyMap<string, NodeInfo>;
  readonly #names: readonly Name[];

  constructor(persona: PersonaName, nodes: Iterable<NodeInfo>) {
    this.persona = persona;
    const map = new Map<string, NodeInfo>();
    for (const node of nodes) map.set(toHex(node.name), node);
    this.#nodes = map;
    this.#names = [...map.values()].map((n) => n.name);
  }

  get size(): number {
    return this.#names.length;
  }

  names(): readonly Name[] {
    return this.#names;
  }

  nodes(): Iterable<NodeInfo> {
    return this.#nodes.values();
  }

  get(name: Name): NodeInfo | undefined {
    return this.#nodes.get(toHex(name));
  }

  has(name: Name): boolean {
    return this.#nodes.has(toHex(name));
  }

  /** The close group of `nae`: the `k` known nodes closest to it, closest first. */
  closeGroup(nae: Name, k: number): Name[] {
    return closestNames(nae, this.#names, k);
  }

  /** Whether `node` is one of the `k` nodes closest to `nae` in this view. */
  isInCloseGroup(node: Name, nae: Name, k: number): boolean {
    return this.closeGroup(nae, k).some((n) => nameEquals(n, node));
  }

  with(node: NodeInfo): GroupView {
    return new GroupView(this.persona, [...this.#nodes.values(), node]);
  }

  without(name: Name): GroupView {
    const key = toHex(name);
    return new GroupView(
      this.persona,
      [...this.#nodes.values()].filter((n) => toHex(n.name) !== key),
    );
  }
}

/** Every persona's view, as one node sees the network. */
export class RoutingTable {
  readonly #views: ReadonlyMap<PersonaName, GroupView>;
  /** PmidNode (hex) → PmidManager (hex) → the rank that manager reports. */
  readonly #rankReports: ReadonlyMap<string, ReadonlyMap<string, number>>;

  constructor(nodes: Iterable<NodeInfo> = []) {
    const byPersona = new Map<PersonaName, NodeInfo[]>();
    for (const node of nodes) {
      const list = byPersona.get(node.persona) ?? [];
      list.push(node);
      byPersona.set(node.persona, list);
    }
    const views = new Map<PersonaName, GroupView>();
    for (const persona of PERSONAS) views.set(persona, new GroupView(persona, byPersona.get(persona) ?? []));
    this.#views = views;
    const reports = new Map<string, Map<string, number>>();
    for (const manager of byPersona.get('pmid-manager') ?? []) {
      for (const { pmid, rank } of manager.rankReports ?? []) {
        const byManager = reports.get(toHex(pmid)) ?? new Map<string, number>();
        byManager.set(toHex(manager.name), rank);
        reports.set(toHex(pmid), byManager);
      }
    }
    this.#rankReports = reports;
  }

  /**
   * A PmidNode's rank as its PmidManager group has it: the lower median of what the `k` managers
   * closest to it report (a manager that reports nothing on it says it lost nothing). A minority
   * of managers cannot move it, and managers outside the group are not heard.
   */
  agreedRank(pmid: Name, k: number): number {
    const byManager = this.#rankReports.get(toHex(pmid));
    if (byManager === undefined) return UNRANKED;
    const group = this.view('pmid-manager').closeGroup(pmid, k);
    return lowerMedian(group.map((manager) => byManager.get(toHex(manager)) ?? UNRANKED)) ?? UNRANKED;
  }

  view(persona: PersonaName): GroupView {
    return this.#views.get(persona) as GroupView;
  }

  allNodes(): NodeInfo[] {
    return [...this.#views.values()].flatMap((v) => [...v.nodes()]);
  }

  with(node: NodeInfo): RoutingTable {
    return new RoutingTable([...this.allNodes().filter((n) => !(n.persona === node.persona && nameEquals(n.name, node.name))), node]);
  }

  without(persona: PersonaName, name: Name): RoutingTable {
    return new RoutingTable(this.allNodes().filter((n) => !(n.persona === persona && nameEquals(n.name, name))));
  }
}

/** A stable text of rank reports, to tell a new announcement from a repeat. */
export function rankReportsSignature(reports: readonly RankReport[] | undefined): string {
  return (reports ?? []).map((r) => `${toHex(r.pmid)}=${r.rank}`).join(',');
}

/**
 * The view with `persona`/`name`'s rank reports replaced by `reports`, or undefined when the node
 * is not in it or its reports did not change (no new view, so no routing update for nothing).
 */
function withRankReports(
  routing: RoutingTable,
  persona: PersonaName,
  name: Name,
  reports: readonly RankReport[],
): RoutingTable | undefined {
  const node = routing.view(persona).get(name);
  if (node === undefined || rankReportsSignature(node.rankReports) === rankReportsSignature(reports)) return undefined;
  return routing.with({ ...node, rankReports: reports });
}

/**
 * The view with every node's current rank reports, or undefined when none changed: what an
 * in-process network announces after a tick, as the membership does between processes.
 * `reportsOf` answers undefined for a node that reports nothing (not a PmidManager).
 */
export async function refreshRankReports(
  routing: RoutingTable,
  reportsOf: (node: NodeInfo) => Promise<readonly RankReport[]> | undefined,
): Promise<RoutingTable | undefined> {
  let next: RoutingTable | undefined;
  for (const node of routing.allNodes()) {
    const reports = await reportsOf(node);
    if (reports !== undefined) next = withRankReports(next ?? routing, node.persona, node.name, reports) ?? next;
  }
  return next;
}

export interface HolderCheck {
  /** I am among the K closest to the NAE after the change. */
  readonly responsible: boolean;
  /** I was among the K closest before the change. */
  readonly wasResponsible: boolean;
  /** Members of the new close group that were not in the old one: they need the NAE's records. */
  readonly newHolders: Name[];
  /** Members of the old close group that are gone from it: their ids are replaced in sync entries. */
  readonly oldHolders: Name[];
  /** The close group after the change, closest first. */
  readonly closeGroup: Name[];
}

/**
 * A matrix change (churn event) within one persona: the node sets before and after. For any NAE
 * it says whether this node is still responsible, which new members need the NAE's records and
 * which records this node must drop (MaidSafe routing's MatrixChange::CheckHolders).
 */
export class MatrixChange {
  readonly self: Name;
  readonly oldNodes: readonly Name[];
  readonly newNodes: readonly Name[];
  readonly k: number;

  constructor(self: Name, oldNodes: readonly Name[], newNodes: readonly Name[], k: number) {
    this.self = self;
    this.oldNodes = oldNodes;
    this.newNodes = newNodes;
    this.k = k;
  }

  get added(): Name[] {
    const old = new Set(this.oldNodes.map(toHex));
    return this.newNodes.filter((n) => !old.has(toHex(n)));
  }

  get removed(): Name[] {
    const now = new Set(this.newNodes.map(toHex));
    return this.oldNodes.filter((n) => !now.has(toHex(n)));
  }

  get isEmpty(): boolean {
    return this.added.length === 0 && this.removed.length === 0;
  }

  checkHolders(nae: Name): HolderCheck {
    const before = closestNames(nae, this.oldNodes, this.k);
    const after = closestNames(nae, this.newNodes, this.k);
    const beforeSet = new Set(before.map(toHex));
    const afterSet = new Set(after.map(toHex));
    const selfHex = toHex(this.self);
    return {
      responsible: afterSet.has(selfHex),
      wasResponsible: beforeSet.has(selfHex),
      newHolders: after.filter((n) => !beforeSet.has(toHex(n))),
      oldHolders: before.filter((n) => !afterSet.has(toHex(n))),
      closeGroup: after,
    };
  }

  /** A record this node holds for `nae` must be dropped (after handing it over) when this is true. */
  shouldDrop(nae: Name): boolean {
    return !this.checkHolders(nae).responsible;
  }
}

/**
 * Who a copy is delivered to: the node a node-scoped message names, or every member of the close
 * group of the destination NAE. Each receiver checks again with its own view; this is the bus's
 * part, shared by every bus adapter.
 */
export function recipients(
  routing: RoutingTable,
  destination: { persona: string; nae: Name },
  scope: 'close-group' | 'node',
  k: number,
): Name[] {
  if (!isPersonaName(destination.persona)) return [];
  const view = routing.view(destination.persona);
  if (scope === 'node') return view.has(destination.nae) ? [destination.nae] : [];
  return view.closeGroup(destination.nae, k);
}
