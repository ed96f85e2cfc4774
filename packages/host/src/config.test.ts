import { ConfigError, intField, settingOf } from '@safe/core';
import { describe, expect, it } from 'vitest';
import { advertisedHost, describeReplicaConfig, hostConfigFields, loadReplicaConfig, membershipKey } from './config.js';

describe('loadReplicaConfig', () => {
  it('takes every default from an empty environment', () => {
    const config = loadReplicaConfig({}, {});
    expect(config.grpcHost).toBe('127.0.0.1');
    expect(config.grpcPort).toBe(0);
    expect(advertisedHost(config)).toBe('127.0.0.1');
    expect(config.kafkaBrokers).toEqual(['127.0.0.1:9092']);
    expect(config.closeGroupSize).toBe(4);
    expect(config.adoptVaultKeysDir).toBe('');
    expect(membershipKey(config)).toBe('safe:members');
    expect(membershipKey(loadReplicaConfig({}, { SAFE_NETWORK: 'testnet-7' }))).toBe('safe:testnet-7:members');
  });

  it('reads the stack from the environment, and the fields of the persona with it', () => {
    const extra = { pmidCapacity: intField('SAFE_PMID_CAPACITY', 1024, 'bytes offered', 1) };
    const config = loadReplicaConfig(extra, {
      SAFE_POSTGRES_URL: 'postgres://safe@127.0.0.1:55432/safe',
      SAFE_REDIS_URL: 'redis://127.0.0.1:56379',
      SAFE_KAFKA_BROKERS: '127.0.0.1:19092, [::1]:19093',
      SAFE_GRPC_HOST: '0.0.0.0',
      SAFE_ADVERTISE_HOST: 'data-manager-0.data-manager',
      SAFE_K: '3',
      SAFE_PMID_CAPACITY: '4096',
    });
    expect(config.kafkaBrokers).toEqual(['127.0.0.1:19092', '[::1]:19093']);
    expect(advertisedHost(config)).toBe('data-manager-0.data-manager');
    expect(config.closeGroupSize).toBe(3);
    expect(config.pmidCapacity).toBe(4096);
  });

  it('lists every problem in one ConfigError', () => {
    const extra = { pmidCapacity: intField('SAFE_PMID_CAPACITY', 1024, 'bytes offered', 1) };
    let error: unknown;
    try {
      loadReplicaConfig(extra, {
        SAFE_GRPC_PORT: 'eighty',
        SAFE_REDIS_URL: 'http://127.0.0.1:6379',
        SAFE_POSTGRES_URL: 'not a url',
        SAFE_KAFKA_BROKERS: 'kafka-without-port',
        SAFE_HEARTBEAT_MS: '1000',
        SAFE_MEMBER_EXPIRY_MS: '1500',
        SAFE_LOG_LEVEL: 'loud',
        SAFE_PMID_CAPACITY: '0',
        SAFE_NETWORK: 'Not Ok',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    for (const name of [
      'SAFE_GRPC_PORT',
      'SAFE_REDIS_URL',
      'SAFE_POSTGRES_URL',
      'SAFE_KAFKA_BROKERS',
      'SAFE_MEMBER_EXPIRY_MS',
      'SAFE_LOG_LEVEL',
      'SAFE_PMID_CAPACITY',
      'SAFE_NETWORK',
    ]) {
      expect(message).toContain(name);
    }
    expect(message.match(/; /g)).toHaveLength(7);
  });

  it('needs an address others can dial when listening on every interface', () => {
    expect(() => loadReplicaConfig({}, { SAFE_GRPC_HOST: '0.0.0.0' })).toThrow(/SAFE_ADVERTISE_HOST must be set/);
    expect(() => loadReplicaConfig({}, { SAFE_ADVERTISE_HOST: '0.0.0.0' })).toThrow(/SAFE_ADVERTISE_HOST must be an address/);
  });

  it('documents every variable', () => {
    const table = describeReplicaConfig({ pmidCapacity: intField('SAFE_PMID_CAPACITY', 1024, 'bytes offered', 1) });
    for (const field of Object.values(hostConfigFields)) expect(table).toContain(`\`${settingOf(field).env}\``);
    expect(table).toContain('`SAFE_PMID_CAPACITY`');
    expect(table).toContain('TESTNET ONLY');
  });
});
