import { GetRequestSchema, PutReplySchema } from '@safe/proto/messages';
import { describe, expect, it } from 'vitest';
import { answering, clientRequest, definePersona, handles, messageType, sender } from './message-type.js';
import type { Name } from './name.js';
import { type Incoming, NOTHING, reply } from './persona.js';

const put = messageType(GetRequestSchema, {
  type: 'Get',
  from: ['maid-manager', 'client'],
  to: 'data-manager',
  accumulate: 'group',
  firewall: true,
  sync: false,
});
const nae = new Uint8Array(64) as Name;

describe('a row of the message table', () => {
  it('makes the outbound message of a declared sender: its type, its persona, its payload encoded', () => {
    const out = sender('maid-manager')(put, { nae, scope: 'close-group' }, { name: nae, nonce: new Uint8Array([1]) });
    expect(out.type).toBe('Get');
    expect(out.to.persona).toBe('data-manager');
    expect(put.payload.decode(out.payload).nonce).toEqual(Buffer.from([1]));
  });

  it('is a compile error to send it from another persona, with another payload, or to handle it elsewhere', () => {
    // @ts-expect-error: the PmidManagers do not send this message
    sender('pmid-manager')(put, { nae, scope: 'close-group' }, { name: nae, nonce: nae });
    // @ts-expect-error: the payload is the row's (GetRequest), not a PutReply
    sender('maid-manager')(put, { nae, scope: 'close-group' }, { name: nae, cost: 1 });
    const handled = handles(put, () => NOTHING);
    definePersona({ persona: 'data-manager', speaksAs: 'group', messages: [handled], actions: [] });
    // @ts-expect-error: a MaidManager does not receive what is addressed to the DataManagers
    definePersona({ persona: 'maid-manager', speaksAs: 'group', messages: [handled], actions: [] });
    expect(messageType(PutReplySchema, { ...put, to: 'maid-manager' }).payload.typeName).toBe('safe.v1.PutReply');
  });

  it("makes a client's request of a row a client sends, a read's payload made anew for each ask", () => {
    const once = clientRequest(put, nae, { name: nae, nonce: new Uint8Array([1]) });
    expect(once.to).toEqual({ persona: 'data-manager', nae });
    expect(put.payload.decode(once.payload as Uint8Array).nonce).toEqual(Buffer.from([1]));
    let asked = 0;
    const read = clientRequest(put, nae, () => ({ name: nae, nonce: new Uint8Array([++asked]) }));
    const make = read.payload as () => Uint8Array;
    expect([put.payload.decode(make()).nonce, put.payload.decode(make()).nonce]).toEqual([Buffer.from([1]), Buffer.from([2])]);
    const fromManagers = messageType(GetRequestSchema, { ...put, from: ['maid-manager'] });
    // @ts-expect-error: no client sends this row
    clientRequest(fromManagers, nae, { name: nae, nonce: nae });
  });

  it('answers a request where reply() would: the asking group, correlated with and answering it', () => {
    const ask = { id: Uint8Array.of(7), authority: 'group', source: { persona: 'data-manager', nae }, sender: nae } as Incoming<unknown>;
    const out = sender('maid-manager')(put, answering(ask), { name: nae, nonce: nae });
    expect(out).toEqual(reply(ask, 'Get', put.payload.encode({ name: nae, nonce: nae })));
  });
});
