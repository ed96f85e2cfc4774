import type { GroupParameters } from './config.js';
import { toHex } from './name.js';
import type { FirewallRecord, FirewallStore, RecordedReply } from './ports.js';

/**
 * Fw / Uf: every accumulated message enters the firewall. A repeat is answered from it with the
 * recorded result: the reply once there is one, "syncing" while the group is still deciding.
 */
export class Firewall {
  readonly #store: FirewallStore;
  readonly #params: GroupParameters;

  constructor(store: FirewallStore, params: GroupParameters) {
    this.#store = store;
    this.#params = params;
  }

  /** null: first time, go ahead (now recorded as syncing). Otherwise the record to answer with. */
  admit(id: Uint8Array): Promise<FirewallRecord | null> {
    return this.#store.admit(toHex(id), this.#params.firewallMemoryMs);
  }

  /** The record of a repeat, to answer it with; never creates one. */
  lookup(id: Uint8Array): Promise<FirewallRecord | null> {
    return this.#store.lookup(toHex(id));
  }

  /** Uf: records the computed reply (null: done, nothing to send back). */
  update(id: Uint8Array, reply: RecordedReply | null): Promise<void> {
    return this.#store.record(toHex(id), { state: 'done', reply }, this.#params.firewallMemoryMs);
  }
}
