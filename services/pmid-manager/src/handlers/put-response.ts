import { handles, type Name } from '@safe/core';
import { toPmidManager } from '@safe/messages';
import { tellDataManagers } from '../answers.js';
import { recordStoredCodec } from '../messages.js';

/** PutResponse | PmidNode -> | [Ac, Fw] PmidManager [Sy]: record the stored chunk, or pass the refusal on. */
export const putResponse = handles(toPmidManager.putResponse, (msg) => {
  const pmid = msg.sender;
  const { name, copy, stored, error, size, context } = msg.payload;
  if (!stored) return { send: [tellDataManagers(pmid as Name, name, copy, false, error, context, size)] };
  return { actions: [{ type: 'RecordStored', nae: pmid, payload: recordStoredCodec.encode({ pmid, name, copy, size, context }) }] };
});
