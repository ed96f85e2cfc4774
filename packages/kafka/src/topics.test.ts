import { describe, expect, it } from 'vitest';
import { groupIdFor, topicFor } from './topics.js';

describe('topic and group names', () => {
  it('keep the default network on safe.<persona> and give a named network its own topics and groups', () => {
    expect(topicFor('data-manager')).toBe('safe.data-manager');
    expect(topicFor('data-manager', 'ci-7')).toBe('safe.ci-7.data-manager');
    const name = new Uint8Array(64).fill(0xab);
    expect(groupIdFor('pmid-node', name, 'ci-7')).toBe(`safe.ci-7.pmid-node.${'ab'.repeat(16)}`);
    expect(() => topicFor('data-manager', 'Bad Name')).toThrow(/cannot name a Kafka topic/);
  });
});
