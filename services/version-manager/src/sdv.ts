import { formatVersion, type VersionName } from '@safe/chunks';
import { NotFoundError, SafeError, toHex } from '@safe/core';

/**
 * StructuredDataVersions (SPEC.md 3.6, after MaidSafe-Common's structured_data_versions.h): a
 * forest of versions, each with one parent. The root has none; a version whose parent is absent
 * is an orphan, joined to the parent when it arrives. Pure: every operation returns a new value
 * or throws, and changes nothing when it throws.
 */
export interface VersionEntry {
  readonly version: VersionName;
  /** null: the root. */
  readonly parent: VersionName | null;
}

export interface Sdv {
  readonly maxVersions: number;
  readonly maxBranches: number;
  /** Sorted by version (index, then id): one encoding per content. */
  readonly entries: readonly VersionEntry[];
}

/** A version that breaks the rules (a second root, a cycle, a non-tip where a tip is needed...). */
export class InvalidVersionError extends SafeError {
  constructor(message: string) {
    super('invalid-argument', message);
  }
}
export class NoSuchVersionError extends NotFoundError {}
/** maxBranches would be passed ("cannot exceed limit"). */
export class VersionLimitError extends SafeError {
  constructor(message: string) {
    super('resource-exhausted', message);
  }
}

export function compareVersions(a: VersionName, b: VersionName): number {
  if (a.index !== b.index) return a.index < b.index ? -1 : 1;
  return Buffer.compare(a.id, b.id);
}

const keyOf = (v: VersionName): string => `${v.index}:${toHex(v.id)}`;
const same = (a: VersionName | null, b: VersionName | null): boolean => (a === null || b === null ? a === b : compareVersions(a, b) === 0);
/** How errors name a version: its index and the start of its id. */
const named = (v: VersionName): string => `${formatVersion(v).slice(0, String(v.index).length + 17)}…`;

export function emptySdv(maxVersions: number, maxBranches: number): Sdv {
  return { maxVersions, maxBranches, entries: [] };
}

/** The forest as maps: each version by key, and the keys of each version's children. */
class Forest {
  readonly byKey = new Map<string, VersionEntry>();
  readonly children = new Map<string, Set<string>>();

  constructor(entries: readonly VersionEntry[]) {
    for (const entry of entries) this.add(entry);
  }

  has(v: VersionName): boolean {
    return this.byKey.has(keyOf(v));
  }

  add(entry: VersionEntry): void {
    this.byKey.set(keyOf(entry.version), entry);
    if (entry.parent === null) return;
    const siblings = this.children.get(keyOf(entry.parent)) ?? new Set<string>();
    siblings.add(keyOf(entry.version));
    this.children.set(keyOf(entry.parent), siblings);
  }

  remove(v: VersionName): void {
    const entry = this.byKey.get(keyOf(v));
    if (entry === undefined) return;
    this.byKey.delete(keyOf(v));
    if (entry.parent !== null) this.children.get(keyOf(entry.parent))?.delete(keyOf(v));
  }

  /** Makes `v` a root (its parent erased: it is the lowest child). */
  promote(v: VersionName): void {
    this.remove(v);
    this.add({ version: v, parent: null });
  }

  childrenOf(v: VersionName): VersionEntry[] {
    const keys = this.children.get(keyOf(v)) ?? new Set<string>();
    return [...keys].map((k) => this.byKey.get(k) as VersionEntry).sort((a, b) => compareVersions(a.version, b.version));
  }

  root(): VersionEntry | undefined {
    for (const entry of this.byKey.values()) if (entry.parent === null) return entry;
    return undefined;
  }

  isOrphan(entry: VersionEntry): boolean {
    return entry.parent !== null && !this.has(entry.parent);
  }

  tips(): VersionName[] {
    return [...this.byKey.values()].filter((e) => this.childrenOf(e.version).length === 0).map((e) => e.version);
  }

  /** `v` and its ancestors up to its root or orphan. */
  lineage(v: VersionName): VersionName[] {
    const out: VersionName[] = [];
    let entry = this.byKey.get(keyOf(v));
    while (entry !== undefined) {
      out.push(entry.version);
      entry = entry.parent === null ? undefined : this.byKey.get(keyOf(entry.parent));
    }
    return out;
  }

  /** The oldest version: the root, or with none the lowest orphan. Its lowest child takes a root's place. */
  eraseFront(): VersionName | undefined {
    const front =
      this.root() ?? [...this.byKey.values()].filter((e) => this.isOrphan(e)).sort((a, b) => compareVersions(a.version, b.version))[0];
    if (front === undefined) return undefined;
    const [lowest] = this.childrenOf(front.version);
    this.remove(front.version);
    if (front.parent === null && lowest !== undefined) this.promote(lowest.version);
    return front.version;
  }

  toSdv(limits: Sdv): Sdv {
    const entries = [...this.byKey.values()].sort((a, b) => compareVersions(a.version, b.version));
    return { maxVersions: limits.maxVersions, maxBranches: limits.maxBranches, entries };
  }
}

/** What a PutVersion did: the new SDV, and the versions erased to stay within its limits. */
export interface PutOutcome {
  readonly sdv: Sdv;
  readonly erased: readonly VersionName[];
}

/**
 * PutVersion(old, next): `next` under `old` (null: `next` is the root). A repeat (same version,
 * same parent) changes nothing. Refused: `next` under another parent, a cycle, a second root, a
 * non-root index 0, or more than maxBranches tips unless erasing a childless root avoids it. Past
 * maxVersions the oldest version goes (the root; its lowest child becomes the root).
 */
export function putVersion(sdv: Sdv, old: VersionName | null, next: VersionName): PutOutcome {
  const forest = new Forest(sdv.entries);
  const existing = forest.byKey.get(keyOf(next));
  if (existing !== undefined) {
    if (same(existing.parent, old)) return { sdv, erased: [] };
    throw new InvalidVersionError(`version ${named(next)} is already in the SDV under another parent`);
  }
  if (old !== null && same(old, next)) throw new InvalidVersionError(`version ${named(next)} cannot be its own parent`);
  if (old !== null && next.index === 0n) throw new InvalidVersionError('only the root version may have index 0');
  const root = forest.root();
  if (old === null && root !== undefined) {
    throw new InvalidVersionError(`the SDV has a root already (${named(root.version)}): a new version needs a parent`);
  }
  // Orphans waiting for `next` join it: if one of them is `old` or above it, the branch would loop.
  const lineage = new Set((old === null ? [] : forest.lineage(old)).map(keyOf));
  if (forest.childrenOf(next).some((orphan) => lineage.has(keyOf(orphan.version)))) {
    throw new InvalidVersionError(`version ${named(next)} under ${named(old as VersionName)} would make a cycle`);
  }
  forest.add({ version: next, parent: old });
  const erased: VersionName[] = [];
  let tips = forest.tips().length;
  if (tips > sdv.maxBranches) {
    const childless = root !== undefined && forest.childrenOf(root.version).length === 0;
    if (!childless || tips - 1 > sdv.maxBranches) {
      throw new VersionLimitError(`cannot exceed limit: ${tips} branches, the SDV allows at most ${sdv.maxBranches}`);
    }
    forest.remove(root.version);
    erased.push(root.version);
    tips--;
  }
  while (forest.byKey.size > sdv.maxVersions) {
    const gone = forest.eraseFront();
    if (gone === undefined) break;
    erased.push(gone);
  }
  return { sdv: forest.toSdv(sdv), erased };
}

/** The tips of the trees, highest first (GetVersions). */
export function tipsOf(sdv: Sdv): VersionName[] {
  return new Forest(sdv.entries).tips().sort((a, b) => compareVersions(b, a));
}

function checkTip(forest: Forest, tip: VersionName): void {
  if (!forest.has(tip)) throw new NoSuchVersionError(`no such version: ${named(tip)}`);
  if (forest.childrenOf(tip).length > 0) throw new InvalidVersionError(`version ${named(tip)} is not a tip: it has later versions`);
}

/** GetBranch(tip): the tip back to its root or orphan. */
export function branchOf(sdv: Sdv, tip: VersionName): VersionName[] {
  const forest = new Forest(sdv.entries);
  checkTip(forest, tip);
  return forest.lineage(tip);
}

/** DeleteBranchUntilFork(tip): erases from the tip down to, not including, the first version with more than one child. */
export function deleteBranchUntilFork(sdv: Sdv, tip: VersionName): Sdv {
  const forest = new Forest(sdv.entries);
  checkTip(forest, tip);
  let entry = forest.byKey.get(keyOf(tip));
  while (entry !== undefined && forest.childrenOf(entry.version).length === 0) {
    forest.remove(entry.version);
    entry = entry.parent === null ? undefined : forest.byKey.get(keyOf(entry.parent));
  }
  return forest.toSdv(sdv);
}
