import { fromWireVersion, sdvLimit, sdvName, type VersionName } from '@safe/chunks';
import { type Incoming, InvalidNameError, type Name, nameEquals, parseName, RecordMissingError, WrongSourceError } from '@safe/core';
import type { DeleteBranchTillFork, PutVersion } from './messages.js';

/**
 * An SDV this replica does not hold. A member that just entered the SDV's close group may still be
 * sent it by account transfer, so the runtime holds such a read for a while before answering this.
 */
export class UnknownSdvError extends RecordMissingError {
  constructor() {
    super('not-found', 'no versions under this name');
  }
}

/**
 * Checks a mutation from a MaidManager group: it comes from the owner's MaidManagers (only the
 * owner mutates) and goes to the SDV the owner's data name and type name. Returns the SDV's name.
 */
export function checkMutation(msg: Incoming<PutVersion | DeleteBranchTillFork>): Name {
  const { dataName, type, owner } = msg.payload;
  if (!nameEquals(msg.source.nae, parseName(owner, 'owner'))) throw new WrongSourceError("only the owner's MaidManagers change an SDV");
  const name = sdvName(parseName(dataName, 'data name'), type, owner);
  if (!nameEquals(msg.destination.nae, name)) throw new InvalidNameError('a version goes to the close group of its SDV name');
  return name;
}

/** The versions and limits of a PutVersion, checked. */
export function putVersionArguments(put: PutVersion): {
  old: VersionName | null;
  next: VersionName;
  maxVersions: number;
  maxBranches: number;
} {
  return {
    old: put.old == null ? null : fromWireVersion(put.old, 'parent version'),
    next: fromWireVersion(put.newVersion, 'new version'),
    maxVersions: sdvLimit('maxVersions', put.maxVersions),
    maxBranches: sdvLimit('maxBranches', put.maxBranches),
  };
}
