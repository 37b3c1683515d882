// What the ledger and the deals engine hold, read straight from the database, for tests that check money to the micro-USDT.
import type { TestKasa } from './kasa.ts';

/** An account's balance in micro-USDT; an account never written is 0. */
export async function balanceOf(t: TestKasa, account: string): Promise<bigint> {
  const row = await t.database.db.selectFrom('accounts').select('balance').where('id', '=', account).executeTakeFirst();
  return row?.balance ?? 0n;
}

/** The transfers made for one deal, withdrawal or top-up, in the order they were written. */
export function transfersOf(t: TestKasa, ref: string) {
  return t.database.db.selectFrom('transfers').select(['from_account', 'to_account', 'amount', 'kind']).where('ref', '=', ref).orderBy('id').execute();
}

/** Opens the invoice's payment page as a customer would; the deal it opened, as stored, or null when no trader was free. */
export async function openDeal(t: TestKasa, invoiceId: string) {
  const state = await t.kasa.deals.openForPage(invoiceId);
  if (state.kind !== 'deal') return null;
  return t.database.db.selectFrom('deals').selectAll().where('id', '=', state.deal.id).executeTakeFirstOrThrow();
}
