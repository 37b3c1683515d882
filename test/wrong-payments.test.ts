// When a payment goes wrong (issue #12 §1, §2, §3, §5): another amount received, late
// confirmations, trader rejects, customers who keep not paying, the invoice's history and the
// order of its webhooks. Through HTTP on a real database; money to the micro-USDT.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import { sql } from 'kysely';
import { createKasa } from '../src/context.ts';
import { ADMIN_TOKEN, ManualClock, startKasa, type TestKasa } from './helpers/kasa.ts';
import { kasaCommand } from './helpers/cli.ts';
import { addTrader, ledgerClean, trader, type TestTrader } from './helpers/traders.ts';
import { balanceOf, openDeal as openDealOf, transfersOf as transferRows } from './helpers/ledger.ts';
import { pressPaid as pressPaidOn } from './helpers/payment-page.ts';

const MINUTE = 60_000;

describe('when a payment goes wrong', () => {
  let t: TestKasa;
  let merchant: { merchant_id: string; api_key: string };
  let other: { merchant_id: string; api_key: string };
  let seq = 0;

  before(async () => {
    t = await startKasa();
    merchant = await t.createMerchant({ name: 'Wrong Shop', webhook_url: 'https://hooks.example/kasa' });
    other = await t.createMerchant({ name: 'Other Shop' });
    await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 100000, customer_max_pending: 100000 });
  });
  after(() => t.close());
  // Each test starts with the defaults of the payment settings and no trader of an earlier test
  // taking its deals, whatever an earlier test left behind.
  beforeEach(async () => {
    await t.database.db.updateTable('traders').set({ status: 'disabled' }).execute();
    await settings({
      amount_tolerance: '0.00',
      overpayment_max_percent: '10.00',
      late_confirm_minutes: 120,
      late_unpaid_confirm_minutes: 0,
      trader_unconfirmed_max: 10,
      customer_unpaid_max: 3,
      invoice_ttl_minutes: 20,
    });
  });

  async function settings(patch: Record<string, unknown>) {
    const res = await t.admin('PATCH', '/admin/v1/settings', patch);
    assert.equal(res.statusCode, 200, res.body);
  }

  async function invoice(body: Record<string, unknown> = {}) {
    seq += 1;
    const res = await t.createInvoice(merchant.api_key, { external_id: `wrong-${seq}`, customer_id: `wc-${seq}`, ...body });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { invoice_id: string; amount: string; expires_at: string };
  }

  const openDeal = (invoiceId: string) => openDealOf(t, invoiceId);

  /** "I have paid", as the payment page's form does it. */
  const pressPaid = (invoiceId: string) => pressPaidOn(t, invoiceId);

  function confirm(tr: TestTrader, dealId: string, received?: string) {
    return trader(t, tr.api_key, 'POST', `/api/v1/trader/deals/${dealId}/confirm`, received === undefined ? undefined : { received_amount: received });
  }

  function reject(tr: TestTrader, dealId: string, body: unknown = { reason: 'no_payment' }, key = randomUUID()) {
    return t.inject({
      method: 'POST',
      url: `/api/v1/trader/deals/${dealId}/reject`,
      headers: { 'x-api-key': tr.api_key, 'idempotency-key': key },
      payload: body as object,
    });
  }

  function getInvoice(invoiceId: string, apiKey = merchant.api_key) {
    return t.inject({ method: 'GET', url: `/api/v1/invoices/${invoiceId}`, headers: { 'x-api-key': apiKey } });
  }

  function history(invoiceId: string, apiKey = merchant.api_key) {
    return t.inject({ method: 'GET', url: `/api/v1/invoices/${invoiceId}/history`, headers: { 'x-api-key': apiKey } });
  }

  const balance = (account: string) => balanceOf(t, account);

  async function transfersOf(ref: string) {
    return (await transferRows(t, ref)).map((r) => [r.kind, r.amount]);
  }

  async function eventsOf(invoiceId: string) {
    const rows = await t.database.db.selectFrom('deliveries').select(['event_id', 'seq']).where('invoice_id', '=', invoiceId).orderBy('seq').execute();
    const events = await t.database.db.selectFrom('events').select(['id', 'type']).where('invoice_id', '=', invoiceId).execute();
    return rows.map((d) => events.find((e) => e.id === d.event_id)?.type);
  }

  async function done(...traders: TestTrader[]) {
    // Every test leaves no trader of its own active: the next test's deals open on its traders only.
    for (const tr of traders) await t.admin('PATCH', `/admin/v1/traders/${tr.trader_id}`, { status: 'disabled' });
    assert.ok((await ledgerClean(t)).ok);
  }

  /** Each transition of the invoice once: the history's from/to chain is unbroken and ends at the invoice's status. */
  async function assertHistory(invoiceId: string, expected: [string | null, string, string | null][]) {
    const res = await history(invoiceId);
    assert.equal(res.statusCode, 200, res.body);
    const items = res.json().items as { from_status: string | null; status: string; status_detail: string | null }[];
    assert.deepEqual(
      items.map((i) => [i.from_status, i.status, i.status_detail]),
      expected,
    );
    const rows = await t.database.db.selectFrom('invoice_transitions').select(['from_status', 'to_status']).where('invoice_id', '=', invoiceId).execute();
    assert.equal(rows.length, expected.length - 1);
  }

  test('underpaid 1450.00 of the seed 1500.00: recalculated at 41.50, the rest of the lock back to available', async () => {
    const tr = await addTrader(t, { deposit: '1000.00', reward_percent: '1.00' });
    const inv = await invoice();
    const deal = await openDeal(inv.invoice_id);
    assert.ok(deal);
    assert.equal(deal.trader_cost, 35_783_133n);
    const res = await confirm(tr, deal.id, '1450.00');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().status, 'completed');
    assert.equal(res.json().gross_usdt, '34.939759');
    assert.equal(res.json().trader_cost, '34.590362');
    const paid = (await getInvoice(inv.invoice_id)).json();
    assert.equal(paid.status, 'success');
    assert.equal(paid.paid_amount, '1450.00');
    assert.equal(paid.status_detail, 'recalculated');
    assert.equal(paid.merchant_usdt, '34.24');
    assert.equal(paid.amount, '1500.00');
    assert.deepEqual(await transfersOf(deal.id), [
      ['deal_lock', 35_783_133n],
      ['deal_credit', 34_240_000n],
      ['deal_revenue', 350_362n],
      ['deal_release', 1_192_771n],
    ]);
    assert.equal(await balance(`merchant:${merchant.merchant_id}`), 34_240_000n);
    assert.equal(await balance(`trader:${tr.trader_id}:available`), 1_000_000_000n - 34_590_362n);
    assert.equal(await balance(`trader:${tr.trader_id}:locked`), 0n);
    await assertHistory(inv.invoice_id, [
      [null, 'pending', null],
      ['pending', 'success', 'recalculated'],
    ]);
    await done(tr);
  });

  test('overpaid 1550.00: the difference locked from available in the same transaction', async () => {
    const tr = await addTrader(t, { deposit: '1000.00', reward_percent: '1.00' });
    const inv = await invoice();
    const deal = await openDeal(inv.invoice_id);
    assert.ok(deal);
    const merchantBefore = await balance(`merchant:${merchant.merchant_id}`);
    const revenueBefore = await balance('platform:revenue');
    const res = await confirm(tr, deal.id, '1550.00');
    assert.equal(res.statusCode, 200, res.body);
    const paid = (await getInvoice(inv.invoice_id)).json();
    assert.deepEqual([paid.status, paid.paid_amount, paid.status_detail, paid.merchant_usdt], ['success', '1550.00', 'recalculated', '36.60']);
    assert.deepEqual(await transfersOf(deal.id), [
      ['deal_lock', 35_783_133n],
      ['deal_lock', 1_192_771n],
      ['deal_credit', 36_600_000n],
      ['deal_revenue', 375_904n],
    ]);
    assert.equal((await balance(`merchant:${merchant.merchant_id}`)) - merchantBefore, 36_600_000n);
    assert.equal((await balance('platform:revenue')) - revenueBefore, 375_904n);
    assert.equal(await balance(`trader:${tr.trader_id}:available`), 1_000_000_000n - 36_975_904n);
    await done(tr);
  });

  test('within amount_tolerance counts as exact; above overpayment_max_percent → 400; overpay without balance → 409, nothing changed', async () => {
    const tr = await addTrader(t, { deposit: '1000.00', reward_percent: '1.00' });
    await settings({ amount_tolerance: '5.00' });
    const inv = await invoice();
    const deal = await openDeal(inv.invoice_id);
    assert.ok(deal);
    const res = await confirm(tr, deal.id, '1495.00');
    assert.equal(res.statusCode, 200, res.body);
    const paid = (await getInvoice(inv.invoice_id)).json();
    assert.deepEqual([paid.paid_amount, paid.status_detail, paid.merchant_usdt], ['1495.00', null, '35.42']);
    assert.deepEqual(await transfersOf(deal.id), [
      ['deal_lock', 35_783_133n],
      ['deal_credit', 35_420_000n],
      ['deal_revenue', 363_133n],
    ]);
    await settings({ amount_tolerance: '0.00' });
    await done(tr);

    // 10 % of 1500.00 is 150.00: 1650.01 is too much.
    const poor = await addTrader(t, { deposit: '35.79', reward_percent: '1.00' });
    const inv2 = await invoice();
    const deal2 = await openDeal(inv2.invoice_id);
    assert.ok(deal2);
    assert.equal(deal2.trader_id, poor.trader_id);
    const tooMuch = await confirm(poor, deal2.id, '1650.01');
    assert.equal(tooMuch.statusCode, 400, tooMuch.body);
    assert.equal(tooMuch.json().error.code, 'OVERPAYMENT_TOO_LARGE');
    assert.equal(tooMuch.json().error.details.max_amount, '1650.00');
    // 1550.00 needs 1.192771 more than the lock; available is 0.006867.
    const available = await balance(`trader:${poor.trader_id}:available`);
    assert.equal(available, 6_867n);
    const broke = await confirm(poor, deal2.id, '1550.00');
    assert.equal(broke.statusCode, 409, broke.body);
    assert.equal(broke.json().error.code, 'INSUFFICIENT_TRADER_BALANCE');
    assert.equal(await balance(`trader:${poor.trader_id}:available`), available);
    assert.equal(await balance(`trader:${poor.trader_id}:locked`), 35_783_133n);
    assert.deepEqual(await transfersOf(deal2.id), [['deal_lock', 35_783_133n]]);
    const still = (await getInvoice(inv2.invoice_id)).json();
    assert.deepEqual([still.status, still.paid_amount, still.status_detail, still.merchant_usdt], ['pending', null, null, '35.42']);
    const bad = await confirm(poor, deal2.id, '-5');
    assert.equal(bad.statusCode, 422, bad.body);
    // The operator confirms the exact amount instead.
    const byOperator = await t.admin('POST', `/admin/v1/deals/${deal2.id}/confirm`, { received_amount: '1500.00' });
    assert.equal(byOperator.statusCode, 200, byOperator.body);
    assert.equal(byOperator.json().confirmed_by, 'admin');
    await done(poor);
  });

  test('late confirmation of a customer_paid deal: within late_confirm_minutes → paid_late; past it the sweep releases the lock', async () => {
    const tr = await addTrader(t, { deposit: '1000.00', reward_percent: '1.00', requisites: [{ max_open_deals: 5 }] });
    const inv = await invoice();
    const deal = await openDeal(inv.invoice_id);
    assert.ok(deal);
    await pressPaid(inv.invoice_id);
    t.clock.advance(21 * MINUTE);
    await t.kasa.deals.expireDue();
    const expired = (await getInvoice(inv.invoice_id)).json();
    assert.deepEqual([expired.status, expired.status_detail], ['expired', 'customer_timeout']);
    const held = await t.database.db.selectFrom('deals').select('status').where('id', '=', deal.id).executeTakeFirstOrThrow();
    assert.equal(held.status, 'customer_paid');
    assert.equal(await balance(`trader:${tr.trader_id}:locked`), 35_783_133n);
    // (A reject in the late window opens a dispute instead: test/disputes.test.ts.)
    const page = await t.inject({ method: 'GET', url: `/pay/${inv.invoice_id}` });
    assert.ok(!page.body.includes('/paid"'), 'an expired invoice offers no "I have paid" form');

    t.clock.advance(60 * MINUTE);
    const late = await confirm(tr, deal.id);
    assert.equal(late.statusCode, 200, late.body);
    const paid = (await getInvoice(inv.invoice_id)).json();
    assert.deepEqual([paid.status, paid.status_detail, paid.paid_amount, paid.merchant_usdt], ['success', 'paid_late', '1500.00', '35.42']);
    assert.deepEqual(await transfersOf(deal.id), [
      ['deal_lock', 35_783_133n],
      ['deal_credit', 35_420_000n],
      ['deal_revenue', 363_133n],
    ]);
    assert.deepEqual(await eventsOf(inv.invoice_id), ['invoice.processing', 'invoice.expired', 'invoice.success']);
    await assertHistory(inv.invoice_id, [
      [null, 'pending', null],
      ['pending', 'expired', 'customer_timeout'],
      ['expired', 'success', 'paid_late'],
    ]);

    // Past the window: the sweep ends the deal and releases its lock; the trader can no longer confirm.
    const inv2 = await invoice({ amount: '1000.00' });
    const deal2 = await openDeal(inv2.invoice_id);
    assert.ok(deal2);
    await pressPaid(inv2.invoice_id);
    t.clock.advance(21 * MINUTE);
    await t.kasa.deals.expireDue();
    t.clock.advance(118 * MINUTE); // 119 minutes after expiry
    await t.kasa.deals.expireDue();
    assert.equal((await t.database.db.selectFrom('deals').select('status').where('id', '=', deal2.id).executeTakeFirstOrThrow()).status, 'customer_paid');
    t.clock.advance(1 * MINUTE); // 120: the window has ended
    await t.kasa.deals.expireDue();
    assert.equal((await t.database.db.selectFrom('deals').select('status').where('id', '=', deal2.id).executeTakeFirstOrThrow()).status, 'expired');
    assert.equal(await balance(`trader:${tr.trader_id}:locked`), 0n);
    const tooLate = await confirm(tr, deal2.id);
    assert.equal(tooLate.statusCode, 409, tooLate.body);
    assert.equal(tooLate.json().error.code, 'DEAL_NOT_ACTIVE');
    assert.equal(tooLate.json().error.details.status, 'expired');
    assert.deepEqual(await transfersOf(deal2.id), [
      ['deal_lock', deal2.trader_cost],
      ['deal_release', deal2.trader_cost],
    ]);
    await done(tr);
  });

  test('late confirmation before the sweep ran: expired, then success, in the history and the webhooks', async () => {
    const tr = await addTrader(t, { deposit: '1000.00', reward_percent: '1.00' });
    const inv = await invoice();
    const deal = await openDeal(inv.invoice_id);
    assert.ok(deal);
    await pressPaid(inv.invoice_id);
    t.clock.advance(25 * MINUTE);
    const late = await confirm(tr, deal.id, '1450.00');
    assert.equal(late.statusCode, 200, late.body);
    const paid = (await getInvoice(inv.invoice_id)).json();
    assert.deepEqual([paid.status, paid.status_detail, paid.paid_amount, paid.merchant_usdt], ['success', 'paid_late', '1450.00', '34.24']);
    assert.deepEqual(await eventsOf(inv.invoice_id), ['invoice.processing', 'invoice.expired', 'invoice.success']);
    await assertHistory(inv.invoice_id, [
      [null, 'pending', null],
      ['pending', 'expired', 'customer_timeout'],
      ['expired', 'success', 'paid_late'],
    ]);
    await done(tr);
  });

  test('an unpaid expired deal: refused with late_unpaid_confirm_minutes 0; with 30, the lock is taken again (or refused without balance)', async () => {
    const tr = await addTrader(t, { deposit: '36.00', reward_percent: '1.00', requisites: [{ max_open_deals: 5 }] });
    const inv = await invoice();
    const deal = await openDeal(inv.invoice_id);
    assert.ok(deal);
    t.clock.advance(21 * MINUTE);
    await t.kasa.deals.expireDue();
    assert.equal(await balance(`trader:${tr.trader_id}:locked`), 0n);
    const off = await confirm(tr, deal.id);
    assert.equal(off.statusCode, 409, off.body);
    assert.equal(off.json().error.code, 'DEAL_NOT_ACTIVE');

    await settings({ late_unpaid_confirm_minutes: 30 });
    const on = await confirm(tr, deal.id);
    assert.equal(on.statusCode, 200, on.body);
    const paid = (await getInvoice(inv.invoice_id)).json();
    assert.deepEqual([paid.status, paid.status_detail], ['success', 'paid_late']);
    assert.deepEqual(await transfersOf(deal.id), [
      ['deal_lock', 35_783_133n],
      ['deal_release', 35_783_133n],
      ['deal_lock', 35_783_133n],
      ['deal_credit', 35_420_000n],
      ['deal_revenue', 363_133n],
    ]);
    assert.equal(await balance(`trader:${tr.trader_id}:available`), 36_000_000n - 35_783_133n);

    // Another one the trader's balance no longer covers: refused, nothing changed.
    await t.admin('POST', `/admin/v1/traders/${tr.trader_id}/deposits`, { amount_usdt: '35.00', reference: `more-${tr.trader_id}` });
    const inv2 = await invoice({ amount: '1400.00' });
    const deal2 = await openDeal(inv2.invoice_id);
    assert.ok(deal2);
    t.clock.advance(21 * MINUTE);
    await t.kasa.deals.expireDue();
    // Most of the available balance goes into insurance: the lock can no longer be taken again.
    const insured = await t.admin('POST', `/admin/v1/traders/${tr.trader_id}/insurance`, { amount_usdt: '30.00' });
    assert.equal(insured.statusCode, 200, insured.body);
    const covered = await balance(`trader:${tr.trader_id}:available`);
    assert.equal(covered, 5_216_867n);
    const refused = await confirm(tr, deal2.id);
    assert.equal(refused.statusCode, 409, refused.body);
    assert.equal(refused.json().error.code, 'INSUFFICIENT_TRADER_BALANCE');
    assert.equal((await getInvoice(inv2.invoice_id)).json().status, 'expired');
    assert.equal(await balance(`trader:${tr.trader_id}:available`), covered);
    assert.deepEqual(await transfersOf(deal2.id), [
      ['deal_lock', 33_397_590n],
      ['deal_release', 33_397_590n],
    ]);
    // Past the window: refused whatever the balance.
    t.clock.advance(31 * MINUTE);
    const past = await confirm(tr, deal2.id);
    assert.equal(past.statusCode, 409, past.body);
    assert.equal(past.json().error.code, 'DEAL_NOT_ACTIVE');
    await settings({ late_unpaid_confirm_minutes: 0 });
    await done(tr);
  });

  test('reject in awaiting_payment: lock back, the invoice gets a deal on another requisite, never the rejected one again', async () => {
    const a = await addTrader(t, { deposit: '100.00' });
    const b = await addTrader(t, { deposit: '100.00' });
    const owners = new Map([
      [a.requisites[0], a],
      [b.requisites[0], b],
    ]);
    const inv = await invoice({ amount: '415.00' });
    const first = await openDeal(inv.invoice_id);
    assert.ok(first);
    const firstTrader = owners.get(first.requisite_id)!;
    const secondTrader = firstTrader === a ? b : a;
    // Another trader's deal is not found; a bad reason is a 422; no Idempotency-Key is fine.
    const foreign = await reject(secondTrader, first.id);
    assert.equal(foreign.statusCode, 404, foreign.body);
    assert.equal(foreign.json().error.code, 'DEAL_NOT_FOUND');
    const badReason = await reject(firstTrader, first.id, { reason: 'bored' });
    assert.equal(badReason.statusCode, 422, badReason.body);

    const key = randomUUID();
    const res = await reject(firstTrader, first.id, { reason: 'card_blocked', comment: 'bank froze the card' }, key);
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual([res.json().status, res.json().reject_reason, res.json().reject_comment], ['rejected', 'card_blocked', 'bank froze the card']);
    assert.ok(res.json().rejected_at);
    const replay = await reject(firstTrader, first.id, { reason: 'card_blocked', comment: 'bank froze the card' }, key);
    assert.equal(replay.statusCode, 200);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.deepEqual(await transfersOf(first.id), [
      ['deal_lock', 10_000_000n - 100_000n],
      ['deal_release', 10_000_000n - 100_000n],
    ]);
    assert.equal(await balance(`trader:${firstTrader.trader_id}:locked`), 0n);
    assert.equal((await getInvoice(inv.invoice_id)).json().status, 'pending');

    const second = await openDeal(inv.invoice_id);
    assert.ok(second, 'the next page view opens a deal on another requisite');
    assert.equal(second.requisite_id, secondTrader.requisites[0]);
    const again = await reject(secondTrader, second.id, { reason: 'no_payment' });
    assert.equal(again.statusCode, 200, again.body);
    assert.equal(await openDeal(inv.invoice_id), null, 'both requisites are excluded for this invoice');
    const page = await t.kasa.deals.pageState(inv.invoice_id);
    assert.equal(page.kind, 'no_trader');
    // Another invoice may still use them.
    const inv2 = await invoice({ amount: '83.00' });
    const other2 = await openDeal(inv2.invoice_id);
    assert.ok(other2);

    // In customer_paid the claim stands: the reject opens a dispute for an operator (section 4),
    // the deal keeps its lock as the dispute's hold.
    await pressPaid(inv2.invoice_id);
    const paidReject = await reject(owners.get(other2.requisite_id)!, other2.id, { reason: 'no_payment', comment: 'nothing on the card' });
    assert.equal(paidReject.statusCode, 200, paidReject.body);
    assert.equal(paidReject.json().status, 'disputed');
    const [dispute] = (await t.admin('GET', '/admin/v1/disputes?status=awaiting_operator')).json().items as {
      dispute_id: string;
      deal_id: string;
      statement: string;
      covered: boolean;
    }[];
    assert.deepEqual([dispute?.deal_id, dispute?.statement, dispute?.covered], [other2.id, 'no_payment: nothing on the card', true]);
    assert.equal((await confirm(owners.get(other2.requisite_id)!, other2.id)).json().error.details.status, 'disputed');
    // Decided for the merchant: completed. Then completed, rejected, expired: DEAL_NOT_ACTIVE with the status.
    assert.equal((await t.admin('POST', `/admin/v1/disputes/${dispute!.dispute_id}/resolve`, { outcome: 'merchant' })).statusCode, 200);
    const completed = await reject(owners.get(other2.requisite_id)!, other2.id);
    assert.equal(completed.statusCode, 409);
    assert.deepEqual([completed.json().error.code, completed.json().error.details.status], ['DEAL_NOT_ACTIVE', 'completed']);
    const twice = await reject(firstTrader, first.id);
    assert.deepEqual([twice.statusCode, twice.json().error.code, twice.json().error.details.status], [409, 'DEAL_NOT_ACTIVE', 'rejected']);
    const inv3 = await invoice({ amount: '41.50' });
    const deal3 = await openDeal(inv3.invoice_id);
    assert.ok(deal3);
    t.clock.advance(21 * MINUTE);
    const expiredReject = await reject(owners.get(deal3.requisite_id)!, deal3.id);
    assert.deepEqual(
      [expiredReject.statusCode, expiredReject.json().error.code, expiredReject.json().error.details.status],
      [409, 'DEAL_NOT_ACTIVE', 'expired'],
    );
    await t.kasa.deals.expireDue();
    await done(a, b);
  });

  test('a trader with more than trader_unconfirmed_max deals in customer_paid for 30 minutes gets no new deals until handled', async () => {
    await settings({ trader_unconfirmed_max: 1, invoice_ttl_minutes: 120 });
    const tr = await addTrader(t, { deposit: '1000.00', requisites: [{ max_open_deals: 10 }] });
    const paid = [];
    for (const amount of ['100.00', '200.00']) {
      const inv = await invoice({ amount });
      const deal = await openDeal(inv.invoice_id);
      assert.ok(deal);
      await pressPaid(inv.invoice_id);
      paid.push(deal);
    }
    const fresh = await invoice({ amount: '300.00' });
    assert.ok(await openDeal(fresh.invoice_id), 'two paid deals younger than 30 minutes do not count');
    t.clock.advance(31 * MINUTE);
    const blocked = await invoice({ amount: '400.00' });
    assert.equal(await openDeal(blocked.invoice_id), null, 'two deals unconfirmed for over 30 minutes, more than 1');
    assert.equal((await confirm(tr, paid[0]!.id)).statusCode, 200);
    assert.ok(await openDeal(blocked.invoice_id), 'one left: not more than the max');
    await settings({ trader_unconfirmed_max: 10, invoice_ttl_minutes: 20 });
    t.clock.advance(24 * 60 * MINUTE);
    await t.kasa.deals.expireDue();
    await done(tr);
  });

  test('customer_unpaid_max: deals that ended unpaid after "I have paid" in 24 h → 429 unpaid with Retry-After, under 50 parallel creates', async () => {
    await settings({ customer_unpaid_max: 2, late_confirm_minutes: 0 });
    const tr = await addTrader(t, { deposit: '1000.00', requisites: [{ max_open_deals: 10 }] });
    const customer = `abuser-${randomUUID()}`;
    const endedAt: number[] = [];
    for (const amount of ['101.00', '102.00']) {
      const inv = await invoice({ amount, customer_id: customer });
      assert.ok(await openDeal(inv.invoice_id));
      await pressPaid(inv.invoice_id);
      t.clock.advance(21 * MINUTE);
      await t.kasa.deals.expireDue();
      endedAt.push(t.clock.now().getTime());
    }
    // Another customer of the merchant, and the same customer id at another merchant, are not limited.
    assert.equal((await t.createInvoice(merchant.api_key, { external_id: `ok-${randomUUID()}`, customer_id: `${customer}-2` })).statusCode, 200);
    assert.equal((await t.createInvoice(other.api_key, { external_id: `ok-${randomUUID()}`, customer_id: customer })).statusCode, 200);

    const burst = await Promise.all(
      Array.from({ length: 50 }, (_, i) => t.createInvoice(merchant.api_key, { external_id: `burst-${customer}-${i}`, customer_id: customer })),
    );
    for (const res of burst) {
      assert.equal(res.statusCode, 429, res.body);
      assert.equal(res.json().error.code, 'CUSTOMER_RATE_LIMITED');
      assert.equal(res.json().error.details.reason, 'unpaid');
    }
    const retry = Number(burst[0]!.headers['retry-after']);
    assert.equal(retry, Math.ceil((endedAt[0]! + 24 * 60 * MINUTE - t.clock.now().getTime()) / 1000));
    assert.equal(burst[0]!.json().error.details.retry_after_seconds, retry);
    // Alone among other customers' requests sent at once (checked with them in one query), the same refusal.
    const mixed = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        t.createInvoice(merchant.api_key, { external_id: `mixed-${customer}-${i}`, customer_id: i === 25 ? customer : `${customer}-other-${i}` }),
      ),
    );
    mixed.forEach((res, i) => {
      assert.equal(res.statusCode, i === 25 ? 429 : 200, res.body);
      if (i === 25) {
        assert.equal(res.json().error.details.reason, 'unpaid');
        assert.equal(res.headers['retry-after'], String(retry));
      }
    });

    // The oldest leaves the window: under the limit again, every parallel create succeeds.
    t.clock.advance(retry * 1000);
    const after = await Promise.all(
      Array.from({ length: 50 }, (_, i) => t.createInvoice(merchant.api_key, { external_id: `after-${customer}-${i}`, customer_id: customer })),
    );
    assert.deepEqual(
      after.map((r) => r.statusCode),
      Array.from({ length: 50 }, () => 200),
    );
    await settings({ customer_unpaid_max: 3, late_confirm_minutes: 120 });
    t.clock.advance(24 * 60 * MINUTE);
    await t.kasa.deals.expireDue();
    await done(tr);
  });

  test('deliveries of one invoice go out in event order: success waits for the expired before it', async () => {
    const tr = await addTrader(t, { deposit: '1000.00' });
    const inv = await invoice();
    const deal = await openDeal(inv.invoice_id);
    assert.ok(deal);
    await pressPaid(inv.invoice_id);
    t.clock.advance(21 * MINUTE);
    await t.kasa.deals.expireDue();
    assert.equal((await confirm(tr, deal.id)).statusCode, 200);
    const deliveries = await t.database.db
      .selectFrom('deliveries')
      .innerJoin('events', 'events.id', 'deliveries.event_id')
      .select(['deliveries.event_id', 'events.type'])
      .where('deliveries.invoice_id', '=', inv.invoice_id)
      .orderBy('deliveries.seq')
      .execute();
    assert.deepEqual(
      deliveries.map((d) => d.type),
      ['invoice.processing', 'invoice.expired', 'invoice.success'],
    );
    // Everything else is out of the way; then each claim may take only the first pending one.
    await t.database.db
      .updateTable('deliveries')
      .set({ status: 'delivered' })
      .where('invoice_id', '<>', inv.invoice_id)
      .where('status', '=', 'pending')
      .execute();
    const claim = async () => {
      const now = new Date(t.clock.now().getTime() + 3600_000);
      const { rows } = await sql<{ event_id: string }>`
        SELECT event_id FROM kasa_claim_deliveries(${now}::timestamptz, ${randomUUID()}::uuid, ${new Date(now.getTime() + 60_000)}::timestamptz,
                                                   ${[]}::text[], ${[]}::integer[], ${[]}::text[], 10, 10, 100)`.execute(t.database.db);
      return rows.map((r) => deliveries.find((d) => d.event_id === r.event_id)?.type);
    };
    assert.deepEqual(await claim(), ['invoice.processing']);
    assert.deepEqual(await claim(), [], 'leased and still pending: the next waits');
    await t.database.db.updateTable('deliveries').set({ status: 'delivered' }).where('event_id', '=', deliveries[0]!.event_id).execute();
    assert.deepEqual(await claim(), ['invoice.expired']);
    // A delivery that failed for good no longer holds the next back.
    await t.database.db.updateTable('deliveries').set({ status: 'failed' }).where('event_id', '=', deliveries[1]!.event_id).execute();
    assert.deepEqual(await claim(), ['invoice.success']);
    await t.database.db.updateTable('deliveries').set({ status: 'delivered' }).where('event_id', '=', deliveries[2]!.event_id).execute();
    await done(tr);
  });

  test("invoice.processing once per invoice, with the invoice as it is; history and reject are the owner's only", async () => {
    const a = await addTrader(t, { deposit: '100.00' });
    const b = await addTrader(t, { deposit: '100.00' });
    const inv = await invoice({ amount: '207.50' });
    const first = await openDeal(inv.invoice_id);
    assert.ok(first);
    await pressPaid(inv.invoice_id);
    await t.kasa.deals.markPaid(inv.invoice_id); // a second press: nothing moves, nothing is told again
    const events = await t.database.db.selectFrom('events').select(['type', 'payload']).where('invoice_id', '=', inv.invoice_id).execute();
    assert.deepEqual(
      events.map((e) => e.type),
      ['invoice.processing'],
    );
    assert.equal((events[0]!.payload as { status: string }).status, 'pending');

    // BOLA: another merchant's invoice history is not found; the operator sees any.
    const foreign = await history(inv.invoice_id, other.api_key);
    assert.equal(foreign.statusCode, 404);
    assert.equal(foreign.json().error.code, 'INVOICE_NOT_FOUND');
    assert.equal((await history('not-a-uuid')).statusCode, 404);
    assert.equal((await t.inject({ method: 'GET', url: `/api/v1/invoices/${inv.invoice_id}/history` })).statusCode, 401);
    const operator = await t.admin('GET', `/admin/v1/invoices/${inv.invoice_id}/history`);
    assert.equal(operator.statusCode, 200, operator.body);
    assert.equal(operator.json().items.length, 1);
    assert.equal((await t.inject({ method: 'GET', url: `/admin/v1/invoices/${inv.invoice_id}/history` })).statusCode, 401);
    const foreignConfirm = await confirm(first.trader_id === a.trader_id ? b : a, first.id, '207.50');
    assert.equal(foreignConfirm.statusCode, 404);
    assert.equal((await t.admin('POST', `/admin/v1/deals/${randomUUID()}/confirm`, { received_amount: '1.00' })).statusCode, 404);

    const byOperator = await t.admin('POST', `/admin/v1/deals/${first.id}/confirm`, { received_amount: '200.00' });
    assert.equal(byOperator.statusCode, 200, byOperator.body);
    const full = (await t.admin('GET', `/admin/v1/invoices/${inv.invoice_id}/history`)).json();
    assert.deepEqual(
      full.items.map((i: { from_status: string | null; status: string; status_detail: string | null; actor: string }) => [
        i.from_status,
        i.status,
        i.status_detail,
        i.actor,
      ]),
      [
        [null, 'pending', null, 'merchant'],
        ['pending', 'success', 'recalculated', 'operator'],
      ],
    );
    await done(a, b);
  });

  test('racing confirms at another amount and rejects of one deal: exactly one outcome and its transfers', async () => {
    const tr = await addTrader(t, { deposit: '1000.00', reward_percent: '1.00' });
    const inv = await invoice();
    const deal = await openDeal(inv.invoice_id);
    assert.ok(deal);
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        i % 2 === 0
          ? confirm(tr, deal.id, '1450.00').then((r) => ['confirm', r.statusCode] as const)
          : reject(tr, deal.id, { reason: 'no_payment' }).then((r) => ['reject', r.statusCode] as const),
      ),
    );
    const winners = results.filter(([, status]) => status === 200);
    assert.equal(winners.length, 1, JSON.stringify(winners));
    for (const [, status] of results) assert.ok(status === 200 || status === 409, `status ${status}`);
    const kind = winners[0]![0];
    assert.deepEqual(
      await transfersOf(deal.id),
      kind === 'confirm'
        ? [
            ['deal_lock', 35_783_133n],
            ['deal_credit', 34_240_000n],
            ['deal_revenue', 350_362n],
            ['deal_release', 1_192_771n],
          ]
        : [
            ['deal_lock', 35_783_133n],
            ['deal_release', 35_783_133n],
          ],
    );
    assert.equal((await getInvoice(inv.invoice_id)).json().status, kind === 'confirm' ? 'success' : 'pending');
    await done(tr);
  });

  test('racing late confirms and the sweep that ends the late window: exactly one outcome', async () => {
    const tr = await addTrader(t, { deposit: '1000.00', reward_percent: '1.00' });
    const inv = await invoice();
    const deal = await openDeal(inv.invoice_id);
    assert.ok(deal);
    await pressPaid(inv.invoice_id);
    t.clock.advance(21 * MINUTE);
    await t.kasa.deals.expireDue();
    t.clock.advance(98 * MINUTE); // 119 minutes after expiry: still confirmable by this clock
    // Another instance whose clock is past the window sweeps at the same time.
    const later = new ManualClock();
    later.set(new Date(t.clock.now().getTime() + 2 * MINUTE).toISOString());
    const worker = createKasa({ config: t.kasa.config, db: t.database.db, engine: t.database.engine, clock: later, adminToken: ADMIN_TOKEN });
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        i % 2 === 0
          ? confirm(tr, deal.id).then((r) => ['confirm', r.statusCode] as const)
          : worker.deals.releaseLateBatch(10).then((n) => ['sweep', n > 0 ? 200 : 0] as const),
      ),
    );
    const winners = results.filter(([, status]) => status === 200);
    assert.equal(winners.length, 1, JSON.stringify(winners));
    const kind = winners[0]![0];
    const stored = await t.database.db.selectFrom('deals').select('status').where('id', '=', deal.id).executeTakeFirstOrThrow();
    assert.equal(stored.status, kind === 'confirm' ? 'completed' : 'expired');
    assert.deepEqual(
      (await transfersOf(deal.id)).map(([k]) => k),
      kind === 'confirm' ? ['deal_lock', 'deal_credit', 'deal_revenue'] : ['deal_lock', 'deal_release'],
    );
    assert.equal(await balance(`trader:${tr.trader_id}:locked`), 0n);
    await done(tr);
  });

  test('the CLI: kasa deal confirm --received and kasa invoice history', async () => {
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const address = t.app.server.address();
    assert.ok(address && typeof address === 'object');
    const env = { KASA_URL: `http://127.0.0.1:${address.port}`, ADMIN_TOKEN };
    const tr = await addTrader(t, { deposit: '1000.00', reward_percent: '1.00' });
    const inv = await invoice();
    const deal = await openDeal(inv.invoice_id);
    assert.ok(deal);
    const confirmed = await kasaCommand(['deal', 'confirm', deal.id, '--received', '1450.00', '--json'], env);
    assert.equal(confirmed.code, 0, confirmed.stderr);
    assert.equal(JSON.parse(confirmed.stdout).trader_cost, '34.590362');
    assert.equal((await getInvoice(inv.invoice_id)).json().merchant_usdt, '34.24');
    const listed = await kasaCommand(['invoice', 'history', inv.invoice_id], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /pending\s+success\s+recalculated\s+operator/);
    const missing = await kasaCommand(['invoice', 'history', randomUUID()], env);
    assert.notEqual(missing.code, 0);
    await done(tr);
  });
});
