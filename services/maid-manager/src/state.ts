import { migrate, type SqlDatabase } from '@safe/sql';
import { migrations } from './migrations.js';
import { MaidManagerStore } from './store.js';

export interface MaidManagerState {
  readonly store: MaidManagerStore;
}

/** Brings the replica's schema up to date and opens its state. */
export async function openMaidManagerState(db: SqlDatabase): Promise<MaidManagerState> {
  await migrate(db, migrations);
  return { store: new MaidManagerStore(db) };
}
