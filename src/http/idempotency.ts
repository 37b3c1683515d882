// Idempotency-Key on the merchant's and trader's POSTs: the header's model, and the answer of a
// route whose effect runs once per key (src/idempotency/keys.ts keeps the answers). Without the
// header a route runs as it always has, at no cost.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Transaction } from 'kysely';
import type { DB } from '../db/schema.ts';
import { KasaError } from '../errors.ts';
import { fingerprintOf, type IdempotencyKeys, type KeptAnswer } from '../idempotency/keys.ts';
import { errorBody } from './envelope.ts';
import { model, optional, string } from './validation.ts';

export const IDEMPOTENCY_KEY_LENGTH_MAX = 255;

export const idempotencyHeaders = model({
  'idempotency-key': optional(
    string({
      min: 1,
      max: IDEMPOTENCY_KEY_LENGTH_MAX,
      pattern: '^[\\x20-\\x7e]+$',
      description:
        'Any 1–255 printable ASCII characters, new for each operation (a UUID is a good choice). A repeat with the same method, path and body within 24 h gets the first answer again, with Idempotent-Replayed: true.',
    }),
  ),
});

/** errorDocs lines every idempotent route adds to its own. */
export const IDEMPOTENCY_ERRORS = {
  409: 'IDEMPOTENCY_KEY_IN_USE: a request with this Idempotency-Key is still running',
  422: 'IDEMPOTENCY_KEY_REUSED: the Idempotency-Key was used with another method, path or body; or a validation error (the Idempotency-Key header included)',
};

/** A route's errorDocs with the idempotency errors merged into its own lines. */
export function withIdempotencyErrors(docs: Record<string, string>): Record<string, string> {
  const merged = { ...docs };
  for (const [status, line] of Object.entries(IDEMPOTENCY_ERRORS)) merged[status] = merged[status] ? `${merged[status]}; ${line}` : line;
  return merged;
}

/**
 * The route's effect in the caller's transaction when given one; without a transaction the
 * effect opens its own (or takes its usual path, as create-invoice does).
 */
export type RouteEffect<T> = (trx?: Transaction<DB>) => Promise<T>;

export interface IdempotentOptions {
  /** The effect is outside the database (a test ping): the key is reserved while it runs. */
  outside?: boolean;
}

/**
 * Answers a POST with `status` and the effect's result, once per Idempotency-Key. Kept: the
 * first final answer, including refusals in the error envelope (4xx); not kept: validation
 * errors (they never reach the effect) and 5xx. A replay is sent byte for byte as first answered.
 */
export type Idempotent = ReturnType<typeof idempotent>;

export function idempotent(keys: IdempotencyKeys) {
  return async function answer<T>(
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    effect: RouteEffect<T>,
    options: IdempotentOptions = {},
  ): Promise<T | FastifyReply> {
    const key = request.headers['idempotency-key'];
    if (typeof key !== 'string') {
      reply.code(status);
      return effect();
    }
    const ownerId = request.merchant?.id ?? request.trader?.id;
    if (!ownerId) throw new Error('an idempotent route is missing its merchantAuth or traderAuth hook');
    const idempotentRequest = { ownerId, key, fingerprint: fingerprintOf(request.method, request.url, JSON.stringify(request.body ?? null)) };
    const serialize = (payload: T): KeptAnswer => {
      reply.code(status);
      return { status, headers: {}, body: reply.serialize(payload) as string };
    };
    const refusal = (error: unknown): KeptAnswer | null =>
      error instanceof KasaError && error.statusCode < 500
        ? { status: error.statusCode, headers: error.headers ?? {}, body: JSON.stringify(errorBody(request.id, error)) }
        : null;
    const { answer: kept, replayed } = options.outside
      ? await keys.runOutside(idempotentRequest, async () => serialize(await effect()), refusal)
      : await keys.run(idempotentRequest, async (trx) => serialize(await effect(trx)), refusal);
    reply.code(kept.status).headers(kept.headers).type('application/json; charset=utf-8');
    if (replayed) reply.header('idempotent-replayed', 'true');
    return reply.send(kept.body);
  };
}
