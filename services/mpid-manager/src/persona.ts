import { definePersona, type PersonaDefinition } from '@safe/core';
import { applyAcknowledge } from './actions/acknowledge.js';
import { holdMessage } from './actions/hold.js';
import { applyListChange } from './actions/list-change.js';
import { applyRegister } from './actions/register.js';
import { createMpid } from './handlers/create-mpid.js';
import { acknowledge, getMessages } from './handlers/inbox.js';
import { addToBlackList, addToWhiteList, blackList, removeFromBlackList, removeFromWhiteList, whiteList } from './handlers/lists.js';
import { messageResult, receiveMessage } from './handlers/message.js';
import { sendMessage } from './handlers/send.js';
import { mpidManagerRecords } from './records.js';
import type { MpidManagerState } from './state.js';

/**
 * MpidManager (SPEC.md 3.7); NAE = the MPID's name, hash of its text name.
 *
 * Its rows (senders, Ac, Fw, Sy, payloads) are declared once in @safe/messages (toMpidManager),
 * which its senders send from too. What follows each: CreateMpid => ApplyRegister (refused if the
 * name is taken); SendMessage => Message =>>>> the recipient's MpidManagers after the owner check;
 * Message => HoldMessage if the lists and limits admit it, whose apply sends MessageResult ->>>>
 * the sender's group (a refusal at once); MessageResult goes on to the sending client;
 * Acknowledge => ApplyAcknowledge; the list changes => ApplyListChange; the reads are answered
 * from this member's own state.
 *
 * Account transfer on churn (SPEC.md 4): each MPID's account and each held message (records.ts).
 */
export const mpidManagerPersona: PersonaDefinition<MpidManagerState> = definePersona({
  persona: 'mpid-manager',
  speaksAs: 'group',
  messages: [
    createMpid,
    sendMessage,
    receiveMessage,
    messageResult,
    getMessages,
    acknowledge,
    addToWhiteList,
    removeFromWhiteList,
    addToBlackList,
    removeFromBlackList,
    whiteList,
    blackList,
  ],
  actions: [applyRegister, holdMessage, applyAcknowledge, applyListChange],
  records: mpidManagerRecords,
});
