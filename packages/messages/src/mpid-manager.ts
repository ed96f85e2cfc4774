import { messageType } from '@safe/core';
import {
  AcknowledgeSchema,
  CreateMpidSchema,
  GetMessagesSchema,
  ListChangeSchema,
  ListRequestSchema,
  MessageResultSchema,
  MessageSchema,
  SendMessageSchema,
} from '@safe/proto/mpid_manager';

/** A client (an MpidNode) talks to its MPIDs' managers directly: a change is applied once the group agreed it. */
const change = { from: ['client'], to: 'mpid-manager', accumulate: 'single', firewall: true, sync: true } as const;
/** A request answered by the member at once, from its own state, or passed on. */
const ask = { ...change, sync: false } as const;
/** Between the sender's and the recipient's MpidManager groups. */
const between = { from: ['mpid-manager'], to: 'mpid-manager', accumulate: 'group', firewall: true } as const;

/**
 * The messages an MpidManager receives (SPEC.md 3.7); NAE = the MPID's name, hash of its text name.
 *
 * | message                                 | from        | Ac     | Fw  | Sy  |
 * |-----------------------------------------|-------------|--------|-----|-----|
 * | CreateMpid                              | client      | single | yes | yes |
 * | SendMessage                             | client      | single | yes | no  |
 * | Message                                 | MpidManager | group  | yes | yes |
 * | MessageResult                           | MpidManager | group  | yes | no  |
 * | GetMessages                             | client      | single | yes | no  |
 * | Acknowledge                             | client      | single | yes | yes |
 * | Add/RemoveFrom White/BlackList (four)   | client      | single | yes | yes |
 * | WhiteList, BlackList                    | client      | single | yes | no  |
 */
export const toMpidManager = {
  /** Registers the public id for the sending client; refused once agreed if the name is taken. */
  createMpid: messageType(CreateMpidSchema, { ...change, type: 'CreateMpid' }),
  /** To the sender's MPID's group, which passes it on as Message. */
  sendMessage: messageType(SendMessageSchema, { ...ask, type: 'SendMessage' }),
  /** To the recipient's group: the lists decide, an admitted message is held once agreed. */
  message: messageType(MessageSchema, { ...between, type: 'Message', sync: true }),
  /** The recipient's group's answer to Message, passed on to the sending client. */
  messageResult: messageType(MessageResultSchema, { ...between, type: 'MessageResult', sync: false }),
  getMessages: messageType(GetMessagesSchema, { ...ask, type: 'GetMessages' }),
  acknowledge: messageType(AcknowledgeSchema, { ...change, type: 'Acknowledge' }),
  addToWhiteList: messageType(ListChangeSchema, { ...change, type: 'AddToWhiteList' }),
  removeFromWhiteList: messageType(ListChangeSchema, { ...change, type: 'RemoveFromWhiteList' }),
  addToBlackList: messageType(ListChangeSchema, { ...change, type: 'AddToBlackList' }),
  removeFromBlackList: messageType(ListChangeSchema, { ...change, type: 'RemoveFromBlackList' }),
  whiteList: messageType(ListRequestSchema, { ...ask, type: 'WhiteList' }),
  blackList: messageType(ListRequestSchema, { ...ask, type: 'BlackList' }),
};
