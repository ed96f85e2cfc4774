import { ConfigError } from '@safe/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSchemaName, quoteSchema, statementHead } from './schema.js';

/** The rule, restated independently: the pattern, minus what Postgres reserves. */
const PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;
const acceptable = (name: string) => PATTERN.test(name) && !name.startsWith('pg_') && name !== 'information_schema';

function refused(name: string): boolean {
  try {
    checkSchemaName(name);
    return false;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(JSON.stringify(name));
    return true;
  }
}

const matching = fc.stringMatching(PATTERN);
/** Characters near the valid set, so generated strings often almost match. */
const nearAlphabet = fc.constantFrom(...'abcxyz_019AZ-. "\'$;\n\t\u0000éß😀'.split(''), 'é', '😀');
const nearMiss = fc.oneof(
  fc.string({ unit: nearAlphabet, maxLength: 70 }),
  fc.string({ unit: 'grapheme', maxLength: 70 }),
  fc.string({ unit: 'binary', maxLength: 70 }),
  // A valid name with one bad character spliced in.
  fc
    .tuple(matching, fc.nat(), fc.constantFrom('A', 'Z', '-', ' ', '.', '"', '\n', 'é', '\u0000', '$'))
    .map(([name, at, bad]) => name.slice(0, at % (name.length + 1)) + bad + name.slice(at % (name.length + 1))),
  // A valid name made too long, or starting with a digit.
  matching.map((name) => (name + 'a'.repeat(64)).slice(0, 64 + (name.length % 5))),
  fc.tuple(fc.integer({ min: 0, max: 9 }), matching).map(([digit, name]) => `${digit}${name}`.slice(0, 63)),
);

describe('checkSchemaName', () => {
  it('accepts any name matching the pattern (except pg_* and information_schema), returning it unchanged', () => {
    fc.assert(
      fc.property(matching, (name) => {
        if (acceptable(name)) expect(checkSchemaName(name)).toBe(name);
        else expect(refused(name)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects any string not matching the pattern with ConfigError', () => {
    fc.assert(
      fc.property(nearMiss, (name) => {
        expect(refused(name)).toBe(!acceptable(name));
      }),
      { numRuns: 3000 },
    );
  });

  it('rejects the reserved names and the edges of the pattern', () => {
    for (const bad of ['', 'pg_', 'pg_catalog', 'pg_temp_1', 'information_schema', 'a'.repeat(64), 'name\n', ' name', 'Name', '9x']) {
      expect(refused(bad), JSON.stringify(bad)).toBe(true);
    }
    for (const good of ['_', 'a', 'pg', 'pgx_1', 'information_schema2', 'a'.repeat(63), 'dm_0_replica']) {
      expect(checkSchemaName(good)).toBe(good);
    }
  });

  it('quotes an accepted name as an identifier', () => {
    expect(quoteSchema('dm_0')).toBe('"dm_0"');
  });
});

describe('statementHead', () => {
  it('is one line of at most 80 characters that starts the statement', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        const head = statementHead(text);
        expect(head.length).toBeLessThanOrEqual(80);
        expect(head).not.toMatch(/[\n\r\t]/);
        const flat = text.replace(/\s+/g, ' ').trim();
        expect(flat.startsWith(head.endsWith('...') && flat.length > 80 ? head.slice(0, -3) : head)).toBe(true);
      }),
    );
  });
});
