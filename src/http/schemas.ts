// Response schemas shared by every route: they document the answers in the OpenAPI document and
// drive Fastify's compiled serializers.
import type { JsonSchema } from './validation.ts';

export const errorEnvelope: JsonSchema = {
  type: 'object',
  description: 'Error envelope (every error but 400 malformed body and 422 validation)',
  required: ['successful', 'request_id', 'error'],
  properties: {
    successful: { type: 'boolean', const: false },
    request_id: { type: 'string', format: 'uuid', description: 'Unique request ID for debugging' },
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'Machine-readable error code' },
        message: { type: 'string', description: 'Human-readable description' },
        details: { type: 'object', additionalProperties: true, description: 'Extra context (varies by error)' },
      },
    },
  },
};

export const validationErrorBody: JsonSchema = {
  type: 'object',
  description: 'Request validation failed: every violation, with Pydantic v2 error types',
  required: ['detail'],
  properties: {
    detail: {
      type: 'array',
      items: {
        type: 'object',
        required: ['type', 'loc', 'msg'],
        properties: {
          type: { type: 'string', description: 'Pydantic error type' },
          loc: { type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'integer' }] }, description: 'Path to invalid field' },
          msg: { type: 'string', description: 'Error message' },
          input: {},
          ctx: { type: 'object', additionalProperties: true },
        },
      },
    },
  },
};

export const malformedBody: JsonSchema = {
  type: 'object',
  description: 'The body is not JSON, or not sent as application/json',
  required: ['error', 'message', 'code', 'details'],
  properties: {
    error: { type: 'string', const: 'Bad Request' },
    message: { type: 'string' },
    code: { type: 'integer', const: 400 },
    details: {
      type: 'array',
      items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } },
    },
  },
};

/** Error responses by status, with a description naming the codes each may carry. */
export function errorResponses(codes: Record<number, string>): Record<number, JsonSchema> {
  const out: Record<number, JsonSchema> = {};
  for (const [status, description] of Object.entries(codes)) {
    const n = Number(status);
    if (n === 422) out[n] = { ...validationErrorBody, description };
    else if (n === 400 && description.startsWith('MALFORMED')) out[n] = { ...malformedBody, description };
    else out[n] = { ...errorEnvelope, description };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Building blocks of the answers' schemas. A 2xx schema is an allow-list: Fastify's serializer
// writes only the properties named here, so a field reaches a client only once it is declared.

/** Every timestamp Kasa answers with: UTC, whole seconds, Z ("2026-02-25T12:00:00Z"). */
export function timestamp(description: string): JsonSchema {
  return { type: 'string', format: 'date-time', description, examples: ['2026-02-25T12:00:00Z'] };
}

export function nullableTimestamp(description: string): JsonSchema {
  return { type: ['string', 'null'], format: 'date-time', description, examples: ['2026-02-25T12:00:00Z'] };
}

/** An object whose every property is always present (null when it has no value). */
export function record(properties: Record<string, JsonSchema>, description?: string): JsonSchema {
  const schema: JsonSchema = { type: 'object', required: Object.keys(properties), properties };
  if (description) schema.description = description;
  return schema;
}

/** `{ items: [...] }`, the shape of every unpaged list. */
export function itemsOf(item: JsonSchema, description?: string): JsonSchema {
  return record({ items: { type: 'array', items: item } }, description);
}

/** `{ items: [...], next_cursor }`, the shape of every paged list. */
export function pageOf(item: JsonSchema, description?: string): JsonSchema {
  return record(
    {
      items: { type: 'array', items: item },
      next_cursor: { type: ['string', 'null'], description: 'Pass as cursor for the next page; null on the last page' },
    },
    description,
  );
}

/** A USDT amount as a decimal string. */
export function usdt(description: string, example = '35.42'): JsonSchema {
  return { type: 'string', description, examples: [example] };
}

/** A body that is not JSON (the payment page, metrics), documented by media type. */
export function textResponse(mediaType: string, description: string): JsonSchema {
  return { description, content: { [mediaType]: { schema: { type: 'string' } } } };
}
