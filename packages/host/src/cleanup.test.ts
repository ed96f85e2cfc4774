import { type Logger, silentLogger } from '@safe/core';
import { describe, expect, it } from 'vitest';
import { Cleanup } from './cleanup.js';

describe('Cleanup', () => {
  it('runs stage by stage in the shutdown order, the latest registered first within a stage, once', async () => {
    const done: string[] = [];
    const cleanup = new Cleanup(silentLogger);
    // Registered in start order: the consumer starts before gRPC, yet gRPC closes first.
    cleanup.defer('data dir', () => done.push('unlock'));
    cleanup.defer('consumer', () => done.push('consumer'));
    cleanup.defer('grpc', () => done.push('grpc'));
    cleanup.defer('leave membership', () => done.push('leave'));
    cleanup.defer('leave membership', () => done.push('unwatch'));
    cleanup.defer('ticks', () => done.push('ticks'));
    await cleanup.run();
    await cleanup.run();
    expect(done).toEqual(['ticks', 'grpc', 'unwatch', 'leave', 'consumer', 'unlock']);
  });

  it('logs a failed step and goes on', async () => {
    const warnings: string[] = [];
    const log: Logger = { ...silentLogger, warn: (_fields, message) => warnings.push(message ?? ''), child: () => log };
    const cleanup = new Cleanup(log);
    const done: string[] = [];
    cleanup.deferStep('grpc', 'closing gRPC', () => Promise.reject(new Error('boom')));
    cleanup.defer('redis', () => done.push('redis'));
    await cleanup.run();
    expect(warnings).toEqual(['shutdown: closing gRPC failed']);
    expect(done).toEqual(['redis']);
  });
});
