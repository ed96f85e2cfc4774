import { type Envelope, generateIdentity, type MemberAnnouncement, type Name, sealEnvelope, type Transport } from '@safe/core';
import { describe, expect, it } from 'vitest';
import { endpointResolver, routingFromMembers, SplitTransport, viewIncludes, viewSignature } from './transport.js';

function envelope(scope: 'node' | 'close-group', type: string): Envelope {
  const from = generateIdentity();
  const to = generateIdentity();
  return sealEnvelope(
    {
      type,
      source: { persona: 'pmid-manager', nae: from.name },
      authority: 'group',
      destination: { persona: scope === 'node' ? 'pmid-node' : 'data-manager', nae: to.name },
      scope,
      payload: new Uint8Array(0),
      correlation: new Uint8Array(0),
    },
    from,
  );
}

class Recording implements Transport {
  readonly sent: string[] = [];
  send(e: Envelope): void {
    this.sent.push(e.type);
  }
}

describe('SplitTransport', () => {
  it('sends node-scoped copies directly and close-group copies on the group bus', async () => {
    const direct = new Recording();
    const group = new Recording();
    const transport = new SplitTransport(direct, group);
    await transport.send(envelope('node', 'Put')); // PmidManager → PmidNode
    await transport.send(envelope('close-group', 'PutResponse')); // PmidManager ->>>> DataManager
    await transport.send(envelope('node', 'Sync'));
    await transport.send(envelope('node', 'ClientReply'));
    expect(direct.sent).toEqual(['Put', 'Sync', 'ClientReply']);
    expect(group.sent).toEqual(['PutResponse']);
  });

  it('passes a group-bus failure on to the runtime (a direct one never gets there)', async () => {
    const failing: Transport = { send: () => Promise.reject(new Error('kafka down')) };
    const transport = new SplitTransport(new Recording(), failing);
    await expect(transport.send(envelope('close-group', 'Put'))).rejects.toThrow('kafka down');
  });
});

describe('the routing view from membership', () => {
  const a = generateIdentity();
  const b = generateIdentity();
  const member = (persona: string, id = a, endpoint = '10.0.0.1:7000'): MemberAnnouncement => ({
    persona,
    name: id.name,
    publicKey: id.publicKey,
    endpoint,
  });

  it('takes announcements that check out and resolves endpoints from them', () => {
    const { routing, refused } = routingFromMembers([member('pmid-node'), member('data-manager', b, '10.0.0.2:7000')]);
    expect(refused).toEqual([]);
    expect(viewIncludes(routing, 'pmid-node', a.name)).toBe(true);
    expect(viewIncludes(routing, 'data-manager', a.name)).toBe(false);
    const resolve = endpointResolver(() => routing);
    expect(resolve({ persona: 'pmid-node', nae: a.name })).toBe('10.0.0.1:7000');
    expect(resolve({ persona: 'data-manager', nae: b.name })).toBe('10.0.0.2:7000');
    expect(resolve({ persona: 'pmid-node', nae: b.name })).toBeUndefined();
    expect(resolve({ persona: 'client', nae: a.name })).toBeUndefined();
  });

  it('refuses an unknown persona, and a name that is not the hash of the key', () => {
    const forged: MemberAnnouncement = { persona: 'pmid-node', name: b.name, publicKey: a.publicKey, endpoint: 'x:1' };
    const short: MemberAnnouncement = { persona: 'pmid-node', name: new Uint8Array(3) as Name, publicKey: a.publicKey, endpoint: 'x:1' };
    const { routing, refused } = routingFromMembers([member('wizard'), forged, short]);
    expect(routing.allNodes()).toEqual([]);
    expect(refused).toHaveLength(3);
    expect(refused.join('\n')).toMatch(/unknown persona[\s\S]*not the hash[\s\S]*wrong size/);
  });

  it('tells a real change (a node, an endpoint) from the same view read again', () => {
    const one = routingFromMembers([member('pmid-node'), member('data-manager', b)]).routing;
    const same = routingFromMembers([member('data-manager', b), member('pmid-node')]).routing;
    const moved = routingFromMembers([member('pmid-node', a, '10.0.0.9:7000'), member('data-manager', b)]).routing;
    expect(viewSignature(same)).toBe(viewSignature(one));
    expect(viewSignature(moved)).not.toBe(viewSignature(one));
  });

  it("carries a PmidManager's rank reports into the view, where they are a change; leaves out reports that do not check out", () => {
    const pmid = generateIdentity().name;
    const manager = (rankReports: MemberAnnouncement['rankReports']) => ({ ...member('pmid-manager', b), rankReports });
    const plain = routingFromMembers([member('pmid-node'), member('pmid-manager', b)]).routing;
    const ranked = routingFromMembers([member('pmid-node'), manager([{ pmid, rank: 0.5 }])]);
    expect(ranked.refused).toEqual([]);
    expect(ranked.routing.view('pmid-manager').get(b.name)?.rankReports).toEqual([{ pmid, rank: 0.5 }]);
    expect(viewSignature(ranked.routing)).not.toBe(viewSignature(plain));
    expect(viewSignature(routingFromMembers([member('pmid-node'), manager([{ pmid, rank: 0.5 }])]).routing)).toBe(
      viewSignature(ranked.routing),
    );

    const bad: [MemberAnnouncement, RegExp][] = [
      [{ ...member('data-manager', b), rankReports: [{ pmid, rank: 0.5 }] }, /data-manager does not report ranks/],
      [manager([{ pmid: new Uint8Array(3) as Name, rank: 0.5 }]), /wrong size/],
      [manager([{ pmid, rank: 1.5 }]), /not between 0 and 1/],
      [manager([{ pmid, rank: Number.NaN }]), /not between 0 and 1/],
      [
        manager([
          { pmid, rank: 0.5 },
          { pmid, rank: 0 },
        ]),
        /reported twice/,
      ],
    ];
    for (const [announcement, why] of bad) {
      const { routing, refused } = routingFromMembers([announcement]);
      expect(refused.join('\n')).toMatch(why);
      const node = routing.view(announcement.persona as 'pmid-manager').get(b.name);
      expect(node, 'the member stays in the view').toBeDefined();
      expect(node?.rankReports).toBeUndefined();
    }
  });
});
