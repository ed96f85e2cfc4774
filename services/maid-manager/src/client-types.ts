import type { PersonaName } from '@safe/core';
import { maidManagerPersona } from './persona.js';

/** Other personas' client messages; this package depends on none of them, so they are named here. */
const OTHERS: readonly (readonly [PersonaName, readonly string[]])[] = [
  // A client reads a chunk from the group closest to it.
  ['data-manager', ['Get']],
  ['version-manager', ['GetVersions', 'GetBranch']],
  // A client is an MpidNode: it talks to its MPIDs' managers directly.
  [
    'mpid-manager',
    [
      'CreateMpid',
      'SendMessage',
      'GetMessages',
      'Acknowledge',
      'AddToWhiteList',
      'RemoveFromWhiteList',
      'AddToBlackList',
      'RemoveFromBlackList',
      'WhiteList',
      'BlackList',
    ],
  ],
];

/**
 * The client message types the network takes and the persona each goes to, as a MaidManager's
 * Gateway routes them: this persona's own (read off its table) and the others above. The testnet's
 * test holds this to the personas' tables, so a persona's new client message is not left out.
 */
export function entryClientMessageTypes(): Map<string, PersonaName> {
  const types = new Map<string, PersonaName>();
  for (const [persona, messages] of OTHERS) for (const type of messages) types.set(type, persona);
  for (const declaration of maidManagerPersona.messages)
    if (declaration.from.includes('client')) types.set(declaration.type, 'maid-manager');
  return types;
}
