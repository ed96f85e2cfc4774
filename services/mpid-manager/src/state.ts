import { migrate, type SqlDatabase } from '@safe/sql';
import { migrations } from './migrations.js';
import { MpidManagerStore } from './store.js';

export interface MpidManagerState {
  readonly store: MpidManagerStore;
}

/** Brings the replica's schema up to date and opens its state. */
export async function openMpidManagerState(db: SqlDatabase): Promise<MpidManagerState> {
  await migrate(db, migrations);
  return { store: new MpidManagerStore(db) };
}
