// The invoice rows' transitions, written here only (the invoices module owns the table; the
// deals engine decides when). Each re-checks its from-state and asserts the rows it changed.
import type { Transaction, Updateable } from 'kysely';
import type { DB, InvoicesTable } from '../db/schema.ts';
import { assertInvoiceTransition, invoiceStatusesLeadingTo, type InvoiceStatus } from '../lifecycle.ts';
import type { InvoiceRow } from './service.ts';

/** The invoice, locked for the transaction: every transition of an invoice takes this lock first. */
export async function lockInvoice(trx: Transaction<DB>, invoiceId: string): Promise<InvoiceRow | undefined> {
  return trx.selectFrom('invoices').selectAll().where('id', '=', invoiceId).forUpdate().executeTakeFirst();
}

export async function moveInvoice(trx: Transaction<DB>, invoice: InvoiceRow, to: InvoiceStatus, set: Updateable<InvoicesTable>): Promise<InvoiceRow> {
  assertInvoiceTransition(invoice.status, to);
  const rows = await trx
    .updateTable('invoices')
    .set({ ...set, status: to })
    .where('id', '=', invoice.id)
    .where('status', '=', invoice.status)
    .returningAll()
    .execute();
  assertChanged('invoice', to, rows.length, 1);
  return rows[0] as InvoiceRow;
}

/** Expires invoices the caller locked as pending past expires_at. */
export async function expireInvoices(trx: Transaction<DB>, ids: string[], now: Date): Promise<InvoiceRow[]> {
  const expired = await trx
    .updateTable('invoices')
    .set({ status: 'expired', expired_at: now })
    .where('id', 'in', ids)
    .where('status', 'in', invoiceStatusesLeadingTo('expired'))
    .returningAll()
    .execute();
  // Every row was locked as pending by the caller; fewer rows changed means the lock did not hold.
  assertChanged('invoice', 'expired', expired.length, ids.length);
  return expired;
}

export function assertChanged(entity: 'invoice' | 'deal', to: string, changed: number, expected: number): void {
  if (changed !== expected) throw new Error(`lifecycle invariant: ${expected} ${entity}(s) → ${to} expected, ${changed} changed`);
}
