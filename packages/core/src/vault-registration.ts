import type { VaultRegistration as VaultRegistrationMessage } from '@safe/proto/messages';
import { BadSignatureError } from './errors.js';
import { type Identity, verifySignature } from './identity.js';
import type { Fields } from './proto.js';

const DOMAIN = new TextEncoder().encode('safe.v1.vault-registration');

/** The bytes both the MAID and the PMID key sign to register a vault (PmidNode) for a client. */
export function vaultRegistrationBytes(maidPublicKey: Uint8Array, pmidPublicKey: Uint8Array): Uint8Array {
  return Buffer.concat([DOMAIN, maidPublicKey, pmidPublicKey]);
}

export type VaultRegistration = Fields<VaultRegistrationMessage>;

export function signVaultRegistrationPart(signer: Identity, maidPublicKey: Uint8Array, pmidPublicKey: Uint8Array): Uint8Array {
  return signer.sign(vaultRegistrationBytes(maidPublicKey, pmidPublicKey));
}

/** Throws BadSignatureError unless both keys signed the registration. */
export function verifyVaultRegistration(registration: VaultRegistration): void {
  const bytes = vaultRegistrationBytes(registration.maidPublicKey, registration.pmidPublicKey);
  if (!verifySignature(registration.maidPublicKey, bytes, registration.maidSignature)) {
    throw new BadSignatureError('vault registration is not signed by the MAID key');
  }
  if (!verifySignature(registration.pmidPublicKey, bytes, registration.pmidSignature)) {
    throw new BadSignatureError('vault registration is not signed by the PMID key');
  }
}
