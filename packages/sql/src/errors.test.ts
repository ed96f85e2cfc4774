import { ConfigError, SafeError, UnavailableError } from '@safe/core';
import { describe, expect, it } from 'vitest';
import { describeError, SqlError, toSqlError } from './errors.js';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('toSqlError', () => {
  it.each([
    ['23505', 'already-exists'],
    ['23503', 'failed-precondition'],
    ['25P02', 'failed-precondition'],
    ['22012', 'invalid-argument'],
    ['57014', 'deadline-exceeded'],
    ['53100', 'resource-exhausted'],
    ['42P01', 'internal'],
  ])('maps SQLSTATE %s to a SqlError of kind %s, keeping the state', (state, kind) => {
    const error = toSqlError(withCode('refused', state), 'ctx');
    expect(error).toBeInstanceOf(SqlError);
    expect(error).toMatchObject({ kind, sqlState: state });
    expect(error.message).toBe(`ctx: refused (SQLSTATE ${state})`);
  });

  it.each(['08006', '57P01', '53300', '3D000', '28P01', '40001', '40P01'])('maps SQLSTATE %s to UnavailableError', (state) => {
    expect(toSqlError(withCode('gone', state), 'ctx')).toBeInstanceOf(UnavailableError);
  });

  it('maps socket failures and pg connection messages to UnavailableError', () => {
    const refused = new AggregateError([withCode('', 'ECONNREFUSED'), withCode('', 'ECONNREFUSED')], '');
    const error = toSqlError(refused, 'postgres at h:1 connect');
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.message).toBe('postgres at h:1 connect: ECONNREFUSED');
    expect(toSqlError(withCode('write EPIPE', 'EPIPE'), 'c')).toBeInstanceOf(UnavailableError);
    expect(toSqlError(new Error('Connection terminated unexpectedly'), 'c')).toBeInstanceOf(UnavailableError);
    expect(toSqlError(new Error('timeout exceeded when trying to connect'), 'c')).toBeInstanceOf(UnavailableError);
  });

  it('passes a SafeError through unchanged and wraps anything else as internal', () => {
    const mine = new ConfigError('mine');
    expect(toSqlError(mine, 'ctx')).toBe(mine);
    const wrapped = toSqlError('a string', 'ctx');
    expect(wrapped).toBeInstanceOf(SafeError);
    expect(wrapped).toMatchObject({ kind: 'internal', sqlState: undefined, message: 'ctx: a string' });
    expect(toSqlError(withCode('odd', 'not-a-state'), 'ctx')).toMatchObject({ kind: 'internal', sqlState: undefined });
  });

  it('describes an error with an empty message by its code or name', () => {
    expect(describeError(withCode('', 'ECONNRESET'))).toBe('ECONNRESET');
    expect(describeError(new TypeError(''))).toBe('TypeError');
    expect(describeError(42)).toBe('42');
  });
});
