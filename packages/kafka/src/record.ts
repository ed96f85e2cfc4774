import { decodeEnvelope, type Envelope, encodeEnvelope, MalformedEnvelopeError, toHex } from '@safe/core';
import type { IHeaders, KafkaMessage, Message } from 'kafkajs';

/** W3C trace context keys copied into Kafka headers so that tools (kcat, UIs) see them. */
export const TRACE_HEADERS = ['traceparent', 'tracestate'] as const;

/** A copy as it goes on the wire: key = hex of the destination NAE, value = the encoded envelope. */
export function toKafkaMessage(envelope: Envelope): Message {
  const headers: IHeaders = {};
  for (const name of TRACE_HEADERS) {
    const value = envelope.trace[name];
    if (value) headers[name] = value;
  }
  const bytes = encodeEnvelope(envelope);
  return {
    key: toHex(envelope.destination.nae),
    value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    headers,
  };
}

function headerText(value: IHeaders[string]): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined) return undefined;
  return typeof first === 'string' ? first : first.toString('utf8');
}

/** Decodes a record's value; the trace context in headers fills in when the envelope carries none. */
export function fromKafkaMessage(message: Pick<KafkaMessage, 'value' | 'headers'>): Envelope {
  if (message.value === null || message.value.length === 0) throw new MalformedEnvelopeError('the record has no value');
  const envelope = decodeEnvelope(message.value);
  if (envelope.trace.traceparent || !message.headers) return envelope;
  const traceparent = headerText(message.headers.traceparent);
  if (!traceparent) return envelope;
  const tracestate = headerText(message.headers.tracestate);
  return { ...envelope, trace: { ...envelope.trace, traceparent, ...(tracestate ? { tracestate } : {}) } };
}
