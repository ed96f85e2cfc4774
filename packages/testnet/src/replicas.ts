import { join } from 'node:path';
import {
  type Clock,
  type GroupParameters,
  type Identity,
  type Logger,
  MemoryAccumulatorStore,
  MemoryEntryStore,
  MemoryFirewallStore,
  type PersonaDefinition,
  type PersonaName,
  Replica,
  type ReplicaOptions,
  type ReplicaStores,
  type RoutingTable,
  type Telemetry,
  type Transport,
  toHex,
} from '@safe/core';
import { type DataManagerConfig, dataManagerPersona, openDataManagerState } from '@safe/data-manager';
import { maidManagerPersona, openMaidManagerState } from '@safe/maid-manager';
import { mpidManagerPersona, openMpidManagerState } from '@safe/mpid-manager';
import { openPmidManagerState, pmidManagerPersona } from '@safe/pmid-manager';
import { openPmidNodeState, pmidNodePersona } from '@safe/pmid-node';
import { type PgliteHost, SqlFirewallStore } from '@safe/sql';
import { openVersionManagerState, versionManagerPersona } from '@safe/version-manager';

/** The personas of the network (immutable and versioned data, messaging), in the order a testnet starts them. */
export const NETWORK_PERSONAS = [
  'pmid-node',
  'pmid-manager',
  'data-manager',
  'version-manager',
  'mpid-manager',
  'maid-manager',
] as const satisfies readonly PersonaName[];
export type NetworkPersona = (typeof NETWORK_PERSONAS)[number];

export const PERSONA_DEFINITIONS: Record<NetworkPersona, PersonaDefinition<unknown>> = {
  'pmid-node': pmidNodePersona as PersonaDefinition<unknown>,
  'pmid-manager': pmidManagerPersona as PersonaDefinition<unknown>,
  'data-manager': dataManagerPersona as PersonaDefinition<unknown>,
  'version-manager': versionManagerPersona as PersonaDefinition<unknown>,
  'mpid-manager': mpidManagerPersona as PersonaDefinition<unknown>,
  'maid-manager': maidManagerPersona as PersonaDefinition<unknown>,
};

/** Client message types and the persona each goes to, read off the personas' tables. */
export function clientMessageTypes(): Map<string, PersonaName> {
  const types = new Map<string, PersonaName>();
  for (const definition of Object.values(PERSONA_DEFINITIONS)) {
    for (const declaration of definition.messages) if (declaration.from.includes('client')) types.set(declaration.type, definition.persona);
  }
  return types;
}

export interface ReplicaDependencies {
  readonly params: GroupParameters;
  readonly sql: PgliteHost;
  /** PmidNodes keep their chunks under `<dataDir>/pmid-node/<name>`. */
  readonly dataDir: string;
  readonly pmidCapacity: number;
  readonly dataManager: DataManagerConfig;
  readonly clock?: Clock;
  readonly telemetry?: Telemetry;
  readonly logger?: Logger;
  /**
   * The firewall in the replica's own schema, so a restarted testnet still answers repeats of
   * what it handled (a replayed client request is never handled twice); in memory otherwise
   * (the seeded simulations, which never restart).
   */
  readonly durableFirewall?: boolean;
  /** The group-mechanics stores to run over: a restarted replica keeps its own (replicaStores by default). */
  readonly stores?: ReplicaStores;
}

/** Each replica owns a schema named after its persona and name, so a restart finds its tables. */
export function schemaFor(persona: PersonaName, identity: Identity): string {
  return `${persona.replaceAll('-', '_')}_${toHex(identity.name).slice(0, 16)}`;
}

async function openState(persona: NetworkPersona, identity: Identity, deps: ReplicaDependencies): Promise<unknown> {
  switch (persona) {
    case 'pmid-node':
      return openPmidNodeState(join(deps.dataDir, 'pmid-node', toHex(identity.name).slice(0, 16)), deps.pmidCapacity);
    case 'pmid-manager':
      return openPmidManagerState(deps.sql.database(schemaFor(persona, identity)));
    case 'data-manager':
      return openDataManagerState(deps.sql.database(schemaFor(persona, identity)), deps.dataManager);
    case 'version-manager':
      return openVersionManagerState(deps.sql.database(schemaFor(persona, identity)));
    case 'mpid-manager':
      return openMpidManagerState(deps.sql.database(schemaFor(persona, identity)));
    case 'maid-manager':
      return openMaidManagerState(deps.sql.database(schemaFor(persona, identity)));
  }
}

/** A replica's group-mechanics stores: in memory, but the client firewall when durable. */
export async function replicaStores(persona: NetworkPersona, identity: Identity, deps: ReplicaDependencies): Promise<ReplicaStores> {
  const clock = deps.clock;
  return {
    accumulator: new MemoryAccumulatorStore(clock),
    firewall: new MemoryFirewallStore(clock),
    ...(deps.durableFirewall
      ? { clientFirewall: await SqlFirewallStore.open(deps.sql.database(schemaFor(persona, identity)), clock) }
      : {}),
    sync: new MemoryEntryStore(),
    transfer: new MemoryEntryStore(),
  };
}

/** What a replica of `persona` is made of: its own state and group-mechanics stores (`deps.stores`, or new ones), on these adapters. */
export async function replicaOptions(
  persona: NetworkPersona,
  identity: Identity,
  transport: Transport,
  routing: RoutingTable,
  deps: ReplicaDependencies,
): Promise<ReplicaOptions<unknown>> {
  const clock = deps.clock;
  return {
    definition: PERSONA_DEFINITIONS[persona],
    identity,
    params: deps.params,
    state: await openState(persona, identity, deps),
    routing,
    transport,
    stores: deps.stores ?? (await replicaStores(persona, identity, deps)),
    ...(clock ? { clock } : {}),
    ...(deps.telemetry ? { telemetry: deps.telemetry } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
  };
}

/** A replica of `persona` with its own state and group-mechanics stores (`deps.stores`, or new ones). */
export async function createReplica(
  persona: NetworkPersona,
  identity: Identity,
  transport: Transport,
  routing: RoutingTable,
  deps: ReplicaDependencies,
): Promise<Replica<unknown>> {
  return new Replica(await replicaOptions(persona, identity, transport, routing, deps));
}
