import {
  type Address,
  type Envelope,
  isPersonaName,
  type MemberAnnouncement,
  NAME_BYTES,
  type Name,
  type NodeInfo,
  nameEquals,
  nameForPublicKey,
  PUBLIC_KEY_BYTES,
  type RankReport,
  RoutingTable,
  rankReportsSignature,
  type Transport,
  toHex,
} from '@safe/core';

/**
 * Where each copy goes: a node-scoped message (a Sync to one member, a ClientReply to the entry,
 * PmidManager → PmidNode, DataManager → PmidNode Get, a PmidNode's answers) straight to that node
 * over gRPC; a close-group message onto the group bus (Kafka topic of the destination persona).
 */
export class SplitTransport implements Transport {
  readonly #direct: Transport;
  readonly #group: Transport;

  constructor(direct: Transport, group: Transport) {
    this.#direct = direct;
    this.#group = group;
  }

  send(envelope: Envelope): void | Promise<void> {
    return envelope.scope === 'node' ? this.#direct.send(envelope) : this.#group.send(envelope);
  }
}

export interface MembersView {
  /** Every announced member whose announcement checks out, as the routing view has it. */
  readonly nodes: NodeInfo[];
  /** Announcements left out, and why (a bad name, a name that is not the hash of the key, ...). */
  readonly refused: string[];
}

/**
 * Members as routing nodes. An announcement is taken only if its persona is known and its name is
 * SHA-512 of its public key (anyone who can write to Redis could otherwise claim a name).
 */
export function nodesFromMembers(members: readonly MemberAnnouncement[]): MembersView {
  const nodes: NodeInfo[] = [];
  const refused: string[] = [];
  for (const member of members) {
    const label = `${member.persona}/${toHex(member.name).slice(0, 16)}`;
    if (!isPersonaName(member.persona)) {
      refused.push(`${label}: unknown persona`);
      continue;
    }
    if (member.name.length !== NAME_BYTES || member.publicKey.length !== PUBLIC_KEY_BYTES) {
      refused.push(`${label}: name or key of the wrong size`);
      continue;
    }
    if (!nameEquals(nameForPublicKey(member.publicKey), member.name)) {
      refused.push(`${label}: name is not the hash of its public key`);
      continue;
    }
    const rankReports = checkedRankReports(member);
    if (typeof rankReports === 'string') refused.push(`${label}: rank reports ignored: ${rankReports}`);
    nodes.push({
      persona: member.persona,
      name: new Uint8Array(member.name) as Name,
      publicKey: new Uint8Array(member.publicKey),
      ...(member.endpoint !== '' ? { endpoint: member.endpoint } : {}),
      ...(typeof rankReports === 'object' ? { rankReports } : {}),
    });
  }
  return { nodes, refused };
}

/**
 * A member's rank reports as the view takes them, or why they are left out (the member itself is
 * kept): only a PmidManager reports ranks, each on a PmidNode name, a rank from 0 to 1, once.
 */
function checkedRankReports(member: MemberAnnouncement): readonly RankReport[] | string | undefined {
  const reports = member.rankReports;
  if (reports === undefined || reports.length === 0) return undefined;
  if (member.persona !== 'pmid-manager') return `a ${member.persona} does not report ranks`;
  const seen = new Set<string>();
  for (const { pmid, rank } of reports) {
    if (pmid.length !== NAME_BYTES) return 'a PmidNode name of the wrong size';
    if (!Number.isFinite(rank) || rank < 0 || rank > 1) return `rank ${rank} is not between 0 and 1`;
    if (seen.has(toHex(pmid))) return `PmidNode ${toHex(pmid).slice(0, 16)} reported twice`;
    seen.add(toHex(pmid));
  }
  return reports.map(({ pmid, rank }) => ({ pmid: new Uint8Array(pmid) as Name, rank }));
}

export function routingFromMembers(members: readonly MemberAnnouncement[]): { routing: RoutingTable; refused: string[] } {
  const { nodes, refused } = nodesFromMembers(members);
  return { routing: new RoutingTable(nodes), refused };
}

/** Whether the view has `persona`/`name` (this node, once its announcement is seen). */
export function viewIncludes(routing: RoutingTable, persona: string, name: Uint8Array): boolean {
  return isPersonaName(persona) && routing.view(persona).has(name as Name);
}

/** The endpoint a node-scoped destination is dialled at, from the latest view. */
export function endpointResolver(current: () => RoutingTable): (destination: Address) => string | undefined {
  return (destination) => {
    if (!isPersonaName(destination.persona)) return undefined;
    return current().view(destination.persona).get(destination.nae)?.endpoint;
  };
}

/** A stable text of a view (persona, name, endpoint and rank reports of each member) to tell real changes from repeats. */
export function viewSignature(routing: RoutingTable): string {
  return routing
    .allNodes()
    .map((n) => `${n.persona}/${toHex(n.name)}@${n.endpoint ?? ''}#${rankReportsSignature(n.rankReports)}`)
    .sort()
    .join('\n');
}
