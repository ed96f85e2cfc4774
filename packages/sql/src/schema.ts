import { ConfigError } from '@safe/core';

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * A replica's schema name comes from configuration and is spliced into SQL as an identifier, so it
 * is checked rather than escaped. `pg_*` is reserved by Postgres and `information_schema` is the
 * catalog's own; accepting them would only fail later, less clearly.
 */
export function checkSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema) || schema.startsWith('pg_') || schema === 'information_schema') {
    throw new ConfigError(`invalid schema name ${JSON.stringify(schema)}: want ${SCHEMA_NAME.source}, not pg_* or information_schema`);
  }
  return schema;
}

/** The schema as a quoted identifier; safe only for names that passed checkSchemaName. */
export function quoteSchema(schema: string): string {
  return `"${schema}"`;
}

/** A short, single-line head of a statement for error messages (parameters are never included). */
export function statementHead(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 80 ? `${flat.slice(0, 77)}...` : flat;
}
