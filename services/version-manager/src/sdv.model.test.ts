import type { VersionName } from '@safe/chunks';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { branchOf, deleteBranchUntilFork, emptySdv, putVersion, type Sdv, tipsOf } from './sdv.js';

/**
 * The reference model: the SDV rules written as plainly as they read in SPEC.md 3.6, on a list of
 * (version, parent) pairs, every question answered by scanning the list. The module is checked
 * against it on random sequences of Puts and Deletes over a few versions, so that repeats, second
 * roots, orphans, cycles and both limits all come up.
 */
type V = VersionName;
type Pair = readonly [V, V | null];
interface Model {
  readonly maxVersions: number;
  readonly maxBranches: number;
  readonly list: readonly Pair[];
}
type Result = { ok: Model } | { error: string };

const eq = (a: V | null, b: V | null) => (a === null || b === null ? a === b : a.index === b.index && Buffer.compare(a.id, b.id) === 0);
const order = (a: V, b: V) => (a.index === b.index ? Buffer.compare(a.id, b.id) : a.index < b.index ? -1 : 1);
const present = (m: Model, v: V) => m.list.some(([x]) => eq(x, v));
const parentOf = (m: Model, v: V) => m.list.find(([x]) => eq(x, v))?.[1] ?? null;
const kids = (m: Model, v: V) => m.list.filter(([, p]) => p !== null && eq(p, v)).map(([x]) => x);
const tips = (m: Model) => m.list.filter(([x]) => kids(m, x).length === 0).map(([x]) => x);
const root = (m: Model) => m.list.find(([, p]) => p === null)?.[0];
const without = (m: Model, v: V): Model => ({ ...m, list: m.list.filter(([x]) => !eq(x, v)) });

function modelPut(m: Model, old: V | null, next: V): Result {
  if (present(m, next)) return eq(parentOf(m, next), old) ? { ok: m } : { error: 'invalid-argument' };
  if (old !== null && (eq(old, next) || next.index === 0n)) return { error: 'invalid-argument' };
  if (old === null && root(m) !== undefined) return { error: 'invalid-argument' };
  // Climbing from old: reaching a version whose (absent) parent is next means a loop once next joins.
  for (let at: V | null = old; at !== null && present(m, at); at = parentOf(m, at))
    if (eq(parentOf(m, at), next)) return { error: 'invalid-argument' };
  let after: Model = { ...m, list: [...m.list, [next, old]] };
  if (tips(after).length > m.maxBranches) {
    const r = root(m);
    if (r === undefined || kids(after, r).length > 0 || tips(after).length - 1 > m.maxBranches) return { error: 'resource-exhausted' };
    after = without(after, r);
  }
  while (after.list.length > m.maxVersions) {
    const r = root(after);
    const front =
      r ??
      after.list
        .filter(([, p]) => p !== null && !present(after, p))
        .map(([x]) => x)
        .sort(order)[0];
    if (front === undefined) break;
    const lowest = kids(after, front).sort(order)[0];
    after = without(after, front);
    if (r !== undefined && lowest !== undefined) after = { ...after, list: [...without(after, lowest).list, [lowest, null]] };
  }
  return { ok: after };
}

function modelDelete(m: Model, tip: V): Result {
  if (!present(m, tip)) return { error: 'not-found' };
  if (kids(m, tip).length > 0) return { error: 'invalid-argument' };
  let after = m;
  let at: V | null = tip;
  while (at !== null && present(after, at) && kids(after, at).length === 0) {
    const parent = parentOf(after, at);
    after = without(after, at);
    at = parent;
  }
  return { ok: after };
}

function modelBranch(m: Model, tip: V): V[] {
  const out: V[] = [];
  for (let at: V | null = tip; at !== null && present(m, at); at = parentOf(m, at)) out.push(at);
  return out;
}

const asModel = (sdv: Sdv): Model => ({ ...sdv, list: sdv.entries.map((e) => [e.version, e.parent] as const) });
const text = (v: V | null) => (v === null ? '-' : `${v.index}:${v.id[0]}`);
const shape = (m: Model) =>
  m.list
    .map(([v, p]) => `${text(v)}<${text(p)}`)
    .sort()
    .join(' ');

/** Versions from a small universe (index 0..4, three ids), so operations keep meeting each other. */
const ids = [1, 2, 3].map((b) => new Uint8Array(64).fill(b) as V['id']);
const version = fc.record({ index: fc.bigInt({ min: 0n, max: 4n }), id: fc.constantFrom(...ids) });
const op = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), old: fc.option(version, { freq: 4 }), next: version }),
  fc.record({ kind: fc.constant('delete' as const), tip: version }),
);

type Op = { kind: 'put'; old: V | null; next: V } | { kind: 'delete'; tip: V };

function run(limits: { maxVersions: number; maxBranches: number }, ops: readonly Op[]): void {
  let sdv = emptySdv(limits.maxVersions, limits.maxBranches);
  let model: Model = { ...limits, list: [] };
  for (const o of ops) {
    const expected = o.kind === 'put' ? modelPut(model, o.old, o.next) : modelDelete(model, o.tip);
    let actual: Result;
    try {
      actual = { ok: asModel(o.kind === 'put' ? putVersion(sdv, o.old, o.next).sdv : deleteBranchUntilFork(sdv, o.tip)) };
    } catch (error) {
      actual = { error: (error as { kind: string }).kind };
    }
    const what = `${o.kind} ${o.kind === 'put' ? `${text(o.old)} -> ${text(o.next)}` : text(o.tip)} on ${shape(model)}`;
    if ('error' in expected) {
      expect('error' in actual ? actual.error : `ok ${shape(actual.ok)}`, what).toBe(expected.error);
      continue;
    }
    expect('ok' in actual ? shape(actual.ok) : actual.error, what).toBe(shape(expected.ok));
    model = expected.ok;
    sdv = o.kind === 'put' ? putVersion(sdv, o.old, o.next).sdv : deleteBranchUntilFork(sdv, o.tip);
    // The reads agree too, and the limits and the one root hold after every step.
    const modelTips = tips(model).sort((a, b) => order(b, a));
    expect(tipsOf(sdv).map(text), what).toEqual(modelTips.map(text));
    for (const tip of modelTips) expect(branchOf(sdv, tip).map(text), what).toEqual(modelBranch(model, tip).map(text));
    expect(sdv.entries.length).toBeLessThanOrEqual(limits.maxVersions);
    expect(modelTips.length).toBeLessThanOrEqual(limits.maxBranches);
    expect(sdv.entries.filter((e) => e.parent === null).length).toBeLessThanOrEqual(1);
    expect(sdv.entries.filter((e) => e.parent !== null && e.version.index === 0n)).toEqual([]);
  }
}

describe('StructuredDataVersions against the reference model', () => {
  it('every Put and DeleteBranchUntilFork gives the model’s outcome, tips and branches', () => {
    fc.assert(
      fc.property(
        fc.record({ maxVersions: fc.integer({ min: 1, max: 6 }), maxBranches: fc.integer({ min: 1, max: 3 }) }),
        fc.array(op, { maxLength: 40 }),
        (limits, ops) => run(limits, ops),
      ),
      { numRuns: 400 },
    );
  });
});
