import { migrate, type SqlDatabase } from '@safe/sql';
import { migrations } from './migrations.js';
import { PmidManagerStore } from './store.js';

export interface PmidManagerState {
  readonly store: PmidManagerStore;
}

/** Brings the replica's schema up to date and opens its state. */
export async function openPmidManagerState(db: SqlDatabase): Promise<PmidManagerState> {
  await migrate(db, migrations);
  return { store: new PmidManagerStore(db) };
}
