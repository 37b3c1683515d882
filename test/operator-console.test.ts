// What the operator console is built on, through the admin API: today's numbers for its home
// page, counted from real invoices, deals, deliveries and the ledger.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { formatUsdt } from '../src/money.ts';
import { percentOf } from '../src/reports/day.ts';
import { assertEnvelope, assertValidation } from './helpers/http.ts';
import { startKasa, type TestKasa } from './helpers/kasa.ts';
import { addTrader, trader, type TestTrader } from './helpers/traders.ts';

describe("operator console: today's numbers", () => {
  let t: TestKasa;
  let shop: { merchant_id: string; api_key: string };
  let tr: TestTrader;
  let seq = 0;

  async function invoice(amount = '1500.00'): Promise<string> {
    const res = await t.createInvoice(shop.api_key, { external_id: `oc-${++seq}`, customer_id: `oc-customer-${seq}`, amount });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().invoice_id;
  }

  async function openDeal(invoiceId: string): Promise<string> {
    const state = await t.kasa.deals.openForPage(invoiceId);
    assert.equal(state.kind, 'deal');
    return state.kind === 'deal' ? state.deal.id : '';
  }

  async function pay(invoiceId: string, body?: Record<string, unknown>): Promise<void> {
    const res = await trader(t, tr.api_key, 'POST', `/api/v1/trader/deals/${await openDeal(invoiceId)}/confirm`, body);
    assert.equal(res.statusCode, 200, res.body);
  }

  const overview = async () => {
    const res = await t.admin('GET', '/admin/v1/overview');
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };

  before(async () => {
    t = await startKasa();
    shop = await t.createMerchant({ name: 'Numbers shop' });
    tr = await addTrader(t, { deposit: '100000.00', requisites: [{ max_open_deals: 20 }, { active: false }] });
    await addTrader(t, { name: 'Idle trader' }); // an active requisite, no deposit: still able to be chosen by its card
    const off = await addTrader(t, { name: 'Disabled trader' });
    assert.equal((await t.admin('PATCH', `/admin/v1/traders/${off.trader_id}`, { status: 'disabled' })).statusCode, 200);
  });
  after(() => t.close());

  test('an empty day: zeros, no success rate, a clean ledger', async () => {
    t.clock.set('2026-02-20T08:00:00Z');
    const numbers = await overview();
    assert.deepEqual(numbers.invoices, { created: 0, pending: 0, success: 0, expired: 0, cancelled: 0, success_rate_percent: null });
    assert.deepEqual(numbers.volume, { currencies: [], gross_usdt: '0.00', merchant_usdt: '0.00' });
    assert.equal(numbers.day, '2026-02-20');
    assert.equal(numbers.from, '2026-02-20T00:00:00Z');
    assert.equal(numbers.to, '2026-02-21T00:00:00Z');
    assert.equal(numbers.traders_with_active_requisite, 2, 'the disabled trader does not count');
    assert.equal(numbers.ledger.ok, true);
    assert.equal(numbers.ledger.mismatched, 0);
  });

  test("the day's invoices by status, the success rate among those ended, the volume received, the state now", async () => {
    // Yesterday's paid invoice counts in no number of today's.
    t.clock.set('2026-02-24T23:50:00Z');
    await pay(await invoice('999.00'));

    t.clock.set('2026-02-25T09:00:00Z');
    const paid = await invoice('1500.00');
    await pay(paid);
    // Paid another amount than asked: the volume is the fiat received.
    const recalculated = await invoice('830.00');
    await pay(recalculated, { received_amount: '415.00' });
    const cancelled = await invoice('100.00');
    assert.equal((await t.inject({ method: 'POST', url: `/api/v1/invoices/${cancelled}/cancel`, headers: { 'x-api-key': shop.api_key } })).statusCode, 200);
    await invoice('200.00'); // lapses unpaid
    t.clock.set('2026-02-25T09:30:00Z');
    const open = await invoice('300.00');
    await openDeal(open);
    const claimed = await invoice('400.00');
    await openDeal(claimed);
    const page = await t.inject({ method: 'GET', url: `/pay/${claimed}` });
    assert.equal(page.statusCode, 200);
    await t.kasa.deals.markPaid(claimed);

    const numbers = await overview();
    assert.equal(numbers.day, '2026-02-25');
    // The unpaid 200.00 is past expires_at (09:20) without the worker having swept it: reported expired.
    assert.deepEqual(numbers.invoices, { created: 6, pending: 2, success: 2, expired: 1, cancelled: 1, success_rate_percent: '50.00' });
    const received = await t.database.db.selectFrom('invoices').select(['gross_usdt', 'merchant_usdt']).where('id', 'in', [paid, recalculated]).execute();
    const sum = (k: 'gross_usdt' | 'merchant_usdt') => received.reduce((s, r) => s + BigInt(r[k]), 0n);
    assert.deepEqual(numbers.volume.currencies, [{ currency: 'UAH', invoices: 2, amount: '1915.00' }]);
    assert.equal(numbers.volume.gross_usdt, formatUsdt(sum('gross_usdt'), 2));
    assert.equal(numbers.volume.merchant_usdt, formatUsdt(sum('merchant_usdt'), 2));
    assert.ok(sum('merchant_usdt') > 0n && sum('merchant_usdt') < sum('gross_usdt'));
    assert.deepEqual(numbers.deals, { open: 2, customer_paid: 1 });
    // No worker sends them here: yesterday's and today's two invoice.success, the invoice.cancelled
    // and the claimed one's invoice.processing wait, the oldest since yesterday 23:50.
    assert.equal(numbers.webhooks.pending, 5);
    assert.equal(numbers.webhooks.due, 5);
    assert.equal(numbers.webhooks.oldest_pending_age_seconds, (9 * 60 + 40) * 60);
    assert.equal(numbers.ledger.ok, true);
    assert.ok(numbers.ledger.transfers > 0);
  });

  test('without the admin token: 401, and a merchant key is no admin token', async () => {
    assertEnvelope(await t.inject({ method: 'GET', url: '/admin/v1/overview' }), 401, 'UNAUTHORIZED');
    assertEnvelope(await t.inject({ method: 'GET', url: '/admin/v1/overview', headers: { authorization: `Bearer ${shop.api_key}` } }), 401, 'UNAUTHORIZED');
  });

  test('percentOf: two decimals rounded down, null without a whole', () => {
    assert.equal(percentOf(2n, 3n), '66.66');
    assert.equal(percentOf(1n, 1n), '100.00');
    assert.equal(percentOf(0n, 7n), '0.00');
    assert.equal(percentOf(1n, 10_000n), '0.01');
    assert.equal(percentOf(0n, 0n), null);
  });
});

describe('operator console: cancel a deal with a reason', () => {
  let t: TestKasa;
  let shop: { merchant_id: string; api_key: string };
  let tr: TestTrader;
  let seq = 0;

  async function dealFor(): Promise<{ invoiceId: string; dealId: string }> {
    const res = await t.createInvoice(shop.api_key, { external_id: `cancel-${++seq}`, customer_id: `cancel-customer-${seq}`, amount: `${100 + seq}.00` });
    assert.equal(res.statusCode, 200, res.body);
    const invoiceId: string = res.json().invoice_id;
    const state = await t.kasa.deals.openForPage(invoiceId);
    assert.equal(state.kind, 'deal');
    return { invoiceId, dealId: state.kind === 'deal' ? state.deal.id : '' };
  }
  const available = async () => {
    const res = await trader(t, tr.api_key, 'GET', '/api/v1/trader/balance');
    assert.equal(res.statusCode, 200, res.body);
    return res.json().available as string;
  };
  const cancel = (dealId: string, payload: unknown = { reason: 'card reported stolen' }) => t.admin('POST', `/admin/v1/deals/${dealId}/cancel`, payload);

  before(async () => {
    t = await startKasa();
    shop = await t.createMerchant({ name: 'Cancel shop' });
    tr = await addTrader(t, { deposit: '100000.00', requisites: [{ max_open_deals: 50 }] });
  });
  after(() => t.close());

  test('the lock goes back, the invoice is cancelled by the operator, the reason is kept and shown', async () => {
    const before = await available();
    const { invoiceId, dealId } = await dealFor();
    assert.notEqual(await available(), before, 'the deal locked money');
    const res = await cancel(dealId, { reason: 'card reported <b>stolen</b>' });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().status, 'cancelled');
    assert.equal(res.json().cancel_reason, 'card reported <b>stolen</b>');
    assert.match(res.json().card_number, /^\d{4} \*{4} \*{4} \d{4}$/, 'the operator sees the card masked');
    assert.equal(await available(), before);

    const invoice = (await t.inject({ method: 'GET', url: `/api/v1/invoices/${invoiceId}`, headers: { 'x-api-key': shop.api_key } })).json();
    assert.equal(invoice.status, 'cancelled');
    assert.equal(invoice.status_detail, 'operator');
    const history = (await t.inject({ method: 'GET', url: `/api/v1/invoices/${invoiceId}/history`, headers: { 'x-api-key': shop.api_key } })).json();
    assert.deepEqual(
      history.items.map((i: { status: string; actor: string }) => [i.status, i.actor]),
      [
        ['pending', 'merchant'],
        ['cancelled', 'operator'],
      ],
    );
    const events = await t.database.db.selectFrom('events').select('type').where('invoice_id', '=', invoiceId).execute();
    assert.deepEqual(
      events.map((e) => e.type),
      ['invoice.cancelled'],
    );
    const seen = await trader(t, tr.api_key, 'GET', `/api/v1/trader/deals?status=cancelled`);
    assert.equal(seen.json().items[0].cancel_reason, 'card reported <b>stolen</b>');

    assertEnvelope(await cancel(dealId), 409, 'DEAL_NOT_ACTIVE');
  });

  test('refused, changing nothing: a customer who said they paid, an unknown deal, a missing or long reason, no token', async () => {
    const { invoiceId, dealId } = await dealFor();
    await t.kasa.deals.markPaid(invoiceId);
    const before = await available();
    assertEnvelope(await cancel(dealId), 409, 'PAYMENT_IN_PROGRESS');
    assert.equal(await available(), before, 'the refused cancel released nothing');
    assertEnvelope(await cancel('00000000-0000-4000-8000-000000000000'), 404, 'DEAL_NOT_FOUND');
    assertEnvelope(await cancel('not-a-deal'), 404, 'DEAL_NOT_FOUND');
    const open = await dealFor();
    const lockedBefore = await available();
    for (const payload of [{}, { reason: '' }, { reason: 'x'.repeat(501) }, { reason: 42 }]) assertValidation(await cancel(open.dealId, payload));
    assertEnvelope(await t.inject({ method: 'POST', url: `/admin/v1/deals/${open.dealId}/cancel`, payload: { reason: 'no token' } }), 401, 'UNAUTHORIZED');
    assert.equal(await available(), lockedBefore);
    const deal = await t.database.db.selectFrom('deals').select(['status', 'cancel_reason']).where('id', '=', open.dealId).executeTakeFirstOrThrow();
    assert.deepEqual(deal, { status: 'awaiting_payment', cancel_reason: null });
    assert.equal((await t.database.db.selectFrom('deals').select('status').where('id', '=', dealId).executeTakeFirstOrThrow()).status, 'customer_paid');
  });

  test('cancel against the trader confirm, in parallel: exactly one wins each deal, the ledger stays clean', async () => {
    const opened = [];
    for (let i = 0; i < 12; i++) opened.push(await dealFor());
    const answers = await Promise.all(
      opened.flatMap(({ dealId }) => [cancel(dealId, { reason: 'race' }), trader(t, tr.api_key, 'POST', `/api/v1/trader/deals/${dealId}/confirm`)]),
    );
    for (let i = 0; i < opened.length; i++) {
      const [cancelled, confirmed] = [answers[2 * i]!, answers[2 * i + 1]!];
      assert.equal([cancelled.statusCode, confirmed.statusCode].filter((s) => s === 200).length, 1, `${cancelled.body} / ${confirmed.body}`);
      assert.ok([cancelled, confirmed].every((r) => r.statusCode === 200 || r.statusCode === 409));
      const invoice = await t.database.db.selectFrom('invoices').select('status').where('id', '=', opened[i]!.invoiceId).executeTakeFirstOrThrow();
      assert.equal(invoice.status, cancelled.statusCode === 200 ? 'cancelled' : 'success');
    }
    const report = (await t.admin('GET', '/admin/v1/ledger/verify')).json();
    assert.equal(report.ok, true);
  });
});
