import { randomBytes } from 'node:crypto';
import { ChunkCopy, copyGroupName } from '@safe/chunks';
import {
  DEFAULT_GROUP_PARAMETERS,
  type HandlerContext,
  type Name,
  type NodeInfo,
  nameOf,
  RoutingTable,
  sortByCloseness,
  toHex,
} from '@safe/core';
import { openPglite, type PgliteHost } from '@safe/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataManagerConfig } from './config.js';
import { chooseHolders } from './rules.js';
import { type DataManagerState, openDataManagerState } from './state.js';

let host: PgliteHost;
let state: DataManagerState;
beforeAll(async () => {
  host = await openPglite();
  state = await openDataManagerState(host.database('dm_rules'), loadDataManagerConfig({}));
}, 60_000);
afterAll(() => host.close());

const K = DEFAULT_GROUP_PARAMETERS.closeGroupSize;
const pmids = Array.from({ length: 8 }, () => nameOf(randomBytes(8)));
const managers = Array.from({ length: 12 }, () => nameOf(randomBytes(8)));
const chunk = nameOf(randomBytes(8));
const byCloseness = sortByCloseness(copyGroupName(chunk, ChunkCopy.PRIMARY), pmids);
const [closest, second, third] = byCloseness as [Name, Name, Name];

/** A view with every PmidNode live and each PmidManager reporting `rank` for the nodes `reportsOf` names. */
function view(reportsOf: (manager: Name) => readonly { pmid: Name; rank: number }[]): RoutingTable {
  const nodes: NodeInfo[] = [
    ...pmids.map((name) => ({ persona: 'pmid-node' as const, name, publicKey: new Uint8Array(32) })),
    ...managers.map((name) => ({ persona: 'pmid-manager' as const, name, publicKey: new Uint8Array(32), rankReports: reportsOf(name) })),
  ];
  return new RoutingTable(nodes);
}

function context(routing: RoutingTable, lowRankPercent = state.config.lowRankPercent): HandlerContext<DataManagerState> {
  return {
    params: DEFAULT_GROUP_PARAMETERS,
    state: { ...state, config: { ...state.config, lowRankPercent } },
    routing: () => routing,
  } as unknown as HandlerContext<DataManagerState>;
}

/** Every manager in `pmid`'s close group reports `rank` for it. */
const groupReports = (pmid: Name, rank: number) => {
  const group = new Set(
    new RoutingTable(managers.map((name) => ({ persona: 'pmid-manager' as const, name, publicKey: new Uint8Array(32) })))
      .view('pmid-manager')
      .closeGroup(pmid, K)
      .map(toHex),
  );
  return (manager: Name) => (group.has(toHex(manager)) ? [{ pmid, rank }] : []);
};

describe('chooseHolders: the deterministic choice of new holders (SPEC.md 3.3, 3.4 Ranking, 5a)', () => {
  it('picks the live PmidNodes closest to the copy group, skipping those excluded', () => {
    const ctx = context(view(() => []));
    expect(chooseHolders(ctx, chunk, ChunkCopy.PRIMARY, [], 2).map(toHex)).toEqual([closest, second].map(toHex));
    expect(chooseHolders(ctx, chunk, ChunkCopy.PRIMARY, [closest], 2).map(toHex)).toEqual([second, third].map(toHex));
  });

  it('chooses a node its PmidManagers agree is low-ranked last', () => {
    const ctx = context(view(groupReports(closest, 0.5)));
    const chosen = chooseHolders(ctx, chunk, ChunkCopy.PRIMARY, [], pmids.length);
    expect(chosen.slice(0, 2).map(toHex)).toEqual([second, third].map(toHex));
    expect(chosen.map(toHex).at(-1)).toBe(toHex(closest));
  });

  it('keeps the closest when its rank is at the threshold, or rank is not used (0%)', () => {
    expect(toHex(chooseHolders(context(view(groupReports(closest, 0.8))), chunk, ChunkCopy.PRIMARY, [], 1)[0] as Name)).toBe(
      toHex(closest),
    );
    expect(toHex(chooseHolders(context(view(groupReports(closest, 0)), 0), chunk, ChunkCopy.PRIMARY, [], 1)[0] as Name)).toBe(
      toHex(closest),
    );
  });

  it("does not listen to a minority of managers, nor to managers outside the node's close group", () => {
    const group = new Set(
      view(() => [])
        .view('pmid-manager')
        .closeGroup(closest, K)
        .map(toHex),
    );
    const [one] = managers.filter((m) => group.has(toHex(m)));
    const minority = view((m) => (toHex(m) === toHex(one as Name) ? [{ pmid: closest, rank: 0 }] : []));
    expect(toHex(chooseHolders(context(minority), chunk, ChunkCopy.PRIMARY, [], 1)[0] as Name)).toBe(toHex(closest));
    const outsiders = view((m) => (group.has(toHex(m)) ? [] : [{ pmid: closest, rank: 0 }]));
    expect(toHex(chooseHolders(context(outsiders), chunk, ChunkCopy.PRIMARY, [], 1)[0] as Name)).toBe(toHex(closest));
  });
});
