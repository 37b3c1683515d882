// Transactions are short and retried as a whole when PostgreSQL says a retry can succeed:
// serialization failures, deadlocks, an administrator shutdown (failover) or a dropped
// connection. Every retried body must be idempotent as a whole, which a rolled-back
// transaction guarantees.
import type { Kysely, Transaction } from 'kysely';
import type { DB } from './schema.ts';

const ATTEMPTS_MAX = 4;
const BACKOFF_MS_BASE = 20;
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01', '57P01', '57P02', '57P03']);
const RETRYABLE_NODE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);

export function isRetryable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') {
    // pg reports a connection lost mid-query as a plain Error with the first message, and a
    // statement refused by a connection already lost (never sent) with the second.
    return /Connection terminated|encountered a connection error and is not queryable/i.test(String((error as { message?: unknown }).message));
  }
  return RETRYABLE_SQLSTATES.has(code) || code.startsWith('08') || RETRYABLE_NODE_CODES.has(code);
}

export async function retrying<T>(operation: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (attempt >= ATTEMPTS_MAX || !isRetryable(error)) throw error;
      const jitter = Math.random() * BACKOFF_MS_BASE;
      await new Promise((resolve) => setTimeout(resolve, BACKOFF_MS_BASE * 2 ** (attempt - 1) + jitter));
    }
  }
}

/**
 * Runs body in a new transaction, retried whole; or, given the caller's transaction `outer`
 * (a request with an Idempotency-Key keeps its answer in the transaction of its effect), in
 * that one, which its owner commits and retries.
 */
export function inTransaction<T>(db: Kysely<DB>, body: (trx: Transaction<DB>) => Promise<T>, outer?: Transaction<DB>): Promise<T> {
  if (outer) return body(outer);
  return retrying(() => db.transaction().execute(body));
}
