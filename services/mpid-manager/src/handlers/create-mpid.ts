import { checkMpidText, mpidName, mpidRegistrationBytes } from '@safe/chunks';
import { BadSignatureError, handles, InvalidNameError, nameEquals, verifySignature } from '@safe/core';
import { toMpidManager } from '@safe/messages';
import { applyRegisterCodec } from '../messages.js';
import { wireOriginOf } from '../requests.js';

/**
 * CreateMpid | MpidNode =>>>> | [Ac, Fw, Sy] MpidManager: registers the public id for the sending
 * client. Whether the name is taken is decided once the group agreed (ApplyRegister), so every
 * member decides it on the same state.
 */
export const createMpid = handles(toMpidManager.createMpid, (msg) => {
  const { name, publicKey, signature } = msg.payload;
  const nae = mpidName(checkMpidText(name));
  if (!nameEquals(msg.destination.nae, nae)) throw new InvalidNameError('a public id is registered with the close group of its name');
  if (!verifySignature(publicKey, mpidRegistrationBytes(name, msg.sender), signature)) {
    throw new BadSignatureError("the registration is not signed by the public id's key");
  }
  const account = { name, publicKey, owner: msg.sender, white: [], black: [] };
  return { actions: [{ type: 'ApplyRegister', nae, payload: applyRegisterCodec.encode({ account, origin: wireOriginOf(msg) }) }] };
});
