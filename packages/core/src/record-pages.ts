import type { RecordRef } from './persona.js';

/** How many records a persona's `list` reads per page (one query, one batch). */
export const RECORD_PAGE = 256;

/**
 * A persona's records, page by page in key order, for `PersonaRecords.list`: `page(after, limit)`
 * reads up to `limit` rows past the cursor, `cursorOf` is a row's place in that order, and `refOf`
 * its record (undefined: a row that is no record, skipped). Ends with the first short page.
 */
export async function* recordPages<Row, Cursor>(
  start: Cursor,
  page: (after: Cursor, limit: number) => Promise<readonly Row[]>,
  cursorOf: (row: Row) => Cursor,
  refOf: (row: Row) => RecordRef | undefined,
): AsyncGenerator<readonly RecordRef[]> {
  let after = start;
  for (;;) {
    const rows = await page(after, RECORD_PAGE);
    const refs = rows.map(refOf).filter((ref): ref is RecordRef => ref !== undefined);
    if (refs.length > 0) yield refs;
    const last = rows.at(-1);
    if (last === undefined || rows.length < RECORD_PAGE) return;
    after = cursorOf(last);
  }
}
