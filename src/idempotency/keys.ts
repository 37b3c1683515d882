// Idempotency keys: the first final answer to a request, kept per (key owner, key) for
// KEPT_ANSWER_TTL_MS, and given again to every repeat. A request's effect and its kept answer
// commit in one transaction, so a crash leaves both or neither; a repeat while the first still
// runs is refused rather than queued behind it. Knows no HTTP: an answer is a status, headers
// and a serialized body, made by the caller.
import { createHash } from 'node:crypto';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { Clock } from '../clock.ts';
import type { DB, IdempotencyKeysTable } from '../db/schema.ts';
import { inTransaction } from '../db/retry.ts';
import { errors } from '../errors.ts';

/** How long an answer is kept, as Stripe keeps its keys. */
export const KEPT_ANSWER_TTL_MS = 24 * 60 * 60_000;
/** How long a reservation for an effect outside the database (a test ping) holds its key. */
export const RESERVATION_MS = 60_000;
/** Expired keys deleted per purge statement: a short lock, however many expired at once. */
export const PURGE_BATCH_SIZE_MAX = 1_000;

export interface KeptAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface IdempotentRequest {
  /** The merchant or trader whose API key made the request. */
  ownerId: string;
  key: string;
  /** Method, path and body: a repeat must match it. */
  fingerprint: Buffer;
}

export interface Answered {
  answer: KeptAnswer;
  /** True when the answer is the kept one of an earlier request. */
  replayed: boolean;
}

/** The effect of a request in the caller's transaction, and what it answers. */
export type Effect = (trx: Transaction<DB>) => Promise<KeptAnswer>;
/** The answer to keep for an error the effect threw, or null for an error not to keep (5xx). */
export type ErrorAnswer = (error: unknown) => KeptAnswer | null;

export function fingerprintOf(method: string, path: string, body: string): Buffer {
  return createHash('sha256').update(`${method}\n${path}\n${body}`, 'utf8').digest();
}

export class IdempotencyKeys {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly clock: Clock,
  ) {}

  /**
   * Runs the effect once per key: in one transaction, takes the key's lock (without waiting:
   * held means in flight), answers from a kept answer when there is one, else runs the effect
   * in a savepoint and keeps its answer, or the answer to its error with the effect undone.
   * A retried transaction whose first commit succeeded finds its own kept answer.
   */
  async run(request: IdempotentRequest, effect: Effect, errorAnswer: ErrorAnswer): Promise<Answered> {
    return inTransaction(this.db, async (trx) => {
      const now = this.clock.now();
      const kept = await this.claim(trx, request, now);
      if (kept) return kept;
      await sql`SAVEPOINT idempotent_effect`.execute(trx);
      let answer: KeptAnswer;
      try {
        answer = await effect(trx);
      } catch (error) {
        const refused = errorAnswer(error);
        if (!refused) throw error;
        await sql`ROLLBACK TO SAVEPOINT idempotent_effect`.execute(trx);
        answer = refused;
      }
      await this.keep(trx, request, answer, now);
      return { answer, replayed: false };
    });
  }

  /**
   * For an effect outside the database: reserves the key (committed), runs the effect, keeps its
   * answer. A crash in between leaves the reservation, which lapses after RESERVATION_MS; until
   * then repeats are told the first is in flight.
   */
  async runOutside(request: IdempotentRequest, effect: () => Promise<KeptAnswer>, errorAnswer: ErrorAnswer): Promise<Answered> {
    const reserved = await inTransaction(this.db, async (trx) => {
      const now = this.clock.now();
      const kept = await this.claim(trx, request, now);
      if (kept) return kept;
      await trx
        .insertInto('idempotency_keys')
        .values({
          owner_id: request.ownerId,
          key: request.key,
          fingerprint: request.fingerprint,
          locked_until: new Date(now.getTime() + RESERVATION_MS),
          created_at: now,
          expires_at: new Date(now.getTime() + KEPT_ANSWER_TTL_MS),
        })
        .execute();
      return null;
    });
    if (reserved) return reserved;
    let answer: KeptAnswer;
    try {
      answer = await effect();
    } catch (error) {
      const refused = errorAnswer(error);
      if (!refused) {
        // Nothing to keep: free the key so a retry runs the effect again.
        await this.release(request);
        throw error;
      }
      answer = refused;
    }
    await inTransaction(this.db, async (trx) => {
      await trx
        .updateTable('idempotency_keys')
        .set({ status_code: answer.status, headers: JSON.stringify(answer.headers), body: answer.body, locked_until: null })
        .where('owner_id', '=', request.ownerId)
        .where('key', '=', request.key)
        .execute();
    });
    return { answer, replayed: false };
  }

  /** Deletes keys past their 24 h, a batch at a time; returns how many. */
  async purgeExpired(): Promise<number> {
    const now = this.clock.now();
    const result = await sql`
      DELETE FROM idempotency_keys WHERE (owner_id, key) IN (
        SELECT owner_id, key FROM idempotency_keys WHERE expires_at <= ${now}::timestamptz
         ORDER BY expires_at LIMIT ${PURGE_BATCH_SIZE_MAX} FOR UPDATE SKIP LOCKED)`.execute(this.db);
    return Number(result.numAffectedRows ?? 0n);
  }

  /**
   * The key's lock for this transaction, then its kept answer if any. Another transaction holding
   * the lock is a request with this key in flight: 409, never a wait behind it. An expired key
   * not yet purged counts as absent.
   */
  private async claim(trx: Transaction<DB>, request: IdempotentRequest, now: Date): Promise<Answered | null> {
    const { rows } = await sql<{ locked: boolean }>`
      SELECT pg_try_advisory_xact_lock(hashtextextended(${`idempotency/${request.ownerId}/${request.key}`}, 0)) AS locked`.execute(trx);
    if (!rows[0]?.locked) throw errors.idempotencyKeyInUse();
    const row = await trx.selectFrom('idempotency_keys').selectAll().where('owner_id', '=', request.ownerId).where('key', '=', request.key).executeTakeFirst();
    if (!row) return null;
    if (row.expires_at <= now || (row.status_code === null && row.locked_until !== null && row.locked_until <= now)) {
      await trx.deleteFrom('idempotency_keys').where('owner_id', '=', request.ownerId).where('key', '=', request.key).execute();
      return null;
    }
    if (!Buffer.from(row.fingerprint).equals(request.fingerprint)) throw errors.idempotencyKeyReused();
    const { status_code: status, body } = row;
    if (status === null || body === null) throw errors.idempotencyKeyInUse();
    return { answer: keptAnswer({ ...row, status_code: status, body }), replayed: true };
  }

  private async keep(trx: Transaction<DB>, request: IdempotentRequest, answer: KeptAnswer, now: Date): Promise<void> {
    await trx
      .insertInto('idempotency_keys')
      .values({
        owner_id: request.ownerId,
        key: request.key,
        fingerprint: request.fingerprint,
        status_code: answer.status,
        headers: JSON.stringify(answer.headers),
        body: answer.body,
        created_at: now,
        expires_at: new Date(now.getTime() + KEPT_ANSWER_TTL_MS),
      })
      .execute();
  }

  private async release(request: IdempotentRequest): Promise<void> {
    await this.db
      .deleteFrom('idempotency_keys')
      .where('owner_id', '=', request.ownerId)
      .where('key', '=', request.key)
      .where('status_code', 'is', null)
      .execute();
  }
}

function keptAnswer(row: Selectable<IdempotencyKeysTable> & { status_code: number; body: string }): KeptAnswer {
  return { status: row.status_code, headers: row.headers, body: row.body };
}
