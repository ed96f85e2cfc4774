import type { TransferVotes } from '../account-transfer.js';
import type { ChunkCache } from '../chunk-cache.js';
import type { GroupParameters } from '../config.js';
import type { Envelope } from '../envelope.js';
import type { Identity } from '../identity.js';
import type { PersonaDefinition } from '../persona.js';
import type { AccumulatorStore, Clock, EntryStore, FirewallStore, Logger, Telemetry } from '../ports.js';
import type { RoutingTable } from '../routing.js';
import type { SyncEntry } from '../sync.js';

/** How a replica puts signed copies on the wire: the group bus adapter. */
export interface Transport {
  send(envelope: Envelope): void | Promise<void>;
}

/** Receives client replies addressed to this node (the entry); see ClientGateway. */
export interface ReplySink {
  expects(correlation: Uint8Array): boolean;
  deliver(envelope: Envelope): void;
}

export interface ReplicaStores {
  readonly accumulator: AccumulatorStore;
  readonly firewall: FirewallStore;
  /** Where client requests' firewall entries go when they must outlive the process and the others need not (firewall.ts). */
  readonly clientFirewall?: FirewallStore;
  readonly sync: EntryStore<SyncEntry>;
  readonly transfer: EntryStore<TransferVotes>;
}

export interface ReplicaOptions<S> {
  readonly definition: PersonaDefinition<S>;
  readonly identity: Identity;
  readonly params: GroupParameters;
  readonly state: S;
  readonly routing: RoutingTable;
  readonly transport: Transport;
  readonly stores: ReplicaStores;
  readonly clock?: Clock;
  readonly telemetry?: Telemetry;
  readonly logger?: Logger;
  /** The replica's opportunistic chunk cache; default: one sized by `params` (SAFE_CACHE_BYTES, SAFE_CACHE_ENTRIES). */
  readonly cache?: ChunkCache;
}
