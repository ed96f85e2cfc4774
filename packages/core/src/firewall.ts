import type { GroupParameters } from './config.js';
import { toHex } from './name.js';
import type { FirewallRecord, FirewallStore, RecordedReply } from './ports.js';

/**
 * Fw / Uf: every accumulated message enters the firewall. A repeat is answered from it with the
 * recorded result: the reply once there is one, "syncing" while the group is still deciding.
 *
 * Client requests may go to `clientStore` when one is given: a client (or whoever copied its
 * signed request) can send it again after the replica restarts, so where the other entries live
 * in memory, those must outlive the process. Group copies cannot come back once the bus that
 * carried them is gone, and are most of the traffic: they stay in the cheaper store.
 */
export class Firewall {
  readonly #store: FirewallStore;
  readonly #clientStore: FirewallStore;
  readonly #params: GroupParameters;

  constructor(store: FirewallStore, params: GroupParameters, clientStore: FirewallStore = store) {
    this.#store = store;
    this.#clientStore = clientStore;
    this.#params = params;
  }

  /** null: first time, go ahead (now recorded as syncing). Otherwise the record to answer with. */
  admit(id: Uint8Array, fromClient: boolean): Promise<FirewallRecord | null> {
    return this.#storeFor(fromClient).admit(toHex(id), this.#params.firewallMemoryMs);
  }

  /** The record of a repeat, to answer it with; never creates one. */
  lookup(id: Uint8Array, fromClient: boolean): Promise<FirewallRecord | null> {
    return this.#storeFor(fromClient).lookup(toHex(id));
  }

  /** Uf: records the computed reply (null: done, nothing to send back); a reply to a client answers a client request. */
  update(id: Uint8Array, reply: RecordedReply | null, toClient: boolean): Promise<void> {
    return this.#storeFor(toClient).record(toHex(id), { state: 'done', reply }, this.#params.firewallMemoryMs);
  }

  #storeFor(client: boolean): FirewallStore {
    return client ? this.#clientStore : this.#store;
  }
}
