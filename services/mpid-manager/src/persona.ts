import type { PersonaDefinition } from '@safe/core';
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
 * | message             | from        | Ac     | Fw  | Sy  |
 * |---------------------|-------------|--------|-----|-----|
 * | CreateMpid          | client      | single | yes | yes (ApplyRegister: refused if the name is taken) |
 * | SendMessage         | client      | single | yes | no  (owner check; So: Message =>>>> the recipient's MpidManagers) |
 * | Message             | MpidManager | group  | yes | yes (lists, limits; HoldMessage, whose apply sends MessageResult ->>>> the sender's group; a refusal at once) |
 * | MessageResult       | MpidManager | group  | yes | no  (passed on to the sending client) |
 * | GetMessages         | client      | single | yes | no  (owner: the held messages, oldest first) |
 * | Acknowledge         | client      | single | yes | yes (ApplyAcknowledge: no longer held) |
 * | AddToWhiteList, RemoveFromWhiteList, AddToBlackList, RemoveFromBlackList | client | single | yes | yes (ApplyListChange) |
 * | WhiteList, BlackList | client     | single | yes | no  (owner: the list) |
 *
 * Account transfer on churn (SPEC.md 4): each MPID's account and each held message (records.ts).
 */
export const mpidManagerPersona: PersonaDefinition<MpidManagerState> = {
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
};
