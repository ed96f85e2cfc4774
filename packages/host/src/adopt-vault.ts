import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Identity,
  importIdentity,
  type Logger,
  nameForPublicKey,
  PUBLIC_KEY_BYTES,
  type RoutingTable,
  SafeError,
  shortName,
  signVaultRegistrationPart,
  silentLogger,
  toHex,
} from '@safe/core';
import type { AdoptedVault } from '@safe/grpc';
import { KEY_FILE } from './identity.js';

/**
 * TESTNET ONLY. The multi-process testnet operates the PmidNodes itself, so a client of it has no
 * vault of its own to register: the Gateway's AdoptVault signs the PMID half of a vault
 * registration with the key of a PmidNode (the MaidManagers still check both halves). This reads
 * PmidNode keys from a directory the launcher names in SAFE_TESTNET_ADOPT_VAULT_KEYS_DIR: files
 * `*.key` in it, or `<dir>/<subdir>/node.key` (the PmidNodes' own data directories under one
 * parent). Keys are read at each call, so PmidNodes started later are found. A real network never
 * sets this: a vault's key never leaves its owner.
 */
export async function readVaultKeys(dir: string): Promise<Identity[]> {
  const identities = new Map<string, Identity>();
  const entries = await readdir(dir, { withFileTypes: true });
  const files = [
    ...entries.filter((e) => e.isFile() && e.name.endsWith('.key')).map((e) => join(dir, e.name)),
    ...entries.filter((e) => e.isDirectory()).map((e) => join(dir, e.name, KEY_FILE)),
  ];
  for (const file of files) {
    try {
      const identity = importIdentity(await readFile(file));
      identities.set(toHex(identity.name), identity);
    } catch {
      // Not a key (or not there): skipped.
    }
  }
  return [...identities.values()];
}

/**
 * AdoptVault for the Gateway: the on-line PmidNode (in the routing view) closest to the client's
 * name, whose key is in `dir` — the same client always gets the same vault while it is on line.
 */
export function testnetAdoptVault(
  dir: string,
  routing: () => RoutingTable,
  logger: Logger = silentLogger,
): (maidPublicKey: Uint8Array) => Promise<AdoptedVault> {
  return async (maidPublicKey) => {
    if (maidPublicKey.length !== PUBLIC_KEY_BYTES) {
      throw new SafeError('invalid-argument', `maid_public_key must be ${PUBLIC_KEY_BYTES} bytes, got ${maidPublicKey.length}`);
    }
    let keys: Identity[];
    try {
      keys = await readVaultKeys(dir);
    } catch (error) {
      throw new SafeError('unavailable', `the testnet's vault keys in ${dir} cannot be read: ${(error as Error).message}`);
    }
    const view = routing().view('pmid-node');
    const online = keys.filter((id) => view.has(id.name));
    const maid = nameForPublicKey(maidPublicKey);
    const [closest] = view.closeGroup(maid, view.size).filter((name) => online.some((id) => toHex(id.name) === toHex(name)));
    const vault = online.find((id) => closest !== undefined && toHex(id.name) === toHex(closest));
    if (vault === undefined) throw new SafeError('unavailable', 'the testnet has no PmidNode on line to adopt');
    logger.info({ maid: shortName(maid), pmid: shortName(vault.name) }, 'vault adopted');
    return { pmidPublicKey: vault.publicKey, pmidSignature: signVaultRegistrationPart(vault, maidPublicKey, vault.publicKey) };
  };
}
