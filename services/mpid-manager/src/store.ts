import { checkMpidText, MPID_LIMITS, mpidName } from '@safe/chunks';
import { InvalidNameError, type Name, nameEquals, parseName } from '@safe/core';
import type { SqlDatabase, SqlExecutor } from '@safe/sql';
import { type HeldMessage, heldMessageCodec, type MessageKey, type MpidAccount, mpidAccountCodec } from './messages.js';

/** Acknowledged keys remembered per MPID: enough to cover every copy still on its way. */
const ACKNOWLEDGED_KEPT = 4 * MPID_LIMITS.heldMessages;

const sorted = (list: readonly string[]) => [...new Set(list)].sort();

/** An account encoded deterministically (lists sorted, no repeats): members holding it send the same bytes. */
export function encodeAccount(account: MpidAccount): Uint8Array {
  return new Uint8Array(mpidAccountCodec.encode({ ...account, white: sorted(account.white), black: sorted(account.black) }));
}

/** A stored or transferred account, checked: it belongs to `name`, and its lists are within bounds. */
export function decodeAccount(name: Name, value: Uint8Array): MpidAccount {
  const account = mpidAccountCodec.decode(value);
  if (!nameEquals(mpidName(account.name), name)) throw new InvalidNameError('the MPID record belongs to another name');
  parseName(account.owner, 'owner');
  for (const list of [account.white, account.black]) {
    if (list.length > MPID_LIMITS.listEntries) throw new InvalidNameError(`an MPID list of ${list.length} entries`);
    for (const entry of list) checkMpidText(entry, 'list entry');
  }
  return account;
}

/** A held message key as account transfer names it: the sender's MPID name, then the message id. */
export const heldKey = (key: MessageKey): Uint8Array => Buffer.concat([key.sender, key.id]);

export function splitHeldKey(key: Uint8Array): MessageKey {
  if (key.length <= 64 || key.length > 64 + MPID_LIMITS.idBytes)
    throw new InvalidNameError('a held message key is a sender name and an id');
  return { sender: key.subarray(0, 64), id: key.subarray(64) };
}

/** A held message's value, checked: it is the message its key names, within the body bound. */
export function decodeHeld(key: MessageKey, value: Uint8Array): HeldMessage {
  const message = heldMessageCodec.decode(value);
  if (!nameEquals(parseName(message.sender, 'sender'), parseName(key.sender, 'sender')) || !Buffer.from(message.id).equals(key.id)) {
    throw new InvalidNameError('the held message belongs to another key');
  }
  if (!nameEquals(mpidName(message.from), message.sender as Name))
    throw new InvalidNameError("the held message's sender name does not match");
  if (message.body.length > MPID_LIMITS.bodyBytes) throw new InvalidNameError(`a held message of ${message.body.length} bytes`);
  return message;
}

export const encodeHeld = (message: HeldMessage): Uint8Array => new Uint8Array(heldMessageCodec.encode(message));

/** The MpidManager's tables: one account per MPID and the messages held for it. */
export class MpidManagerStore {
  readonly db: SqlDatabase;

  constructor(db: SqlDatabase) {
    this.db = db;
  }

  async accountValue(name: Name, tx: SqlExecutor = this.db): Promise<Uint8Array | undefined> {
    const [row] = await tx.query<{ value: Uint8Array }>('SELECT value FROM mpids WHERE name = $1', [name]);
    return row?.value;
  }

  async account(name: Name, tx: SqlExecutor = this.db): Promise<MpidAccount | undefined> {
    const value = await this.accountValue(name, tx);
    return value === undefined ? undefined : decodeAccount(name, value);
  }

  async writeAccount(name: Name, account: MpidAccount, tx: SqlExecutor = this.db): Promise<void> {
    await tx.query(
      'INSERT INTO mpids (name, owner, value) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, value = EXCLUDED.value',
      [name, account.owner, encodeAccount(account)],
    );
  }

  /** Reads the account, lets `change` decide and writes the `next` it returns (none: nothing written), in one transaction. */
  updateAccount<T>(name: Name, change: (current: MpidAccount | undefined) => { next?: MpidAccount; result: T }): Promise<T> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx.query<{ value: Uint8Array }>('SELECT value FROM mpids WHERE name = $1 FOR UPDATE', [name]);
      const { next, result } = change(row === undefined ? undefined : decodeAccount(name, row.value));
      if (next !== undefined) await this.writeAccount(name, next, tx);
      return result;
    });
  }

  /** What `mpid` holds now: messages and bytes of their bodies. */
  async heldTotals(mpid: Name): Promise<{ count: number; bytes: number }> {
    const [row] = await this.db.query<{ count: number | string; bytes: number | string | null }>(
      'SELECT count(*) AS count, sum(size) AS bytes FROM held WHERE mpid = $1',
      [mpid],
    );
    return { count: Number(row?.count ?? 0), bytes: Number(row?.bytes ?? 0) };
  }

  async isHeld(mpid: Name, key: MessageKey): Promise<boolean> {
    const rows = await this.db.query('SELECT 1 FROM held WHERE mpid = $1 AND sender = $2 AND id = $3', [mpid, key.sender, key.id]);
    return rows.length > 0;
  }

  async wasAcknowledged(mpid: Name, key: MessageKey): Promise<boolean> {
    const rows = await this.db.query('SELECT 1 FROM acknowledged WHERE mpid = $1 AND sender = $2 AND id = $3', [mpid, key.sender, key.id]);
    return rows.length > 0;
  }

  /** Holds a message once: a repeat, or one its node already acknowledged, changes nothing. */
  async hold(mpid: Name, message: HeldMessage, tx: SqlExecutor = this.db): Promise<void> {
    await tx.query(
      `INSERT INTO held (mpid, sender, id, sent_at, size, value)
       SELECT $1, $2, $3, $4, $5, $6
       WHERE NOT EXISTS (SELECT 1 FROM acknowledged WHERE mpid = $1 AND sender = $2 AND id = $3)
       ON CONFLICT (mpid, sender, id) DO NOTHING`,
      [mpid, message.sender, message.id, message.sentAt, message.body.length, encodeHeld(message)],
    );
  }

  async heldValue(mpid: Name, key: MessageKey): Promise<Uint8Array | undefined> {
    const [row] = await this.db.query<{ value: Uint8Array }>('SELECT value FROM held WHERE mpid = $1 AND sender = $2 AND id = $3', [
      mpid,
      key.sender,
      key.id,
    ]);
    return row?.value;
  }

  /** The held messages in delivery order (send time, sender, id), as many as fit `maxBytes` of bodies (one at least), and how many more wait. */
  async inbox(mpid: Name, maxBytes: number): Promise<{ messages: HeldMessage[]; more: number }> {
    const rows = await this.db.query<{ value: Uint8Array; size: number }>(
      'SELECT value, size FROM held WHERE mpid = $1 ORDER BY sent_at, sender, id',
      [mpid],
    );
    const messages: HeldMessage[] = [];
    let bytes = 0;
    for (const row of rows) {
      if (messages.length > 0 && bytes + row.size > maxBytes) break;
      bytes += row.size;
      messages.push(heldMessageCodec.decode(row.value));
    }
    return { messages, more: rows.length - messages.length };
  }

  /** Removes what the node acknowledged and remembers it (the newest ACKNOWLEDGED_KEPT keys), in one transaction. */
  acknowledge(mpid: Name, keys: readonly MessageKey[], now: number): Promise<void> {
    return this.db.transaction(async (tx) => {
      for (const key of keys) {
        await tx.query('DELETE FROM held WHERE mpid = $1 AND sender = $2 AND id = $3', [mpid, key.sender, key.id]);
        await tx.query(
          'INSERT INTO acknowledged (mpid, sender, id, at) VALUES ($1, $2, $3, $4) ON CONFLICT (mpid, sender, id) DO NOTHING',
          [mpid, key.sender, key.id, now],
        );
      }
      await tx.query(
        `DELETE FROM acknowledged WHERE mpid = $1 AND (sender, id) NOT IN
           (SELECT sender, id FROM acknowledged WHERE mpid = $1 ORDER BY at DESC, sender, id LIMIT $2)`,
        [mpid, ACKNOWLEDGED_KEPT],
      );
    });
  }

  async writeHeld(mpid: Name, message: HeldMessage): Promise<void> {
    await this.db.query('DELETE FROM held WHERE mpid = $1 AND sender = $2 AND id = $3', [mpid, message.sender, message.id]);
    await this.hold(mpid, message);
  }

  async dropAccount(name: Name): Promise<void> {
    await this.db.query('DELETE FROM mpids WHERE name = $1', [name]);
  }

  async dropHeld(mpid: Name, key: MessageKey): Promise<void> {
    await this.db.query('DELETE FROM held WHERE mpid = $1 AND sender = $2 AND id = $3', [mpid, key.sender, key.id]);
  }

  /** Account names after `after`, in order, at most `limit`. */
  async accountNames(after: Uint8Array, limit: number): Promise<Name[]> {
    const rows = await this.db.query<{ name: Uint8Array }>('SELECT name FROM mpids WHERE name > $1 ORDER BY name LIMIT $2', [after, limit]);
    return rows.map((r) => r.name as Name);
  }

  /** Held message keys after (mpid, sender, id), in order, at most `limit`. */
  async heldKeys(after: { mpid: Uint8Array; sender: Uint8Array; id: Uint8Array }, limit: number) {
    return this.db.query<{ mpid: Uint8Array; sender: Uint8Array; id: Uint8Array }>(
      'SELECT mpid, sender, id FROM held WHERE (mpid, sender, id) > ($1, $2, $3) ORDER BY mpid, sender, id LIMIT $4',
      [after.mpid, after.sender, after.id, limit],
    );
  }
}
