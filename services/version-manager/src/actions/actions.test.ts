import { randomBytes } from 'node:crypto';
import { keyDataName, sdvName, toWireVersion } from '@safe/chunks';
import { type HandlerContext, type Name, nameOf, type Outcome, replyStatusName } from '@safe/core';
import { toMaidManager } from '@safe/messages';
import { openPglite, type PgliteHost } from '@safe/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVersionManagerState, type VersionManagerState } from '../state.js';
import { applyDeleteBranch } from './apply-delete-branch.js';
import { applyPutVersion } from './apply-put-version.js';

let host: PgliteHost;
let ctx: HandlerContext<VersionManagerState>;

beforeAll(async () => {
  host = await openPglite();
  ctx = { state: await openVersionManagerState(host.database('vm_actions')) } as HandlerContext<VersionManagerState>;
}, 60_000);
afterAll(() => host.close());

const v = (index: number, label: string) => toWireVersion({ index: BigInt(index), id: nameOf(Buffer.from(label)) });
/** The answer an outcome sends the owner's MaidManagers: status and message. */
const said = (outcome: Outcome | undefined) =>
  (outcome?.send ?? []).map((out) => {
    const { reply } = toMaidManager.versionResult.payload.decode(out.payload);
    if (reply == null) return `${out.type} ${out.to.persona} without its reply`;
    return `${out.type} ${out.to.persona} ${replyStatusName(reply.status)} ${reply.message} ${Buffer.from(reply.payload).toString('hex')}`;
  });

describe('what a member owes for an action that reached it in a transferred SDV', () => {
  it('is the answer the members that applied it gave, and writes nothing', async () => {
    const owner = nameOf(randomBytes(8));
    const dataName = keyDataName('owed');
    const nae = sdvName(dataName, 0, owner) as Name;
    const put = (old: ReturnType<typeof v> | null, next: ReturnType<typeof v>) => ({
      request: { dataName, type: 0, owner, old, newVersion: next, maxVersions: 0, maxBranches: 0, origin: null },
      answers: randomBytes(64),
    });
    const root = put(null, v(0, 'root'));
    const applied = said(await applyPutVersion.apply(root, ctx, nae));
    expect(applied[0]).toMatch(/^VersionResult maid-manager OK {2}/);
    expect(said(await applyPutVersion.owed?.(root, ctx, nae))).toEqual(applied);
    const secondRoot = put(null, v(0, 'another root'));
    const refused = said(await applyPutVersion.apply(secondRoot, ctx, nae));
    expect(refused[0]).toMatch(/INVALID_ARGUMENT the SDV has a root already/);
    expect(said(await applyPutVersion.owed?.(secondRoot, ctx, nae))).toEqual(refused);

    // A fork under the root: deleting one branch leaves the root and the other.
    await applyPutVersion.apply(put(v(0, 'root'), v(1, 'child')), ctx, nae);
    await applyPutVersion.apply(put(v(0, 'root'), v(1, 'sibling')), ctx, nae);
    const before = await ctx.state.store.value(nae);
    const del = { request: { dataName, type: 0, owner, tip: v(1, 'child'), origin: null }, answers: randomBytes(64) };
    const deleted = said(await applyDeleteBranch.apply(del, ctx, nae));
    expect(deleted[0]).toMatch(/OK/);
    expect(said(await applyDeleteBranch.owed?.(del, ctx, nae))).toEqual(deleted);
    // Owed answers write nothing: the SDV is as the applied Delete left it, not as it was before.
    expect(await ctx.state.store.value(nae)).not.toEqual(before);
    await applyPutVersion.owed?.(put(v(0, 'root'), v(2, 'never applied')), ctx, nae);
    expect((await ctx.state.store.sdv(nae))?.sdv.entries).toHaveLength(2);
  });
});
