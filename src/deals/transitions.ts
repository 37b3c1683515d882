// The deal rows' transitions, written here only: the deals engine and the disputes domain move
// deals through these, under the invoice's lock taken first.
import type { Selectable, Transaction, Updateable } from 'kysely';
import type { DB, DealsTable } from '../db/schema.ts';
import { assertChanged } from '../invoices/transitions.ts';
import { assertDealTransition, type DealStatus } from '../lifecycle.ts';

export type DealRow = Selectable<DealsTable>;

/** The deal, locked (after its invoice's lock). */
export async function lockDeal(trx: Transaction<DB>, dealId: string): Promise<DealRow> {
  return trx.selectFrom('deals').selectAll().where('id', '=', dealId).forUpdate().executeTakeFirstOrThrow();
}

/**
 * Moves one deal along the lifecycle: the UPDATE re-checks the from-state it was read in, and
 * exactly one row must change (the caller holds the row's lock, so anything else is a bug).
 */
export async function moveDeal(trx: Transaction<DB>, deal: DealRow, to: DealStatus, set: Updateable<DealsTable>): Promise<DealRow> {
  assertDealTransition(deal.status, to);
  const rows = await trx
    .updateTable('deals')
    .set({ ...set, status: to })
    .where('id', '=', deal.id)
    .where('status', '=', deal.status)
    .returningAll()
    .execute();
  assertChanged('deal', to, rows.length, 1);
  return rows[0] as DealRow;
}
