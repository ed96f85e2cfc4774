export { OID } from './codec.js';
export { describeError, SqlError, SqlUsageError, toSqlError } from './errors.js';
export { FIREWALL_MIGRATIONS, SqlFirewallStore } from './firewall.js';
export { migrate } from './migrate.js';
export { openPglite, type PgliteHost, type PgliteOptions } from './pglite.js';
export type { Migration, SqlDatabase, SqlExecutor } from './port.js';
export { openPostgres, type PostgresOptions } from './postgres.js';
export { recordsByName } from './record-pages.js';
export { checkSchemaName } from './schema.js';
