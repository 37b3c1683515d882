// A change made in a cabinet and its audit row, in one transaction: a change that rolls back
// leaves no row, a committed one always has its row, written as the signed-in person from their
// address. The merchant cabinet and the operator console both change through it.
import type { FastifyRequest } from 'fastify';
import type { Kysely, Transaction } from 'kysely';
import type { DB } from '../db/schema.ts';
import { inTransaction } from '../db/retry.ts';
import type { AuditEntry } from '../people/audit.ts';
import type { CabinetKit } from './plugin.ts';

/** Writes one audit row of the change, in its transaction. */
export type Recorder = (trx: Transaction<DB>, entry: Omit<AuditEntry, 'actor' | 'ip'>) => Promise<void>;

export function changeWithAudit(db: Kysely<DB>, kit: CabinetKit) {
  return function change<T>(request: FastifyRequest, body: (trx: Transaction<DB>, record: Recorder) => Promise<T>): Promise<T> {
    const who = kit.actor(request);
    return inTransaction(db, (trx) => body(trx, (t, entry) => kit.audit.record(t, { ...who, ...entry })));
  };
}
