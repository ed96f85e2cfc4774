import type { DescMessage } from '@bufbuild/protobuf';
import {
  CLIENT,
  type ClientRequest,
  contentDigest,
  type Envelope,
  type Identity,
  type MessageType,
  type Name,
  type PersonaName,
  type SourcePersona,
  sealEnvelope,
} from '@safe/core';

/**
 * Seals a client request built from a row of the message table (`clientRequest(row, nae, payload)`
 * from @safe/core), as the SDK does: a wrong type, persona or payload is then a compile error, not
 * a test that quietly checks something else. `content` travels under its digest; `digest`
 * overrides it (to forge one) and `issuedAt` the signing time.
 */
export function sealRequest(
  identity: Identity,
  request: ClientRequest,
  content?: Uint8Array,
  { digest = content && contentDigest(content), issuedAt = Date.now() }: { digest?: Uint8Array; issuedAt?: number } = {},
): Envelope {
  const sealed = sealEnvelope(
    {
      type: request.type,
      source: { persona: CLIENT, nae: identity.name },
      issuedAt,
      authority: 'single',
      destination: request.to,
      scope: 'close-group',
      payload: typeof request.payload === 'function' ? request.payload() : request.payload,
      correlation: new Uint8Array(0),
      ...(digest ? { contentDigest: digest } : {}),
    },
    identity,
  );
  return content ? { ...sealed, content } : sealed;
}

/** As clientRequest, but with payload bytes of the test's own making, e.g. ones that do not decode. */
export function rawRequest<Desc extends DescMessage, From extends SourcePersona, To extends PersonaName>(
  row: MessageType<Desc, From, To>,
  nae: Name,
  payload: Uint8Array,
  ..._notASender: 'client' extends From ? [] : [never]
): ClientRequest {
  return { type: row.type, to: { persona: row.to, nae }, payload };
}
