import { entryClientMessageTypes } from '@safe/maid-manager';
import { describe, expect, it } from 'vitest';
import { clientMessageTypes } from './replicas.js';

describe('the MaidManager entry of --stack local', () => {
  it('routes every client message of every persona, as the embedded testnet reads them off the tables', () => {
    const entry = entryClientMessageTypes();
    expect(Object.fromEntries([...entry].sort())).toEqual(Object.fromEntries([...clientMessageTypes()].sort()));
    expect(entry.get('SendMessage')).toBe('mpid-manager');
  });
});
