import { fromWireVersion, SDV_LIMITS, sdvName, toWireVersion } from '@safe/chunks';
import { InvalidNameError, type Name, nameEquals, parseName } from '@safe/core';
import type { SqlDatabase, SqlExecutor } from '@safe/sql';
import { type SdvRecord, sdvRecordCodec } from './messages.js';
import { compareVersions, type Sdv, type VersionEntry } from './sdv.js';

/** One SDV as a replica holds it: what names it, and its versions. */
export interface StoredSdv {
  readonly dataName: Name;
  readonly type: number;
  readonly owner: Name;
  readonly sdv: Sdv;
}

export function encodeSdv(stored: StoredSdv): Uint8Array {
  const record: SdvRecord = {
    dataName: stored.dataName,
    type: stored.type,
    owner: stored.owner,
    maxVersions: stored.sdv.maxVersions,
    maxBranches: stored.sdv.maxBranches,
    versions: stored.sdv.entries.map((e) => ({ version: toWireVersion(e.version), parent: e.parent && toWireVersion(e.parent) })),
  };
  // A plain Uint8Array, as the store gives values back: a record compares equal to its encoding.
  return new Uint8Array(sdvRecordCodec.encode(record));
}

/**
 * A stored or transferred SDV, checked: it belongs to `name`, its limits are within SDV_LIMITS, its
 * versions are sorted and distinct, with one root at most and no index 0 below it.
 */
export function decodeSdv(name: Name, value: Uint8Array): StoredSdv {
  const record = sdvRecordCodec.decode(value);
  const dataName = parseName(record.dataName, 'data name');
  const owner = parseName(record.owner, 'owner');
  if (!nameEquals(sdvName(dataName, record.type, owner), name)) throw new InvalidNameError('the SDV record belongs to another name');
  const { maxVersions, maxBranches } = record;
  if (maxVersions < SDV_LIMITS.maxVersions.min || maxVersions > SDV_LIMITS.maxVersions.max || record.versions.length > maxVersions) {
    throw new InvalidNameError(`an SDV record with maxVersions ${maxVersions} holding ${record.versions.length} versions`);
  }
  if (maxBranches < SDV_LIMITS.maxBranches.min || maxBranches > SDV_LIMITS.maxBranches.max) {
    throw new InvalidNameError(`an SDV record with maxBranches ${maxBranches}`);
  }
  const entries: VersionEntry[] = record.versions.map((e) => ({
    version: fromWireVersion(e.version),
    parent: e.parent == null ? null : fromWireVersion(e.parent, 'parent'),
  }));
  entries.forEach((entry, i) => {
    const before = entries[i - 1];
    if (before !== undefined && compareVersions(before.version, entry.version) >= 0)
      throw new InvalidNameError('SDV versions out of order');
    if (entry.parent !== null && entry.version.index === 0n) throw new InvalidNameError('only the root version may have index 0');
  });
  if (entries.filter((e) => e.parent === null).length > 1) throw new InvalidNameError('an SDV record with two roots');
  return { dataName, type: record.type, owner, sdv: { maxVersions, maxBranches, entries } };
}

/** The VersionManager's table: one serialised SDV per name. An SDV with no version left is no record. */
export class VersionManagerStore {
  readonly db: SqlDatabase;

  constructor(db: SqlDatabase) {
    this.db = db;
  }

  async value(name: Name, tx: SqlExecutor = this.db): Promise<Uint8Array | undefined> {
    const [row] = await tx.query<{ value: Uint8Array }>('SELECT value FROM sdvs WHERE name = $1', [name]);
    return row?.value;
  }

  async sdv(name: Name, tx: SqlExecutor = this.db): Promise<StoredSdv | undefined> {
    const value = await this.value(name, tx);
    return value === undefined ? undefined : decodeSdv(name, value);
  }

  async write(name: Name, stored: StoredSdv, tx: SqlExecutor = this.db): Promise<void> {
    if (stored.sdv.entries.length === 0) {
      await tx.query('DELETE FROM sdvs WHERE name = $1', [name]);
      return;
    }
    await tx.query(
      'INSERT INTO sdvs (name, owner, value) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, value = EXCLUDED.value',
      [name, stored.owner, encodeSdv(stored)],
    );
  }

  /**
   * Reads the SDV, lets `change` decide and writes the `next` it returns (none: a refusal,
   * nothing written), in one transaction.
   */
  update<T>(name: Name, change: (current: StoredSdv | undefined) => { next?: StoredSdv; result: T }): Promise<T> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx.query<{ value: Uint8Array }>('SELECT value FROM sdvs WHERE name = $1 FOR UPDATE', [name]);
      const { next, result } = change(row === undefined ? undefined : decodeSdv(name, row.value));
      if (next !== undefined) await this.write(name, next, tx);
      return result;
    });
  }

  async drop(name: Name): Promise<void> {
    await this.db.query('DELETE FROM sdvs WHERE name = $1', [name]);
  }

  /** Names after `after`, in order, at most `limit`. */
  async names(after: Uint8Array, limit: number): Promise<Name[]> {
    const rows = await this.db.query<{ name: Uint8Array }>('SELECT name FROM sdvs WHERE name > $1 ORDER BY name LIMIT $2', [after, limit]);
    return rows.map((r) => r.name as Name);
  }
}
