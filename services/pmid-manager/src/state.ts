import { migrate, type SqlDatabase } from '@safe/sql';
import { loadPmidManagerConfig, type PmidManagerConfig } from './config.js';
import { migrations } from './migrations.js';
import { PmidManagerStore } from './store.js';

export interface PmidManagerState {
  readonly store: PmidManagerStore;
  readonly config: PmidManagerConfig;
}

/** Brings the replica's schema up to date and opens its state. */
export async function openPmidManagerState(
  db: SqlDatabase,
  config: PmidManagerConfig = loadPmidManagerConfig({}),
): Promise<PmidManagerState> {
  await migrate(db, migrations);
  return { store: new PmidManagerStore(db), config };
}
