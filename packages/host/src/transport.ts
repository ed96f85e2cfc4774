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
  RoutingTable,
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
    nodes.push({
      persona: member.persona,
      name: new Uint8Array(member.name) as Name,
      publicKey: new Uint8Array(member.publicKey),
      ...(member.endpoint !== '' ? { endpoint: member.endpoint } : {}),
    });
  }
  return { nodes, refused };
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

/** A stable text of a view (persona, name, endpoint of each member) to tell real changes from repeats. */
export function viewSignature(routing: RoutingTable): string {
  return routing
    .allNodes()
    .map((n) => `${n.persona}/${toHex(n.name)}@${n.endpoint ?? ''}`)
    .sort()
    .join('\n');
}
