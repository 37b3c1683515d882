// The hot path's single statements: how they run (prepared where the engine has them) and
// that each is retried as a whole, as transactions are.
import { CompiledQuery, type Kysely } from 'kysely';
import { retrying } from './retry.ts';
import type { DB } from './schema.ts';

/**
 * Runs one statement as a named prepared statement where the engine has them (a PostgreSQL
 * connection parses and plans it once, then only binds), as a plain query elsewhere. On a
 * PostgreSQL server the statement is pipelined (see pipeline.ts): only single statements that
 * are their own transaction and wait on no lock held across round trips belong here. Each is
 * retried as a whole where PostgreSQL says a retry can succeed (see retry.ts), as transactions are.
 */
export type PreparedQuery = <R>(name: string, text: string, values: unknown[]) => Promise<R[]>;

export function retried(run: PreparedQuery): PreparedQuery {
  return <R>(name: string, text: string, values: unknown[]) => retrying(() => run<R>(name, text, values));
}

/** Through Kysely's driver: keeps PGlite's one-session discipline. */
export function kyselyPrepared(db: Kysely<DB>): PreparedQuery {
  return retried(async <R>(_name: string, text: string, values: unknown[]) => (await db.executeQuery<R>(CompiledQuery.raw(text, values))).rows);
}
