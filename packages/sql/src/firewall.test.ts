import { VirtualClock } from '@safe/core/sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlFirewallStore } from './firewall.js';
import { openPglite, type PgliteHost } from './pglite.js';
import type { SqlDatabase } from './port.js';
import { openPostgres } from './postgres.js';
import { POSTGRES_URL, requirePostgres, uniqueSchema } from './test-support.js';

/** The SQL firewall on both adapters: a restarted replica (a new store on the same schema) still answers repeats. */
const backends: [string, () => Promise<{ open(schema: string): Promise<SqlDatabase>; close(): Promise<void> }>][] = [
  [
    'pglite',
    async () => {
      const host: PgliteHost = await openPglite();
      return { open: async (schema) => host.database(schema), close: () => host.close() };
    },
  ],
  [
    'postgres',
    async () => {
      await requirePostgres();
      const opened: SqlDatabase[] = [];
      return {
        async open(schema) {
          const db = await openPostgres({ url: POSTGRES_URL, schema, poolSize: 1 });
          opened.push(db);
          return db;
        },
        async close() {
          for (const db of opened) {
            await db.query(`DROP SCHEMA IF EXISTS "${db.schema}" CASCADE`).catch(() => undefined);
            await db.close();
          }
        },
      };
    },
  ],
];

for (const [name, start] of backends) {
  describe(`SqlFirewallStore on ${name}`, () => {
    let backend: Awaited<ReturnType<typeof start>>;
    beforeAll(async () => {
      backend = await start();
    });
    afterAll(async () => {
      await backend?.close();
    });

    it('admits an id once, answers repeats with its record, forgets it after its time, and keeps it across a restart', async () => {
      const schema = uniqueSchema('fw');
      const clock = new VirtualClock();
      const store = await SqlFirewallStore.open(await backend.open(schema), clock);
      expect(await store.admit('a', 1_000)).toBeNull();
      expect(await store.admit('a', 1_000)).toEqual({ state: 'syncing' });
      expect(await store.lookup('b')).toBeNull();
      const reply = { type: 'ClientReply', payload: Uint8Array.of(1, 2, 3) };
      await store.record('a', { state: 'done', reply }, 1_000);
      await store.record('c', { state: 'done', reply: null }, 1_000);

      const restarted = await SqlFirewallStore.open(await backend.open(schema), clock);
      expect(await restarted.admit('a', 1_000)).toEqual({ state: 'done', reply });
      expect(await restarted.lookup('c')).toEqual({ state: 'done', reply: null });
      clock.advance(1_001);
      expect(await restarted.lookup('a')).toBeNull();
      expect(await restarted.admit('a', 1_000)).toBeNull();
      expect(await restarted.admit('a', 1_000)).toEqual({ state: 'syncing' });
    });
  });
}
