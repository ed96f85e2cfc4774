import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NAME_BYTES, type Name, nameEquals, toHex, xorDistance } from './name.js';
import {
  GroupView,
  isPersonaName,
  lowerMedian,
  MatrixChange,
  type NodeInfo,
  PERSONAS,
  type PersonaName,
  RoutingTable,
  recipients,
  refreshRankReports,
  UNRANKED,
} from './routing.js';

const uniformName = fc.uint8Array({ minLength: NAME_BYTES, maxLength: NAME_BYTES }).map((b) => b as Name);
/** Names drawn from a small alphabet share long prefixes, so closeness is decided deep in the bytes. */
const clusteredName = fc
  .array(fc.constantFrom(0x00, 0x01, 0x80, 0xff), { minLength: NAME_BYTES, maxLength: NAME_BYTES })
  .map((b) => Uint8Array.from(b) as Name);
const nameArb = fc.oneof(uniformName, clusteredName);
const uniqueNames = (minLength: number, maxLength: number) => fc.uniqueArray(nameArb, { minLength, maxLength, selector: toHex });

const distance = (a: Name, b: Name): bigint => BigInt(`0x${toHex(xorDistance(a, b))}`);
/** The close group by brute force: sort by numeric XOR distance, take k. */
const bruteClosest = (nae: Name, names: readonly Name[], k: number): string[] =>
  [...names]
    .sort((a, b) => {
      const d = distance(nae, a) - distance(nae, b);
      return d < 0n ? -1 : d > 0n ? 1 : 0;
    })
    .slice(0, k)
    .map(toHex);

const hexSet = (names: readonly Name[]) => new Set(names.map(toHex));
const minus = (a: readonly Name[], b: readonly Name[]) => {
  const bs = hexSet(b);
  return a.map(toHex).filter((h) => !bs.has(h));
};
const sorted = (xs: Iterable<string>) => [...xs].sort();

const node = (persona: PersonaName, name: Name): NodeInfo => ({ persona, name, publicKey: new Uint8Array(32) });

/** A name whose only non-zero byte is its first: its distance to the zero NAE is `b`. */
const at = (b: number): Name => {
  const out = new Uint8Array(NAME_BYTES);
  out[0] = b;
  return out as Name;
};
const ZERO = new Uint8Array(NAME_BYTES) as Name;

const RUNS = { numRuns: 150 };

describe('GroupView', () => {
  it('isInCloseGroup agrees with a brute-force sort', () => {
    fc.assert(
      fc.property(uniqueNames(1, 20), nameArb, fc.integer({ min: 1, max: 8 }), fc.nat(), (names, nae, k, pick) => {
        const view = new GroupView(
          'data-manager',
          names.map((n) => node('data-manager', n)),
        );
        const group = bruteClosest(nae, names, k);
        expect(view.closeGroup(nae, k).map(toHex)).toEqual(group);
        for (const n of names) expect(view.isInCloseGroup(n, nae, k)).toBe(group.includes(toHex(n)));
        // A name the view does not know is never in a close group.
        const stranger = new Uint8Array(names[pick % names.length] as Name);
        stranger[NAME_BYTES - 1] = ((stranger[NAME_BYTES - 1] as number) + 1) % 256;
        if (!view.has(stranger as Name)) expect(view.isInCloseGroup(stranger as Name, nae, k)).toBe(false);
      }),
      RUNS,
    );
  });

  it('holds each name once, and with/without make new views', () => {
    const a = node('pmid-manager', at(1));
    const b = node('pmid-manager', at(2));
    const view = new GroupView('pmid-manager', [a, b, { ...a, endpoint: 'x:1' }]);
    expect(view.size).toBe(2);
    expect(view.get(at(1))?.endpoint).toBe('x:1');
    const more = view.with(node('pmid-manager', at(3)));
    expect(more.size).toBe(3);
    expect(view.size).toBe(2);
    const less = more.without(at(1));
    expect(less.has(at(1))).toBe(false);
    expect(less.names().map((n) => n[0])).toEqual([2, 3]);
    expect(less.closeGroup(ZERO, 1).map((n) => n[0])).toEqual([2]);
  });
});

describe('RoutingTable', () => {
  it('keeps one view per persona and replaces a node on re-join', () => {
    const table = new RoutingTable([node('data-manager', at(1)), node('maid-manager', at(1)), node('data-manager', at(2))]);
    expect(table.view('data-manager').size).toBe(2);
    expect(table.view('maid-manager').size).toBe(1);
    expect(table.view('version-manager').size).toBe(0);
    for (const p of PERSONAS) expect(table.view(p).persona).toBe(p);

    const rejoined = table.with({ ...node('data-manager', at(1)), endpoint: 'dm:1' });
    expect(rejoined.view('data-manager').size).toBe(2);
    expect(rejoined.view('data-manager').get(at(1))?.endpoint).toBe('dm:1');
    expect(rejoined.allNodes()).toHaveLength(3);

    const left = rejoined.without('data-manager', at(1));
    expect(left.view('data-manager').has(at(1))).toBe(false);
    // The same name under another persona is another node.
    expect(left.view('maid-manager').has(at(1))).toBe(true);
  });

  it('recipients: the close group for group scope, the named node for node scope', () => {
    const table = new RoutingTable([1, 2, 3, 4, 5, 6].map((b) => node('data-manager', at(b))));
    expect(recipients(table, { persona: 'data-manager', nae: ZERO }, 'close-group', 4).map((n) => n[0])).toEqual([1, 2, 3, 4]);
    expect(recipients(table, { persona: 'data-manager', nae: at(5) }, 'node', 4).map((n) => n[0])).toEqual([5]);
    expect(recipients(table, { persona: 'data-manager', nae: at(9) }, 'node', 4)).toEqual([]);
    expect(recipients(table, { persona: 'no-such-persona', nae: ZERO }, 'close-group', 4)).toEqual([]);
    expect(isPersonaName('client')).toBe(false);
    expect(isPersonaName('pmid-node')).toBe(true);
  });
});

/** Checks one change against brute force for one NAE. */
function checkAgainstBruteForce(change: MatrixChange, nae: Name): void {
  const { self, oldNodes, newNodes, k } = change;
  const before = bruteClosest(nae, oldNodes, k);
  const after = bruteClosest(nae, newNodes, k);
  const check = change.checkHolders(nae);
  expect(check.closeGroup.map(toHex)).toEqual(after);
  expect(check.responsible).toBe(after.includes(toHex(self)));
  expect(check.wasResponsible).toBe(before.includes(toHex(self)));
  expect(sorted(check.newHolders.map(toHex))).toEqual(sorted(after.filter((h) => !before.includes(h))));
  expect(sorted(check.oldHolders.map(toHex))).toEqual(sorted(before.filter((h) => !after.includes(h))));
  expect(change.shouldDrop(nae)).toBe(!after.includes(toHex(self)));
}

describe('MatrixChange', () => {
  const k = fc.integer({ min: 1, max: 6 });

  it('on a join: agrees with brute force, and changes at most one member of any close group', () => {
    fc.assert(
      fc.property(uniqueNames(2, 20), fc.array(nameArb, { minLength: 1, maxLength: 6 }), k, fc.nat(), (all, naes, k, selfPick) => {
        const [joiner, ...before] = all as [Name, ...Name[]];
        const after = [...before, joiner];
        const self = after[selfPick % after.length] as Name;
        const change = new MatrixChange(self, before, after, k);
        expect(change.added.map(toHex)).toEqual([toHex(joiner)]);
        expect(change.removed).toEqual([]);
        expect(change.isEmpty).toBe(false);
        for (const nae of naes) {
          checkAgainstBruteForce(change, nae);
          const check = change.checkHolders(nae);
          expect(check.newHolders.length).toBeLessThanOrEqual(1);
          expect(check.oldHolders.length).toBeLessThanOrEqual(1);
          // Only the joiner can enter; someone leaves the group only when it was full and the joiner entered.
          if (check.newHolders.length === 1) expect(nameEquals(check.newHolders[0] as Name, joiner)).toBe(true);
          expect(check.oldHolders.length).toBe(check.newHolders.length === 1 && before.length >= k ? 1 : 0);
        }
      }),
      RUNS,
    );
  });

  it('on a leave: agrees with brute force, and changes at most one member of any close group', () => {
    fc.assert(
      fc.property(
        uniqueNames(2, 20),
        fc.array(nameArb, { minLength: 1, maxLength: 6 }),
        k,
        fc.nat(),
        fc.nat(),
        (before, naes, k, leavePick, selfPick) => {
          const leaver = before[leavePick % before.length] as Name;
          const after = before.filter((n) => !nameEquals(n, leaver));
          const self = after[selfPick % after.length] as Name;
          const change = new MatrixChange(self, before, after, k);
          expect(change.removed.map(toHex)).toEqual([toHex(leaver)]);
          expect(change.added).toEqual([]);
          for (const nae of naes) {
            checkAgainstBruteForce(change, nae);
            const check = change.checkHolders(nae);
            expect(check.oldHolders.length).toBeLessThanOrEqual(1);
            expect(check.newHolders.length).toBeLessThanOrEqual(1);
            if (check.oldHolders.length === 1) expect(nameEquals(check.oldHolders[0] as Name, leaver)).toBe(true);
            // A replacement moves in exactly when the leaver was a member and there was someone outside the group.
            expect(check.newHolders.length).toBe(check.oldHolders.length === 1 && before.length > k ? 1 : 0);
          }
        },
      ),
      RUNS,
    );
  });

  it('for any two node sets: agrees with brute force', () => {
    fc.assert(
      fc.property(
        uniqueNames(1, 24).chain((pool) => fc.tuple(fc.constant(pool), fc.subarray(pool), fc.subarray(pool), fc.constantFrom(...pool))),
        fc.array(nameArb, { minLength: 1, maxLength: 4 }),
        k,
        ([, before, after, self], naes, k) => {
          const change = new MatrixChange(self, before, after, k);
          expect(sorted(change.added.map(toHex))).toEqual(sorted(minus(after, before)));
          expect(sorted(change.removed.map(toHex))).toEqual(sorted(minus(before, after)));
          expect(change.isEmpty).toBe(minus(after, before).length === 0 && minus(before, after).length === 0);
          for (const nae of naes) checkAgainstBruteForce(change, nae);
        },
      ),
      RUNS,
    );
  });

  it('an empty change keeps every responsibility', () => {
    fc.assert(
      fc.property(uniqueNames(1, 12), nameArb, k, (names, nae, k) => {
        const change = new MatrixChange(names[0] as Name, names, [...names].reverse(), k);
        expect(change.isEmpty).toBe(true);
        const check = change.checkHolders(nae);
        expect(check.newHolders).toEqual([]);
        expect(check.oldHolders).toEqual([]);
        expect(check.responsible).toBe(check.wasResponsible);
      }),
      RUNS,
    );
  });

  it('a concrete join: the closer newcomer pushes the farthest member out, which must drop', () => {
    // Distances to the zero NAE are the first bytes.
    const before = [at(10), at(20), at(30), at(40), at(50)];
    const change = new MatrixChange(at(40), before, [...before, at(15)], 4);
    const check = change.checkHolders(ZERO);
    expect(check.closeGroup.map((n) => n[0])).toEqual([10, 15, 20, 30]);
    expect(check.newHolders.map((n) => n[0])).toEqual([15]);
    expect(check.oldHolders.map((n) => n[0])).toEqual([40]);
    expect(check.wasResponsible).toBe(true);
    expect(check.responsible).toBe(false);
    expect(change.shouldDrop(ZERO)).toBe(true);
    // A member that stays keeps its records.
    expect(new MatrixChange(at(20), before, [...before, at(15)], 4).shouldDrop(ZERO)).toBe(false);
  });
});

describe('agreed rank of a PmidNode (SPEC.md 3.4 Ranking)', () => {
  const K = 4;
  /** PmidManagers at distances 1..6 from the zero PmidNode: the close group is the first K. */
  const managers = [1, 2, 3, 4, 5, 6].map(at);
  const table = (reports: ReadonlyMap<number, number>) =>
    new RoutingTable([
      node('pmid-node', ZERO),
      ...managers.map((m) => {
        const rank = reports.get(m[0] as number);
        return { ...node('pmid-manager', m), ...(rank === undefined ? {} : { rankReports: [{ pmid: ZERO, rank }] }) };
      }),
    ]);

  it('is 1 (trusted) when no manager reports the node', () => {
    expect(table(new Map()).agreedRank(ZERO, K)).toBe(UNRANKED);
  });

  it('is the lower median of the close group: a majority of the managers moves it, a minority does not', () => {
    expect(table(new Map([[1, 0.2]])).agreedRank(ZERO, K)).toBe(UNRANKED);
    expect(
      table(
        new Map([
          [1, 0.2],
          [2, 0.3],
        ]),
      ).agreedRank(ZERO, K),
    ).toBe(0.3);
    expect(
      table(
        new Map([
          [1, 0.2],
          [2, 0.3],
          [3, 0.25],
        ]),
      ).agreedRank(ZERO, K),
    ).toBe(0.25);
  });

  it('hears only the managers in the close group of the node', () => {
    expect(
      table(
        new Map([
          [5, 0],
          [6, 0],
        ]),
      ).agreedRank(ZERO, K),
    ).toBe(UNRANKED);
  });

  it('is always a value some close-group manager holds, between their lowest and highest (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }), { minLength: 6, maxLength: 6 }),
        (ranks) => {
          const reports = new Map<number, number>();
          ranks.forEach((rank, i) => {
            if (rank !== undefined) reports.set(i + 1, rank);
          });
          const heard = ranks.slice(0, K).map((rank) => rank ?? UNRANKED);
          const agreed = table(reports).agreedRank(ZERO, K);
          expect(heard).toContain(agreed);
          expect(agreed).toBe(lowerMedian(heard));
          expect(heard.filter((r) => r <= agreed).length).toBeGreaterThanOrEqual(K / 2);
          expect(heard.filter((r) => r >= agreed).length).toBeGreaterThanOrEqual(K / 2);
        },
      ),
      RUNS,
    );
  });

  it("a new view only when some node's reports changed (refreshRankReports)", async () => {
    const plain = table(new Map());
    const reportOn = (rank: number) => (info: NodeInfo) =>
      info.persona === 'pmid-manager' ? Promise.resolve([{ pmid: ZERO, rank }]) : undefined;
    const next = await refreshRankReports(plain, reportOn(0.5));
    expect(next?.agreedRank(ZERO, K)).toBe(0.5);
    expect(next?.view('pmid-node').names()).toEqual(plain.view('pmid-node').names());
    expect(await refreshRankReports(next as RoutingTable, reportOn(0.5))).toBeUndefined();
    expect((await refreshRankReports(next as RoutingTable, reportOn(0.25)))?.agreedRank(ZERO, K)).toBe(0.25);
    expect(await refreshRankReports(plain, () => undefined)).toBeUndefined();
  });
});
