import type { PersonaName, SourcePersona } from '@safe/core';
import { toDataManager, toMpidManager, toVersionManager } from '@safe/messages';
import { maidManagerPersona } from './persona.js';

/**
 * Other personas' tables in @safe/messages: their client messages are read off them (a client
 * reads a chunk from the DataManagers closest to it, and is an MpidNode too: it talks to its
 * MPIDs' managers directly).
 */
type Row = { readonly type: string; readonly from: readonly SourcePersona[]; readonly to: PersonaName };
const TABLES: readonly Readonly<Record<string, Row>>[] = [toDataManager, toVersionManager, toMpidManager];

/**
 * The client message types the network takes and the persona each goes to, as a MaidManager's
 * Gateway routes them: read off this persona's table and the tables above.
 * The testnet's test holds this to the personas' tables, so a new client message is not left out.
 */
export function entryClientMessageTypes(): Map<string, PersonaName> {
  const types = new Map<string, PersonaName>();
  for (const table of TABLES) for (const row of Object.values(table)) if (row.from.includes('client')) types.set(row.type, row.to);
  for (const declaration of maidManagerPersona.messages)
    if (declaration.from.includes('client')) types.set(declaration.type, 'maid-manager');
  return types;
}
