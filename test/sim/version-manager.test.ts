import { toWireVersion } from '@safe/chunks';
import { awaitRecordLimits, type Name, nameEquals, protoCodec, ReplyStatus, replyStatusName, sender, syncKey } from '@safe/core';
import type { SimNode } from '@safe/core/sim';
import { toVersionManager } from '@safe/messages';
import { SyncProposalSchema } from '@safe/proto/messages';
import { applyPutVersionCodec } from '@safe/version-manager';
import { afterEach, describe, expect, it } from 'vitest';
import { checkRecordInvariant } from '../support/records-invariant.js';
import { SimNet } from '../support/sim-network.js';
import { SimSdv, shown, version } from '../support/sim-versions.js';

let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

const versionsOf = SimSdv.versions;
const statusOf = async (reply: Promise<{ status: ReplyStatus; message: string }>) => {
  const { status, message } = await reply;
  return `${replyStatusName(status)} ${message}`;
};

/** Every VersionManager record is on exactly its K closest replicas, alike (SPEC.md 5a). */
async function expectRecordsAgree(net: SimNet, context: string): Promise<number> {
  const { violations, records } = await checkRecordInvariant(net);
  expect(violations, `${context}: ${violations.join('\n')}`).toEqual([]);
  return records['version-manager'];
}

async function start(seed: number): Promise<{ net: SimNet; sdv: SimSdv }> {
  net = await SimNet.start({ seed, reorder: true, duplicateRate: 0.1, counts: { 'version-manager': 6 } });
  const client = net.newClient();
  await net.setUpClient(client);
  // Past the window in which members that just joined hold a read of a record they lack (it may
  // come by account transfer): from here an unknown name is answered at once.
  net.sim.clock.advance(awaitRecordLimits(net.sim.params).ms + 1);
  return { net, sdv: new SimSdv(net, client, 'notes.txt') };
}

describe('the VersionManager on the deterministic network', () => {
  it.each([1, 2])('keeps a tree of versions, agreed by the group, with reordered and duplicated messages (seed %i)', async (seed) => {
    const { net, sdv } = await start(seed);
    const [v0, v1, v2, v3] = [version(0, 'a'), version(1, 'b'), version(2, 'c'), version(3, 'fork')];
    expect(shown(versionsOf(await sdv.put(null, v0)))).toEqual(shown([v0]));
    for (const [old, next] of [
      [v0, v1],
      [v1, v2],
      [v1, v3],
    ] as const)
      expect((await sdv.put(old, next)).status).toBe(ReplyStatus.OK);
    // The tips, highest first; a branch back to the root.
    expect(shown(versionsOf(await sdv.tips()))).toEqual(shown([v3, v2]));
    expect(shown(versionsOf(await sdv.branch(v2)))).toEqual(shown([v2, v1, v0]));
    // A repeat is no change; the rules refuse with a clear answer and change nothing.
    expect((await sdv.put(v1, v2)).status).toBe(ReplyStatus.OK);
    expect(await statusOf(sdv.put(v0, v2))).toMatch(/^INVALID_ARGUMENT version 2 .* under another parent/);
    expect(await statusOf(sdv.put(null, version(0, 'other root')))).toMatch(/^INVALID_ARGUMENT the SDV has a root already/);
    expect(await statusOf(sdv.branch(v1))).toMatch(/^INVALID_ARGUMENT version 1 .* is not a tip/);
    expect(await statusOf(sdv.branch(version(9, 'absent')))).toMatch(/^NOT_FOUND no such version: 9 /);
    expect(await statusOf(sdv.deleteBranch(v1))).toMatch(/^INVALID_ARGUMENT version 1 .* is not a tip/);
    // DeleteBranchTillFork takes the fork's branch only: v1 has two children, so it stays.
    expect(shown(versionsOf(await sdv.deleteBranch(v3)))).toEqual(shown([v2]));
    expect(shown(versionsOf(await sdv.tips()))).toEqual(shown([v2]));
    await net.settleChurn();
    expect(await expectRecordsAgree(net, `seed ${seed}`)).toBe(1);
  });

  it('anyone who knows the name reads; only the owner changes it; an unknown name is not found', async () => {
    const { net, sdv } = await start(3);
    const v0 = version(0, 'mine');
    expect((await sdv.put(null, v0)).status).toBe(ReplyStatus.OK);
    const other = net.newClient();
    await net.setUpClient(other);
    expect(shown(versionsOf(await sdv.tips(other)))).toEqual(shown([v0]));
    // The other client's Put under the same KEY names its own SDV: the owner's is untouched.
    const theirs = new SimSdv(net, other, 'notes.txt');
    expect(nameEquals(theirs.name, sdv.name)).toBe(false);
    expect((await theirs.put(null, version(0, 'theirs'))).status).toBe(ReplyStatus.OK);
    expect(shown(versionsOf(await sdv.tips()))).toEqual(shown([v0]));
    expect(await statusOf(new SimSdv(net, sdv.client, 'never written').tips())).toBe('NOT_FOUND no versions under this name');
    // A client with no account changes nothing.
    const stranger = new SimSdv(net, net.newClient(), 'notes.txt');
    expect(await statusOf(stranger.put(null, version(0, 'x')))).toMatch(/^PERMISSION_DENIED unknown client/);
  });

  it('holds an SDV to the limits it was created with', async () => {
    const { net, sdv } = await start(4);
    const [v0, v1, v2] = [version(0, 'a'), version(1, 'b'), version(2, 'c')];
    expect((await sdv.put(null, v0, { maxVersions: 2, maxBranches: 1 })).status).toBe(ReplyStatus.OK);
    expect((await sdv.put(v0, v1)).status).toBe(ReplyStatus.OK);
    expect(await statusOf(sdv.put(v0, version(1, 'second branch')))).toMatch(
      /^RESOURCE_EXHAUSTED cannot exceed limit: 2 branches, .* at most 1/,
    );
    // A third version: the root goes, its child becomes the root.
    expect((await sdv.put(v1, v2)).status).toBe(ReplyStatus.OK);
    expect(shown(versionsOf(await sdv.branch(v2)))).toEqual(shown([v2, v1]));
    // Limits outside what the README documents are refused before anything is sent.
    const other = new SimSdv(net, sdv.client, 'other');
    expect(await statusOf(other.put(null, v0, { maxVersions: 100_000, maxBranches: 0 }))).toMatch(
      /^INVALID_ARGUMENT maxVersions must be from 1 to 256/,
    );
  });

  it('a minority proposing a different version is refused: nothing but what the group agreed is applied', async () => {
    const { net, sdv } = await start(5);
    const v0 = version(0, 'agreed');
    expect((await sdv.put(null, v0)).status).toBe(ReplyStatus.OK);
    await net.settleChurn();
    const forged = version(1, 'forged');
    const request = {
      dataName: sdv.dataName,
      type: 0,
      owner: sdv.client.name,
      old: toWireVersion(v0),
      newVersion: toWireVersion(forged),
      maxVersions: 0,
      maxBranches: 0,
      origin: null,
    };
    // One MaidManager of the client's group sends a PutVersion the rest never sent: short of K − 1 copies.
    const [maidManager] = groupOf(net, 'maid-manager', sdv.client.name);
    await maidManager?.replica.dispatch({
      send: [sender('maid-manager')(toVersionManager.putVersion, { nae: sdv.name, scope: 'close-group', as: sdv.client.name }, request)],
    });
    // One VersionManager of the SDV's group tells its peers it saw an ApplyPutVersion no one else did.
    const [liar, ...peers] = groupOf(net, 'version-manager', sdv.name);
    const parameters = applyPutVersionCodec.encode({ request, answers: net.nonce() });
    const key = syncKey(net.nonce(), 0, 'ApplyPutVersion');
    const sync = protoCodec(SyncProposalSchema);
    await liar?.replica.dispatch({
      send: peers.map((peer) => ({
        type: 'Sync',
        to: { persona: 'version-manager', nae: peer.info.name },
        scope: 'node' as const,
        payload: sync.encode({ key, action: 'ApplyPutVersion', nae: sdv.name, parameters, resent: false }),
        as: sdv.name,
      })),
    });
    for (let tick = 0; tick < 5; tick++) {
      await net.settleChurn();
      await net.sim.tickAll();
    }
    expect(shown(versionsOf(await sdv.tips()))).toEqual(shown([v0]));
    await expectRecordsAgree(net, 'after the minority');
  });

  it('SDV records move with churn of VersionManagers and stay answerable', async () => {
    const { net, sdv } = await start(6);
    const versions = [version(0, 'v0'), version(1, 'v1'), version(2, 'v2')];
    let old: (typeof versions)[number] | null = null;
    for (const next of versions) {
      expect((await sdv.put(old, next)).status).toBe(ReplyStatus.OK);
      old = next;
    }
    const more = new SimSdv(net, sdv.client, 'second');
    expect((await more.put(null, version(0, 'w'))).status).toBe(ReplyStatus.OK);
    await net.settleChurn();
    expect(await expectRecordsAgree(net, 'before churn')).toBe(2);
    // The members closest to the first SDV leave one by one, and newcomers join.
    for (const step of ['leave', 'join', 'leave', 'join', 'join'] as const) {
      if (step === 'join') await net.add('version-manager');
      else await net.leave((groupOf(net, 'version-manager', sdv.name)[0] as SimNode).info.name);
      await net.settleChurn();
      expect(await expectRecordsAgree(net, `after a ${step}`)).toBe(2);
    }
    expect(shown(versionsOf(await sdv.branch(version(2, 'v2'))))).toEqual(shown([...versions].reverse()));
    expect((await sdv.put(version(2, 'v2'), version(3, 'v3'))).status).toBe(ReplyStatus.OK);
  });
});

function groupOf(net: SimNet, persona: 'maid-manager' | 'version-manager', nae: Name): SimNode[] {
  return net.sim.routing
    .view(persona)
    .closeGroup(nae, net.sim.params.closeGroupSize)
    .map((n) => net.sim.node(n))
    .filter((n): n is SimNode => n !== undefined);
}
