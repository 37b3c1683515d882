// The invoice rows' transitions, written here only (the invoices module owns the table; the
// deals engine decides when). Each re-checks its from-state, asserts the rows it changed, and
// writes the change to the invoice's history in the same transaction: every transition of an
// invoice passes here, so its history lists each one exactly once.
import { sql, type Transaction, type Updateable } from 'kysely';
import type { DB, InvoicesTable } from '../db/schema.ts';
import { assertInvoiceTransition, invoiceStatusesLeadingTo, type InvoiceStatus, type TransitionActor } from '../lifecycle.ts';
import type { InvoiceRow } from './service.ts';

/** Who made a transition, and when (Kasa's clock). */
export interface TransitionBy {
  actor: TransitionActor;
  at: Date;
}

/** The invoice, locked for the transaction: every transition of an invoice takes this lock first. */
export async function lockInvoice(trx: Transaction<DB>, invoiceId: string): Promise<InvoiceRow | undefined> {
  return trx.selectFrom('invoices').selectAll().where('id', '=', invoiceId).forUpdate().executeTakeFirst();
}

export async function moveInvoice(
  trx: Transaction<DB>,
  invoice: InvoiceRow,
  to: InvoiceStatus,
  set: Updateable<InvoicesTable>,
  by: TransitionBy,
): Promise<InvoiceRow> {
  assertInvoiceTransition(invoice.status, to);
  const rows = await trx
    .updateTable('invoices')
    .set({ ...set, status: to })
    .where('id', '=', invoice.id)
    .where('status', '=', invoice.status)
    .returningAll()
    .execute();
  assertChanged('invoice', to, rows.length, 1);
  const moved = rows[0] as InvoiceRow;
  await recordTransitions(trx, [{ from: invoice.status, row: moved }], by);
  return moved;
}

/**
 * Expires invoices the caller locked as pending past expires_at: `customer_timeout` when a
 * deal was opened for the invoice, `no_trader` when none was.
 */
export async function expireInvoices(trx: Transaction<DB>, ids: string[], now: Date): Promise<InvoiceRow[]> {
  const expired = await trx
    .updateTable('invoices as i')
    .set({
      status: 'expired',
      expired_at: now,
      status_detail: sql`CASE WHEN EXISTS (SELECT 1 FROM deals d WHERE d.invoice_id = i.id) THEN 'customer_timeout' ELSE 'no_trader' END`,
    })
    .where('i.id', 'in', ids)
    .where('i.status', 'in', invoiceStatusesLeadingTo('expired'))
    .returningAll()
    .execute();
  // Every row was locked as pending by the caller; fewer rows changed means the lock did not hold.
  assertChanged('invoice', 'expired', expired.length, ids.length);
  await recordTransitions(
    trx,
    expired.map((row) => ({ from: 'pending' as const, row })),
    { actor: 'system', at: now },
  );
  return expired;
}

async function recordTransitions(trx: Transaction<DB>, moves: { from: InvoiceStatus; row: InvoiceRow }[], by: TransitionBy): Promise<void> {
  if (moves.length === 0) return;
  await trx
    .insertInto('invoice_transitions')
    .values(
      moves.map(({ from, row }) => ({
        invoice_id: row.id,
        from_status: from,
        to_status: row.status,
        status_detail: row.status_detail,
        actor: by.actor,
        at: by.at,
      })),
    )
    .execute();
}

export function assertChanged(entity: 'invoice' | 'deal', to: string, changed: number, expected: number): void {
  if (changed !== expected) throw new Error(`lifecycle invariant: ${expected} ${entity}(s) → ${to} expected, ${changed} changed`);
}
