import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity, RoutingTable, signVaultRegistrationPart, toHex, verifyVaultRegistration } from '@safe/core';
import { afterEach, describe, expect, it } from 'vitest';
import { readVaultKeys, testnetAdoptVault } from './adopt-vault.js';
import { KEY_FILE } from './identity.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('AdoptVault (testnet only)', () => {
  it('signs with the key of the on-line PmidNode closest to the client, from `*.key` or `<subdir>/node.key`', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safe-host-vaults-'));
    dirs.push(dir);
    const [a, b, offline] = [generateIdentity(), generateIdentity(), generateIdentity()];
    await mkdir(join(dir, '0'));
    await writeFile(join(dir, '0', KEY_FILE), a.exportPrivateKey());
    await writeFile(join(dir, 'b.key'), b.exportPrivateKey());
    await writeFile(join(dir, 'offline.key'), offline.exportPrivateKey());
    await writeFile(join(dir, 'notes.txt'), 'not a key');
    expect((await readVaultKeys(dir)).map((id) => toHex(id.name)).sort()).toEqual([a, b, offline].map((id) => toHex(id.name)).sort());

    const routing = new RoutingTable([a, b].map((id) => ({ persona: 'pmid-node' as const, name: id.name, publicKey: id.publicKey })));
    const adopt = testnetAdoptVault(dir, () => routing);
    const maid = generateIdentity();
    const adopted = await adopt(maid.publicKey);
    const [closest] = routing.view('pmid-node').closeGroup(maid.name, 1);
    const expected = [a, b].find((id) => closest !== undefined && toHex(id.name) === toHex(closest));
    expect(toHex(adopted.pmidPublicKey)).toBe(toHex(expected?.publicKey ?? new Uint8Array()));
    // With the client's own half, the registration checks out as the MaidManagers check it.
    const registration = {
      maidPublicKey: maid.publicKey,
      pmidPublicKey: adopted.pmidPublicKey,
      maidSignature: signVaultRegistrationPart(maid, maid.publicKey, adopted.pmidPublicKey),
      pmidSignature: adopted.pmidSignature,
    };
    expect(() => verifyVaultRegistration(registration)).not.toThrow();
    await expect(adopt(new Uint8Array(3))).rejects.toMatchObject({ kind: 'invalid-argument' });
    await expect(testnetAdoptVault(dir, () => new RoutingTable())(maid.publicKey)).rejects.toMatchObject({ kind: 'unavailable' });
  });
});
