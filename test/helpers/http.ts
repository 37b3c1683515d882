// Assertions on the documented answer shapes, shared by the test files.
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';

export const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export interface Envelope {
  successful: false;
  request_id: string;
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/** Asserts the error envelope with this status and code, its request_id equal to X-Request-Id. */
export function assertEnvelope(res: LightMyRequestResponse, status: number, code: string, message?: string): Envelope {
  assert.equal(res.statusCode, status, res.body);
  const body = res.json() as Envelope;
  assert.equal(body.successful, false);
  assert.match(body.request_id, UUID_V4);
  assert.equal(body.request_id, res.headers['x-request-id']);
  assert.equal(body.error.code, code, res.body);
  assert.equal(typeof body.error.message, 'string');
  if (message !== undefined) assert.equal(body.error.message, message);
  return body;
}

/** Asserts a 422 in FastAPI's shape and returns [type, loc joined by "."] of each violation. */
export function assertValidation(res: LightMyRequestResponse): [string, string][] {
  assert.equal(res.statusCode, 422, res.body);
  const body = res.json() as { detail: { type: string; loc: (string | number)[]; msg: string }[] };
  assert.deepEqual(Object.keys(body), ['detail']);
  assert.ok(Array.isArray(body.detail) && body.detail.length > 0);
  return body.detail.map((d) => [d.type, d.loc.join('.')]);
}
