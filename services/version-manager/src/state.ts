import { migrate, type SqlDatabase } from '@safe/sql';
import { migrations } from './migrations.js';
import { VersionManagerStore } from './store.js';

export interface VersionManagerState {
  readonly store: VersionManagerStore;
}

/** Brings the replica's schema up to date and opens its state. */
export async function openVersionManagerState(db: SqlDatabase): Promise<VersionManagerState> {
  await migrate(db, migrations);
  return { store: new VersionManagerStore(db) };
}
