import { message, type Name } from '@safe/core';
import { tellDataManagers } from '../answers.js';
import { type NodePutResponse, putResponseCodec, recordStoredCodec } from '../messages.js';
import type { PmidManagerState } from '../state.js';

/** PutResponse | PmidNode -> | [Ac, Fw] PmidManager [Sy]: record the stored chunk, or pass the refusal on. */
export const putResponse = message<NodePutResponse, PmidManagerState>({
  type: 'PutResponse',
  from: ['pmid-node'],
  accumulate: 'single',
  firewall: true,
  sync: true,
  payload: putResponseCodec,
  handle(msg) {
    const pmid = msg.sender;
    const { name, copy, stored, error, size, context } = msg.payload;
    if (!stored) return { send: [tellDataManagers(pmid as Name, name, copy, false, error, context, size)] };
    return { actions: [{ type: 'RecordStored', nae: pmid, payload: recordStoredCodec.encode({ pmid, name, copy, size, context }) }] };
  },
});
