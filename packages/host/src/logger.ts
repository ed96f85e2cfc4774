import type { Logger } from '@safe/core';
import { type Logger as PinoLogger, pino } from 'pino';
import type { LogLevel } from './config.js';

/** The process's pino logger (JSON lines on stdout); core's Logger port is a subset of pino's API. */
export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}): PinoLogger {
  return pino({ level, base: { pid: process.pid, ...bindings } });
}

export function asCoreLogger(logger: PinoLogger): Logger {
  return logger as unknown as Logger;
}
