import { MPID_LIMITS } from '@safe/chunks';
import { awaitRecordLimits, type Name, ReplyStatus, replyStatusName, sender, toHex } from '@safe/core';
import type { SimNode } from '@safe/core/sim';
import { toMpidManager } from '@safe/messages';
import type { MpidManagerState } from '@safe/mpid-manager';
import { afterEach, describe, expect, it } from 'vitest';
import { checkRecordInvariant } from '../support/records-invariant.js';
import { SimMpid } from '../support/sim-mpid.js';
import { SimNet } from '../support/sim-network.js';

let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

const said = async (reply: Promise<{ status: ReplyStatus; message: string }>) => {
  const { status, message } = await reply;
  return `${replyStatusName(status)} ${message}`.trim();
};

/** Every MpidManager record is on exactly its K closest replicas, alike (SPEC.md 5a). */
async function expectRecordsAgree(net: SimNet, context: string): Promise<number> {
  await net.settleChurn();
  const { violations, records } = await checkRecordInvariant(net);
  expect(violations, `${context}: ${violations.join('\n')}`).toEqual([]);
  return records['mpid-manager'];
}

/** A network with MpidManagers and two clients owning the public ids alice and bob. */
async function start(seed: number): Promise<{ net: SimNet; alice: SimMpid; bob: SimMpid }> {
  net = await SimNet.start({ seed, reorder: true, duplicateRate: 0.1, counts: { 'mpid-manager': 6 } });
  net.sim.clock.advance(awaitRecordLimits(net.sim.params).ms + 1);
  const alice = new SimMpid(net, net.newClient(), 'alice');
  const bob = new SimMpid(net, net.newClient(), 'bob');
  expect((await alice.create()).status).toBe(ReplyStatus.OK);
  expect((await bob.create()).status).toBe(ReplyStatus.OK);
  return { net, alice, bob };
}

describe('the MpidManager on the deterministic network', () => {
  it.each([1, 2])('holds messages for an offline node and gives each once, in order (seed %i)', async (seed) => {
    const { net, alice, bob } = await start(seed);
    // A name is one client's: another client is refused, the owner repeating it is not.
    expect(await said(new SimMpid(net, net.newClient(), 'alice').create())).toBe('ALREADY_EXISTS the public id alice is taken');
    expect((await alice.create()).status).toBe(ReplyStatus.OK);
    // Sent out of their send order; held in it.
    expect((await alice.send('bob', 'second', 'm2', 2_000)).status).toBe(ReplyStatus.OK);
    expect((await alice.send('bob', 'first', 'm1', 1_000)).status).toBe(ReplyStatus.OK);
    expect((await bob.send('alice', 'hello alice', 'b1', 1_500)).status).toBe(ReplyStatus.OK);
    expect((await alice.send('bob', 'third', 'm3', 3_000)).status).toBe(ReplyStatus.OK);
    // A resend of the same message is accepted and held once.
    expect((await alice.send('bob', 'first', 'm1', 1_000)).status).toBe(ReplyStatus.OK);
    expect(await bob.held()).toEqual(['alice:first', 'alice:second', 'alice:third']);
    expect(await alice.held()).toEqual(['bob:hello alice']);
    // Acknowledged messages are no longer held, and a late copy of one is not held again.
    const [first, second] = SimMpid.messages(await bob.inbox());
    expect((await bob.acknowledge([first, second].filter((m) => m !== undefined))).status).toBe(ReplyStatus.OK);
    expect((await alice.send('bob', 'first', 'm1', 1_000)).status).toBe(ReplyStatus.OK);
    expect(await bob.held()).toEqual(['alice:third']);
    // Unknown recipients, oversized bodies and ids: refused, nothing held.
    expect(await said(alice.send('nobody', 'x', 'n1', 4_000))).toBe('NOT_FOUND no public id with this name');
    expect(await said(alice.send('bob', 'x'.repeat(MPID_LIMITS.bodyBytes + 1), 'big', 4_000))).toBe(
      `RESOURCE_EXHAUSTED a message body is at most ${MPID_LIMITS.bodyBytes} bytes, this one is ${MPID_LIMITS.bodyBytes + 1}`,
    );
    expect(await bob.held()).toEqual(['alice:third']);
    // Two accounts, and one message held for each of bob and alice.
    expect(await expectRecordsAgree(net, `seed ${seed}`)).toBe(4);
  });

  it('the allow and block lists decide who reaches an MPID; only its owner changes or reads them', async () => {
    const { net, alice, bob } = await start(3);
    const carol = new SimMpid(net, net.newClient(), 'carol');
    expect((await carol.create()).status).toBe(ReplyStatus.OK);
    expect((await bob.change(toMpidManager.addToBlackList, 'alice')).status).toBe(ReplyStatus.OK);
    expect(await said(alice.send('bob', 'hi', 'a1', 1))).toBe('PERMISSION_DENIED bob does not accept messages from alice');
    expect((await bob.change(toMpidManager.removeFromBlackList, 'alice')).status).toBe(ReplyStatus.OK);
    expect((await alice.send('bob', 'hi again', 'a2', 2)).status).toBe(ReplyStatus.OK);
    // A non-empty allow list admits only its names.
    expect((await bob.change(toMpidManager.addToWhiteList, 'carol')).status).toBe(ReplyStatus.OK);
    expect(await said(alice.send('bob', 'still there?', 'a3', 3))).toBe('PERMISSION_DENIED bob does not accept messages from alice');
    expect((await carol.send('bob', 'from carol', 'c1', 4)).status).toBe(ReplyStatus.OK);
    expect(await bob.lists()).toEqual({ white: ['carol'], black: [] });
    expect(await said(bob.change(toMpidManager.addToWhiteList, 'not a name'))).toMatch(/^INVALID_ARGUMENT a list entry has no spaces/);
    // Another client changes and reads nothing of bob's.
    expect(await said(bob.change(toMpidManager.removeFromWhiteList, 'carol', alice.client))).toBe(
      'PERMISSION_DENIED this account does not own the public id bob',
    );
    expect(await said(bob.inbox(alice.client))).toBe('PERMISSION_DENIED this account does not own the public id bob');
    expect(await bob.held()).toEqual(['alice:hi again', 'carol:from carol']);
    expect(await expectRecordsAgree(net, 'after list changes')).toBe(5);
  });

  it('a forged sender is refused: another client, or a minority of MpidManagers', async () => {
    const { net, alice, bob } = await start(4);
    const mallory = net.newClient();
    expect(await said(alice.send('bob', 'forged', 'f1', 1, mallory))).toBe(
      'PERMISSION_DENIED this account does not own the public id alice',
    );
    // One MpidManager of alice's group sends bob's group a Message the rest never sent: short of K − 1 copies.
    const [liar] = groupOf(net, alice.name);
    const message = { sender: alice.name, from: 'alice', id: Buffer.from('f2'), sentAt: 2, body: Buffer.from('forged too') };
    await liar?.replica.dispatch({
      send: [
        sender('mpid-manager')(
          toMpidManager.message,
          { nae: bob.name, scope: 'close-group', as: alice.name },
          { recipient: bob.name, message, origin: null },
        ),
      ],
    });
    for (let tick = 0; tick < 3; tick++) {
      await net.settleChurn();
      await net.sim.tickAll();
    }
    expect(await bob.held()).toEqual([]);
  });

  it('lists and held messages move with churn of MpidManagers; nothing is lost or given twice', async () => {
    const { net, alice, bob } = await start(6);
    expect((await bob.change(toMpidManager.addToBlackList, 'mallory')).status).toBe(ReplyStatus.OK);
    for (let i = 1; i <= 3; i++) expect((await alice.send('bob', `m${i}`, `m${i}`, i)).status).toBe(ReplyStatus.OK);
    expect(await expectRecordsAgree(net, 'before churn')).toBe(5);
    for (const step of ['leave', 'join', 'leave', 'join', 'join'] as const) {
      if (step === 'join') await net.add('mpid-manager');
      else await net.leave((groupOf(net, bob.name)[0] as SimNode).info.name);
      expect(await expectRecordsAgree(net, `after a ${step}`)).toBe(5);
    }
    const held = SimMpid.messages(await bob.inbox());
    expect(held.map((m) => Buffer.from(m.body).toString())).toEqual(['m1', 'm2', 'm3']);
    expect((await bob.acknowledge(held)).status).toBe(ReplyStatus.OK);
    // The member a leave brings into bob's group never saw the acknowledgement, yet remembers it as
    // the group does: a late copy (a resend, or the bus replaying a partition it now reads) is not held.
    await net.leave((groupOf(net, bob.name)[0] as SimNode).info.name);
    expect(await expectRecordsAgree(net, 'after the acknowledgement and a leave')).toBe(2);
    for (const node of groupOf(net, bob.name)) {
      const store = (node.replica.state as MpidManagerState).store;
      for (const m of held)
        expect(
          await store.wasAcknowledged(bob.name, m),
          `${toHex(node.info.name).slice(0, 8)} forgot ${Buffer.from(m.id).toString()}`,
        ).toBe(true);
    }
    await net.add('mpid-manager');
    expect(await expectRecordsAgree(net, 'after the acknowledgement and a join')).toBe(2);
    expect(await bob.held()).toEqual([]);
    expect(await bob.lists()).toEqual({ white: [], black: ['mallory'] });
  });
});

describe('a list change that reached some members and not yet others', () => {
  /** Sets `member`'s copy of the recipient's block list, as if a list change reached it alone, or not yet. */
  async function setBlockList(member: SimNode, mpid: Name, black: string[]): Promise<void> {
    const store = (member.replica.context.state as MpidManagerState).store;
    const account = await store.account(mpid);
    if (account === undefined) throw new Error('no account to change');
    await store.writeAccount(mpid, { ...account, black });
  }

  it.each([3, 4])('decides a message alike for the whole group: held by all or by none (seed %i)', async (seed) => {
    const { net, alice, bob } = await start(seed);
    expect((await bob.change(toMpidManager.addToBlackList, 'alice')).status).toBe(ReplyStatus.OK);
    await net.settleChurn();
    const [lagging, ahead] = groupOf(net, bob.name) as [SimNode, SimNode];
    // One member has not applied the block yet: the rest refuse, so nothing may be held anywhere.
    await setBlockList(lagging, bob.name, []);
    expect(await said(alice.send('bob', 'blocked', 'x1', 1_000))).toBe('PERMISSION_DENIED bob does not accept messages from alice');
    await setBlockList(lagging, bob.name, ['alice']); // the change reaches it
    expect(await expectRecordsAgree(net, 'a message one member admitted')).toBe(2);
    // The block lifted everywhere but one member, which is ahead with a new block: the majority admits, all hold it.
    expect((await bob.change(toMpidManager.removeFromBlackList, 'alice')).status).toBe(ReplyStatus.OK);
    await net.settleChurn();
    await setBlockList(ahead, bob.name, ['alice']);
    expect((await alice.send('bob', 'admitted', 'x2', 2_000)).status).toBe(ReplyStatus.OK);
    await setBlockList(ahead, bob.name, []);
    expect(await expectRecordsAgree(net, 'a message one member refused')).toBe(3);
    expect(await bob.held()).toEqual(['alice:admitted']);
  });
});

function groupOf(net: SimNet, nae: Name): SimNode[] {
  return net.sim.routing
    .view('mpid-manager')
    .closeGroup(nae, net.sim.params.closeGroupSize)
    .map((n) => net.sim.node(n))
    .filter((n): n is SimNode => n !== undefined);
}
