import { formatVersion, MAX_VERSION_INDEX, type VersionName } from '@safe/chunks';
import { type Name, NotFoundError, nameEquals, SafeError, toHex } from '@safe/core';
import type { SafeClient } from './client.js';
import { putFile } from './files.js';
import type { SdvLimits } from './version-codecs.js';

/**
 * Versions of a file under a KEY (the `safe version` commands): each version's id is the name of
 * a file stored as usual, recorded in the client's SDV named by KEY and its own name. The user
 * names a version by its id alone; its index is looked up in the SDV.
 */

/** A version as the CLI names it in messages: the index and the start of the id. */
const brief = (v: VersionName) => `${v.index} ${toHex(v.id).slice(0, 16)}…`;

/** The tips of KEY, highest first; not-found, naming KEY, when it has no versions. */
export async function tipsOfKey(client: SafeClient, key: string): Promise<VersionName[]> {
  try {
    return await client.versionTips(client.sdvNameOf(key));
  } catch (error) {
    if (error instanceof SafeError && error.kind === 'not-found') throw new NotFoundError(`no versions of ${JSON.stringify(key)}`);
    throw error;
  }
}

/** The one tip of KEY; refused, listing the tips, when there are several. */
export function onlyTip(key: string, tips: readonly VersionName[], flag: string): VersionName {
  const [tip, ...more] = tips;
  if (tip === undefined) throw new NotFoundError(`no versions of ${JSON.stringify(key)}`);
  if (more.length > 0) {
    throw new SafeError(
      'failed-precondition',
      `${JSON.stringify(key)} has ${tips.length} tips; name one with ${flag}: ${tips.map(formatVersion).join('; ')}`,
    );
  }
  return tip;
}

/** The version of KEY whose id is `id`, wherever it is in the tree: among the tips, else on their branches. */
export async function findVersion(client: SafeClient, key: string, id: Name, tips?: readonly VersionName[]): Promise<VersionName> {
  const known = tips ?? (await tipsOfKey(client, key));
  const atTip = known.find((v) => nameEquals(v.id, id));
  if (atTip !== undefined) return atTip;
  for (const tip of known) {
    const found = (await client.versionBranch(client.sdvNameOf(key), tip)).find((v) => nameEquals(v.id, id));
    if (found !== undefined) return found;
  }
  throw new NotFoundError(`no version ${toHex(id).slice(0, 16)}… of ${JSON.stringify(key)}`);
}

/** The tip of KEY whose id is `id` (default: the one tip); a version that is not a tip is named as such. */
export async function findTip(client: SafeClient, key: string, id: Name | undefined): Promise<VersionName> {
  const tips = await tipsOfKey(client, key);
  if (id === undefined) return onlyTip(key, tips, 'an ID');
  const version = await findVersion(client, key, id, tips);
  if (!tips.includes(version)) {
    throw new SafeError('invalid-argument', `version ${brief(version)} of ${JSON.stringify(key)} is not a tip: it has later versions`);
  }
  return version;
}

/**
 * Stores FILE and records it as a new version of KEY under `parentId` (default: the one tip; a
 * new SDV when KEY has none). The index is the parent's + 1, 0 for a root.
 */
export async function putVersionFile(
  client: SafeClient,
  key: string,
  file: string,
  parentId: Name | undefined,
  limits: SdvLimits = {},
): Promise<VersionName> {
  let parent: VersionName | null;
  if (parentId !== undefined) parent = await findVersion(client, key, parentId);
  else {
    const tips = await tipsOfKey(client, key).catch((error: unknown) => {
      if (error instanceof NotFoundError) return [];
      throw error;
    });
    parent = tips.length === 0 ? null : onlyTip(key, tips, '--parent');
  }
  if (parent !== null && parent.index >= MAX_VERSION_INDEX) {
    throw new SafeError('invalid-argument', `version ${brief(parent)} has the highest index there is: no version can follow it`);
  }
  await client.ensureReady();
  const stored = await putFile(client, file);
  return client.putVersion(key, parent, { index: parent === null ? 0n : parent.index + 1n, id: stored.name }, limits);
}
