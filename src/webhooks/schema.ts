// Response schemas of the merchant's webhook endpoints, as documented in the OpenAPI document.
// A receiver's answer is shown losslessly: any bytes, so its representation is part of the schema.
import type { JsonSchema } from '../http/validation.ts';
import { RESPONSE_BODY_BYTES_MAX } from './answer.ts';

const nullable = (type: string, description: string, extra: JsonSchema = {}): JsonSchema => ({ type: [type, 'null'], description, ...extra });

/** The receiver's answer, in the same two fields wherever an attempt is shown. */
const answerProperties: Record<string, JsonSchema> = {
  response_body: nullable(
    'string',
    `The first ${RESPONSE_BODY_BYTES_MAX} bytes of the receiver's answer, exactly as sent (a cut inside a UTF-8 character ends before it). ` +
      'Text when those bytes are valid UTF-8 (a NUL included, as \\u0000); otherwise base64 of the bytes. response_body_encoding says which. null when no HTTP answer came back.',
  ),
  response_body_encoding: {
    type: ['string', 'null'],
    enum: ['utf8', 'base64', null],
    description: 'utf8: response_body is the answer as text; base64: the answer was not valid UTF-8 and response_body is base64 of its bytes; null with response_body null',
  },
};

const deliveryObject: JsonSchema = {
  type: 'object',
  required: ['event_id', 'type', 'invoice_id', 'target_url', 'status', 'failure_reason', 'attempts', 'next_attempt_at', 'last_status', 'last_error', 'created_at', 'delivered_at'],
  properties: {
    event_id: { type: 'string', format: 'uuid', description: 'The event id, sent as webhook-id: your idempotency key' },
    type: { type: 'string', description: 'invoice.success, invoice.expired, invoice.cancelled or ping' },
    invoice_id: nullable('string', 'The invoice of the event; null for a ping', { format: 'uuid' }),
    target_url: { type: 'string', description: 'Where the event is sent' },
    status: { type: 'string', enum: ['pending', 'delivered', 'failed'] },
    failure_reason: nullable('string', 'gone (410), attempts_exhausted, or test (a failed ping); null unless failed'),
    attempts: { type: 'integer', description: 'Attempts made so far' },
    next_attempt_at: nullable('string', 'When the next attempt is due; null unless pending', { format: 'date-time' }),
    last_status: nullable('integer', 'HTTP status of the last attempt; null if it got no answer'),
    last_error: nullable('string', 'Connection, timeout, TLS or SSRF error of the last attempt'),
    created_at: { type: 'string', format: 'date-time' },
    delivered_at: nullable('string', 'When a 2xx came back', { format: 'date-time' }),
  },
};

const attemptObject: JsonSchema = {
  type: 'object',
  required: ['attempted_at', 'status_code', 'duration_ms', 'response_body', 'response_body_encoding', 'error'],
  properties: {
    attempted_at: { type: 'string', format: 'date-time' },
    status_code: nullable('integer', 'HTTP status of the answer; null if none came back'),
    duration_ms: { type: 'integer' },
    ...answerProperties,
    error: nullable('string', 'Connection, timeout, TLS or SSRF error; null when an HTTP answer came back'),
  },
};

/** One delivery with its log: here `attempts` is every attempt made, oldest first, not their count. */
export const deliveryDetail: JsonSchema = {
  ...deliveryObject,
  properties: { ...(deliveryObject.properties as Record<string, JsonSchema>), attempts: { type: 'array', items: attemptObject, description: 'Every attempt, oldest first' } },
};

export const testPingResult: JsonSchema = {
  type: 'object',
  required: ['event_id', 'delivered', 'status_code', 'duration_ms', 'response_body', 'response_body_encoding', 'error'],
  properties: {
    event_id: { type: 'string', format: 'uuid', description: 'The ping\'s webhook-id; its delivery is in the log' },
    delivered: { type: 'boolean', description: 'true when the receiver answered 2xx' },
    status_code: nullable('integer', 'HTTP status of the answer; null if none came back'),
    duration_ms: { type: 'integer' },
    ...answerProperties,
    error: nullable('string', 'Connection, timeout, TLS or SSRF error; null when an HTTP answer came back'),
  },
};
