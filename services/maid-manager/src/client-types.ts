import type { PersonaName, SourcePersona } from '@safe/core';
import { toMpidManager, toVersionManager } from '@safe/messages';
import { maidManagerPersona } from './persona.js';

/**
 * Other personas' tables in @safe/messages: their client messages are read off them (a client is
 * an MpidNode too: it talks to its MPIDs' managers directly).
 */
type Row = { readonly type: string; readonly from: readonly SourcePersona[]; readonly to: PersonaName };
const TABLES: readonly Readonly<Record<string, Row>>[] = [toVersionManager, toMpidManager];

/** Other personas' client messages not in @safe/messages yet: this package depends on none of them. */
const OTHERS: readonly (readonly [PersonaName, readonly string[]])[] = [
  // A client reads a chunk from the group closest to it.
  ['data-manager', ['Get']],
];

/**
 * The client message types the network takes and the persona each goes to, as a MaidManager's
 * Gateway routes them: read off this persona's table and the tables above, and the others named.
 * The testnet's test holds this to the personas' tables, so a new client message is not left out.
 */
export function entryClientMessageTypes(): Map<string, PersonaName> {
  const types = new Map<string, PersonaName>();
  for (const [persona, messages] of OTHERS) for (const type of messages) types.set(type, persona);
  for (const table of TABLES) for (const row of Object.values(table)) if (row.from.includes('client')) types.set(row.type, row.to);
  for (const declaration of maidManagerPersona.messages)
    if (declaration.from.includes('client')) types.set(declaration.type, 'maid-manager');
  return types;
}
