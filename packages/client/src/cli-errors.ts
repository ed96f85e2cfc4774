import type { Name } from '@safe/core';
import { parseFileName } from './data-map.js';

/** Exit codes, one per kind of failure (documented in `safe --help`). */
export const EXIT = {
  ok: 0,
  other: 1,
  usage: 2,
  notFound: 3,
  unavailable: 4,
  outOfSpace: 5,
  corrupt: 6,
  limit: 7,
  /** Ctrl-C (128 + SIGINT, as shells report it). */
  interrupted: 130,
} as const;

/** A failure of the command line itself: printed as is, with its exit code. */
export class CliError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

/** A usage error; `command` ("version put") names the help to see. */
export function usage(message: string, command = ''): CliError {
  return new CliError(EXIT.usage, `${message} (see safe ${command === '' ? '' : `${command} `}--help)`);
}

/** A file or version NAME: 128 hex characters. */
export function parseName(text: string): Name {
  try {
    return parseFileName(text);
  } catch (error) {
    throw new CliError(EXIT.usage, error instanceof Error ? error.message : String(error));
  }
}
