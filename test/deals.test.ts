import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { createKasa, type Kasa } from '../src/context.ts';
import { ADMIN_TOKEN, ManualClock, startKasa, type TestKasa } from './helpers/kasa.ts';
import { addTrader, CARDS, ledgerClean, trader } from './helpers/traders.ts';
import { balanceOf, openDeal as openDealOf, transfersOf as transfersOfRef } from './helpers/ledger.ts';

describe('deals engine, ledger and invoice lifecycle', () => {
  let t: TestKasa;
  let merchant: { merchant_id: string; api_key: string };
  let seq = 0;
  const unique = () => `deal-order-${++seq}`;

  before(async () => {
    t = await startKasa();
    merchant = await t.createMerchant({ name: 'Deals Shop' });
    await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 100000, customer_max_pending: 100000 });
  });
  after(() => t.close());

  /** Another instance sharing the database, whose clock may differ (e.g. a worker past expiry). */
  function instance(clock: ManualClock): Kasa {
    return createKasa({ config: t.kasa.config, db: t.database.db, engine: t.database.engine, clock, adminToken: ADMIN_TOKEN });
  }

  async function invoice(body: Record<string, unknown> = {}) {
    const res = await t.createInvoice(merchant.api_key, { external_id: unique(), customer_id: `c-${seq}`, ...body });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { invoice_id: string; amount: string; expires_at: string };
  }

  const openDeal = (invoiceId: string) => openDealOf(t, invoiceId);
  const transfersOf = (ref: string) => transfersOfRef(t, ref);
  const balance = (account: string) => balanceOf(t, account);

  async function closeOpenDeals() {
    // Tests share one database: expire what a test left open so the next starts from free requisites.
    const later = new ManualClock();
    later.set(new Date(t.clock.now().getTime() + 24 * 3600_000).toISOString());
    await instance(later).deals.expireDue();
  }

  test('the seed example pays out to the micro-USDT', async () => {
    const tr = await addTrader(t, { deposit: '1000.00', reward_percent: '1.00' });
    const inv = await invoice();
    const deal = await openDeal(inv.invoice_id);
    assert.ok(deal, 'a deal opens on the first page view');
    assert.equal(deal.gross_usdt, 36_144_578n);
    assert.equal(deal.trader_reward, 361_445n);
    assert.equal(deal.trader_cost, 35_783_133n);
    assert.equal(deal.merchant_usdt, 35_420_000n);
    assert.equal(await balance(`trader:${tr.trader_id}:locked`), 35_783_133n);
    assert.equal(await balance(`trader:${tr.trader_id}:available`), 1_000_000_000n - 35_783_133n);

    const again = await openDeal(inv.invoice_id);
    assert.equal(again?.id, deal.id, 'reopening shows the same deal');

    t.clock.advance(90_000);
    const confirmed = await trader(t, tr.api_key, 'POST', `/api/v1/trader/deals/${deal.id}/confirm`);
    assert.equal(confirmed.statusCode, 200, confirmed.body);
    assert.equal(confirmed.json().status, 'completed');
    assert.equal(confirmed.json().confirmed_by, 'trader');

    const paid = (await t.inject({ method: 'GET', url: `/api/v1/invoices/${inv.invoice_id}`, headers: { 'x-api-key': merchant.api_key } })).json();
    assert.equal(paid.status, 'success');
    assert.equal(paid.paid_at, '2026-02-25T12:01:30Z');

    const bal = await t.inject({ method: 'GET', url: '/api/v1/balance', headers: { 'x-api-key': merchant.api_key } });
    assert.deepEqual(bal.json(), { currency: 'USDT', available: '35.42', on_hold: '0.00' });
    assert.equal(await balance('platform:revenue'), 363_133n);
    assert.equal(await balance(`trader:${tr.trader_id}:locked`), 0n);
    assert.deepEqual(
      (await transfersOf(deal.id)).map((x) => [x.kind, x.amount]),
      [
        ['deal_lock', 35_783_133n],
        ['deal_credit', 35_420_000n],
        ['deal_revenue', 363_133n],
      ],
    );
    const traderBalance = await trader(t, tr.api_key, 'GET', '/api/v1/trader/balance');
    assert.deepEqual(traderBalance.json(), {
      currency: 'USDT',
      available: '964.216867',
      locked: '0.00',
      insurance: '0.00',
      on_hold: '0.00',
      eligible: true,
      reason: null,
    });

    // A second confirm never credits twice.
    const twice = await trader(t, tr.api_key, 'POST', `/api/v1/trader/deals/${deal.id}/confirm`);
    assert.equal(twice.statusCode, 409);
    assert.equal(twice.json().error.code, 'DEAL_NOT_ACTIVE');
    assert.equal(await balance(`merchant:${merchant.merchant_id}`), 35_420_000n);

    const events = await t.database.db.selectFrom('events').selectAll().where('invoice_id', '=', inv.invoice_id).execute();
    assert.equal(events.length, 1);
    assert.equal(events[0]!.type, 'invoice.success');
    assert.equal((events[0]!.payload as { status: string; paid_at: string }).status, 'success');
    assert.equal((events[0]!.payload as { paid_at: string }).paid_at, '2026-02-25T12:01:30Z');
    assert.ok((await ledgerClean(t)).ok);
    await t.admin('PATCH', `/admin/v1/traders/${tr.trader_id}`, { status: 'disabled' });
  });

  test('confirm after expiry → 409 DEAL_NOT_ACTIVE, and expiry releases the lock', async () => {
    const tr = await addTrader(t, { deposit: '100.00' });
    const inv = await invoice({ amount: '41.50' });
    const deal = await openDeal(inv.invoice_id);
    assert.ok(deal);
    const late = new ManualClock();
    late.set(inv.expires_at);
    const worker = instance(late);
    assert.equal(await worker.deals.expireDue(), 1);
    const res = await trader(t, tr.api_key, 'POST', `/api/v1/trader/deals/${deal.id}/confirm`);
    assert.equal(res.statusCode, 409);
    assert.equal(res.json().error.code, 'DEAL_NOT_ACTIVE');
    assert.equal(await balance(`trader:${tr.trader_id}:available`), 100_000_000n);
    assert.equal(await balance(`trader:${tr.trader_id}:locked`), 0n);
    const events = await t.database.db.selectFrom('events').select('type').where('invoice_id', '=', inv.invoice_id).execute();
    assert.deepEqual(
      events.map((e) => e.type),
      ['invoice.expired'],
    );
    assert.ok((await ledgerClean(t)).ok);
    await t.admin('PATCH', `/admin/v1/traders/${tr.trader_id}`, { status: 'disabled' });
  });

  test('merchant cancel releases the lock; refused once the customer pressed "I have paid"', async () => {
    const tr = await addTrader(t, { deposit: '100.00' });
    const first = await invoice({ amount: '100.00' });
    const deal = await openDeal(first.invoice_id);
    assert.ok(deal);
    const cancel = await t.inject({ method: 'POST', url: `/api/v1/invoices/${first.invoice_id}/cancel`, headers: { 'x-api-key': merchant.api_key } });
    assert.equal(cancel.statusCode, 200, cancel.body);
    assert.equal(cancel.json().status, 'cancelled');
    assert.equal(await balance(`trader:${tr.trader_id}:locked`), 0n);
    assert.deepEqual(
      (await transfersOf(deal.id)).map((x) => x.kind),
      ['deal_lock', 'deal_release'],
    );

    const second = await invoice({ amount: '100.00' });
    const deal2 = await openDeal(second.invoice_id);
    assert.ok(deal2);
    await t.kasa.deals.markPaid(second.invoice_id);
    const refused = await t.inject({ method: 'POST', url: `/api/v1/invoices/${second.invoice_id}/cancel`, headers: { 'x-api-key': merchant.api_key } });
    assert.equal(refused.statusCode, 409);
    assert.equal(refused.json().error.code, 'PAYMENT_IN_PROGRESS');
    const stillPending = await t.inject({ method: 'GET', url: `/api/v1/invoices/${second.invoice_id}`, headers: { 'x-api-key': merchant.api_key } });
    assert.equal(stillPending.json().status, 'pending');
    // "I have paid" moved no money.
    assert.equal(await balance(`trader:${tr.trader_id}:locked`), deal2.trader_cost);
    // The operator confirms on the trader's behalf.
    const byAdmin = await t.admin('POST', `/admin/v1/deals/${deal2.id}/confirm`);
    assert.equal(byAdmin.statusCode, 200, byAdmin.body);
    assert.equal(byAdmin.json().confirmed_by, 'admin');
    assert.match(byAdmin.json().card_number, /^\d{4} \*{4} \*{4} \d{4}$/, 'admin views mask the card');
    assert.ok((await ledgerClean(t)).ok);
    await t.admin('PATCH', `/admin/v1/traders/${tr.trader_id}`, { status: 'disabled' });
  });

  test('a trader with too little balance is never assigned', async () => {
    const poor = await addTrader(t, { deposit: '10.00' });
    const inv = await invoice({ amount: '1500.00' });
    const state = await t.kasa.deals.openForPage(inv.invoice_id);
    assert.equal(state.kind, 'no_trader');
    assert.equal(await balance(`trader:${poor.trader_id}:available`), 10_000_000n);
    // Topping up makes the trader eligible on the next view.
    await t.admin('POST', `/admin/v1/traders/${poor.trader_id}/deposits`, { amount_usdt: '100', reference: 'top-up-1' });
    assert.equal((await t.kasa.deals.openForPage(inv.invoice_id)).kind, 'deal');
    await closeOpenDeals();
    await t.admin('PATCH', `/admin/v1/traders/${poor.trader_id}`, { status: 'disabled' });
  });

  test('requisite limits: min/max amount, daily limit, same amount, least recently used first', async () => {
    const tr = await addTrader(t, {
      deposit: '10000.00',
      requisites: [
        { min_amount: '100.00', max_amount: '1000.00', max_open_deals: 10 },
        { daily_limit: '500.00', max_open_deals: 10 },
      ],
    });
    const [ranged, daily] = tr.requisites as [string, string];
    const assigned = async (amount: string) => {
      t.clock.advance(1_000); // distinct last_used_at, so "least recently used" is unambiguous
      const deal = await openDeal((await invoice({ amount })).invoice_id);
      return deal?.requisite_id ?? null;
    };
    assert.equal(await assigned('2000.00'), null, 'over the range of one, over the daily limit of the other');
    assert.equal(await assigned('50.00'), daily, 'under the min of the ranged requisite');
    assert.equal(await assigned('300.00'), ranged, 'never used goes first');
    assert.equal(await assigned('300.00'), daily, 'the ranged one already has an open 300.00 deal');
    assert.equal(await assigned('200.00'), ranged, 'least recently used');
    assert.equal(await assigned('200.00'), null, '350 + 200 would pass the daily limit of 500');
    await closeOpenDeals();
    await t.admin('PATCH', `/admin/v1/traders/${tr.trader_id}`, { status: 'disabled' });
  });

  test('100 concurrent page opens against 3 requisites never exceed caps or overdraw', async () => {
    // Enough for exactly 12 deals of 41.50 UAH (cost 0.99 USDT each at 1 %).
    const rich = await addTrader(t, {
      deposit: '11.88',
      requisites: [{ max_open_deals: 3 }, { max_open_deals: 5 }, { max_open_deals: 20 }],
    });
    const invoices = [];
    for (let i = 0; i < 100; i++) invoices.push(await invoice({ amount: i % 4 === 0 ? '41.50' : `${41 + i}.50` }));
    const states = await Promise.all(invoices.map((inv) => t.kasa.deals.openForPage(inv.invoice_id)));
    const opened = states.filter((s) => s.kind === 'deal');
    const open = await t.database.db
      .selectFrom('deals')
      .select(['requisite_id', 'amount', 'trader_cost'])
      .where('trader_id', '=', rich.trader_id)
      .where('status', 'in', ['awaiting_payment', 'customer_paid'])
      .execute();
    assert.equal(open.length, opened.length);
    const caps = new Map(rich.requisites.map((id, i) => [id, [3, 5, 20][i]!]));
    for (const [id, cap] of caps) {
      const mine = open.filter((d) => d.requisite_id === id);
      assert.ok(mine.length <= cap, `requisite cap ${cap} exceeded: ${mine.length}`);
      assert.equal(new Set(mine.map((d) => d.amount)).size, mine.length, 'two open deals with one amount on one requisite');
    }
    const locked = open.reduce((sum, d) => sum + d.trader_cost, 0n);
    assert.equal(await balance(`trader:${rich.trader_id}:locked`), locked);
    assert.ok((await balance(`trader:${rich.trader_id}:available`)) >= 0n);
    assert.equal(locked + (await balance(`trader:${rich.trader_id}:available`)), 11_880_000n);
    assert.ok(opened.length >= 1 && opened.length <= 12, `opened ${opened.length}`);
    assert.ok((await ledgerClean(t)).ok);
    await closeOpenDeals();
    await t.admin('PATCH', `/admin/v1/traders/${rich.trader_id}`, { status: 'disabled' });
  });

  test('200 concurrent confirm / cancel / expire races end in exactly one final state', async () => {
    // Without the late-confirmation window, an expired invoice is final for its trader too (a
    // customer_paid deal confirmed after the sweep is the late path: test/wrong-payments.test.ts).
    await t.admin('PATCH', '/admin/v1/settings', { late_confirm_minutes: 0 });
    const tr = await addTrader(t, { deposit: '10000.00', requisites: [{ max_open_deals: 100 }] });
    const outcomes = new Map<string, number>();
    for (let round = 0; round < 4; round++) {
      const inv = await invoice({ amount: `${100 + round}.00` });
      const deal = await openDeal(inv.invoice_id);
      assert.ok(deal);
      if (round % 2 === 1) await t.kasa.deals.markPaid(inv.invoice_id);
      // A second instance whose clock is at expires_at races the sweep against the others.
      const late = new ManualClock();
      late.set(inv.expires_at);
      const worker = instance(late);
      const ops = Array.from({ length: 200 }, (_, i) => {
        if (i % 3 === 0) return trader(t, tr.api_key, 'POST', `/api/v1/trader/deals/${deal.id}/confirm`).then((r) => ['confirm', r.statusCode] as const);
        if (i % 3 === 1) {
          return t
            .inject({ method: 'POST', url: `/api/v1/invoices/${inv.invoice_id}/cancel`, headers: { 'x-api-key': merchant.api_key } })
            .then((r) => ['cancel', r.statusCode] as const);
        }
        return worker.deals.expireBatch(10).then((n) => ['expire', n > 0 ? 200 : 0] as const);
      });
      const results = await Promise.all(ops);
      const winners = results.filter(([, status]) => status === 200);
      assert.equal(winners.length, 1, `exactly one winner, got ${JSON.stringify(winners)}`);
      for (const [, status] of results.filter(([, status]) => status !== 200)) assert.ok(status === 409 || status === 0, `status ${status}`);
      const final = await t.database.db.selectFrom('invoices').select('status').where('id', '=', inv.invoice_id).executeTakeFirstOrThrow();
      const kind = winners[0]![0];
      assert.equal(final.status, { confirm: 'success', cancel: 'cancelled', expire: 'expired' }[kind]);
      const kinds = (await transfersOf(deal.id)).map((x) => x.kind);
      assert.deepEqual(kinds, kind === 'confirm' ? ['deal_lock', 'deal_credit', 'deal_revenue'] : ['deal_lock', 'deal_release']);
      const events = await t.database.db.selectFrom('events').select('type').where('invoice_id', '=', inv.invoice_id).execute();
      assert.deepEqual(
        events.map((e) => e.type).filter((type) => type !== 'invoice.processing'),
        [`invoice.${final.status}`],
      );
      outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
    }
    assert.equal(await balance(`trader:${tr.trader_id}:locked`), 0n);
    assert.ok((await ledgerClean(t)).ok);
    await t.admin('PATCH', `/admin/v1/traders/${tr.trader_id}`, { status: 'disabled' });
    await t.admin('PATCH', '/admin/v1/settings', { late_confirm_minutes: 120 });
  });

  test('deals switch off: no new deals, open deals can still be confirmed', async () => {
    const tr = await addTrader(t, { deposit: '1000.00', requisites: [{ max_open_deals: 5 }] });
    const before = await invoice({ amount: '77.00' });
    const deal = await openDeal(before.invoice_id);
    assert.ok(deal);
    const waiting = await invoice({ amount: '78.00' });
    await t.admin('PATCH', '/admin/v1/settings', { deals_enabled: false });
    try {
      assert.equal((await t.kasa.deals.openForPage(waiting.invoice_id)).kind, 'unavailable');
      const count = await t.database.db
        .selectFrom('deals')
        .select((eb) => eb.fn.countAll<bigint>().as('n'))
        .where('invoice_id', '=', waiting.invoice_id)
        .executeTakeFirstOrThrow();
      assert.equal(Number(count.n), 0);
      const ok = await trader(t, tr.api_key, 'POST', `/api/v1/trader/deals/${deal.id}/confirm`);
      assert.equal(ok.statusCode, 200, ok.body);
    } finally {
      await t.admin('PATCH', '/admin/v1/settings', { deals_enabled: true });
    }
    await closeOpenDeals();
    await t.admin('PATCH', `/admin/v1/traders/${tr.trader_id}`, { status: 'disabled' });
  });

  describe('bad input is a clear 4xx and changes nothing in the ledger', () => {
    let tr: { trader_id: string; api_key: string };
    let other: { trader_id: string; api_key: string };
    let dealId: string;
    let ledgerBefore: string;

    before(async () => {
      tr = await addTrader(t, { deposit: '500.00' });
      other = await addTrader(t, { deposit: '1.00', requisites: [] });
      const deal = await openDeal((await invoice({ amount: '12.00' })).invoice_id);
      assert.ok(deal);
      dealId = deal.id;
      ledgerBefore = (await t.admin('GET', '/admin/v1/ledger/accounts')).body;
    });
    after(async () => {
      assert.equal((await t.admin('GET', '/admin/v1/ledger/accounts')).body, ledgerBefore, 'the ledger did not move');
      await closeOpenDeals();
      await t.admin('PATCH', `/admin/v1/traders/${tr.trader_id}`, { status: 'disabled' });
    });

    test('unknown, malformed and foreign deal ids → 404 DEAL_NOT_FOUND', async () => {
      for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', "1' OR '1'='1"]) {
        const res = await trader(t, tr.api_key, 'POST', `/api/v1/trader/deals/${encodeURIComponent(id)}/confirm`);
        assert.equal(res.statusCode, 404, res.body);
        assert.equal(res.json().error.code, 'DEAL_NOT_FOUND');
      }
      const foreign = await trader(t, other.api_key, 'POST', `/api/v1/trader/deals/${dealId}/confirm`);
      assert.equal(foreign.statusCode, 404, 'another trader cannot confirm, nor learn the deal exists');
      assert.equal((await trader(t, other.api_key, 'GET', '/api/v1/trader/deals')).json().items.length, 0);
    });

    test('keys are not interchangeable between merchants and traders, and the refusal says which kind was given', async () => {
      const asMerchant = await trader(t, merchant.api_key, 'GET', '/api/v1/trader/balance');
      assert.equal(asMerchant.statusCode, 401);
      assert.equal(asMerchant.json().error.code, 'API_KEY_INVALID');
      assert.equal(asMerchant.json().error.message, 'This is a merchant API key; the trader API takes a trader key');
      assert.deepEqual(asMerchant.json().error.details, { key_kind: 'merchant', expected_kind: 'trader' });
      const asTrader = await t.createInvoice(tr.api_key, { external_id: unique() });
      assert.equal(asTrader.statusCode, 401);
      assert.equal(asTrader.json().error.code, 'API_KEY_INVALID');
      assert.equal(asTrader.json().error.message, 'This is a trader API key; the merchant API takes a merchant key');
      assert.deepEqual(asTrader.json().error.details, { key_kind: 'trader', expected_kind: 'merchant' });
      // A key of either tag that is nobody's keeps the seed's exact answer.
      for (const unknown of [tr.api_key.slice(0, -4) + 'AAAA', merchant.api_key.slice(0, -4) + 'AAAA']) {
        for (const res of [await trader(t, unknown, 'GET', '/api/v1/trader/balance'), await t.createInvoice(unknown, { external_id: unique() })]) {
          assert.equal(res.statusCode, 401);
          assert.deepEqual(
            { code: res.json().error.code, message: res.json().error.message, details: res.json().error.details },
            { code: 'API_KEY_INVALID', message: 'Invalid or inactive API key', details: undefined },
          );
        }
      }
      const missing = await t.inject({ method: 'GET', url: '/api/v1/trader/balance' });
      assert.equal(missing.json().error.code, 'API_KEY_MISSING');
    });

    test('malformed card numbers → 422', async () => {
      for (const card of ['4149499912341234', '1234', '4149-4999-1234-123x', 12345678901234]) {
        const res = await trader(t, tr.api_key, 'POST', '/api/v1/trader/requisites', { currency: 'UAH', bank_name: 'B', card_number: card, holder_name: 'H' });
        assert.equal(res.statusCode, 422, `${card}: ${res.body}`);
        assert.deepEqual(res.json().detail[0].loc, ['body', 'card_number']);
      }
      const unknownCurrency = await trader(t, tr.api_key, 'POST', '/api/v1/trader/requisites', {
        currency: 'XYZ',
        bank_name: 'B',
        card_number: CARDS[2],
        holder_name: 'H',
      });
      assert.equal(unknownCurrency.statusCode, 400);
      assert.equal(unknownCurrency.json().error.code, 'CURRENCY_INVALID');
    });

    test('zero, negative and over-precise deposits → 422; a reused reference → 409', async () => {
      for (const amount_usdt of ['0', '-5', '1.0000001', 'abc', null]) {
        const res = await t.admin('POST', `/admin/v1/traders/${tr.trader_id}/deposits`, { amount_usdt, reference: `bad-${String(amount_usdt)}` });
        assert.equal(res.statusCode, 422, `${amount_usdt}: ${res.body}`);
      }
      const ref = await t.admin('POST', `/admin/v1/traders/${tr.trader_id}/deposits`, { amount_usdt: '1', reference: `setup-${tr.trader_id}` });
      assert.equal(ref.statusCode, 409);
      assert.equal(ref.json().error.code, 'DEPOSIT_REFERENCE_USED');
      const unknown = await t.admin('POST', '/admin/v1/traders/00000000-0000-4000-8000-000000000000/deposits', { amount_usdt: '1', reference: 'x' });
      assert.equal(unknown.statusCode, 404);
    });

    test('requisite amounts with too many decimals → 422', async () => {
      const res = await trader(t, tr.api_key, 'POST', '/api/v1/trader/requisites', {
        currency: 'UAH',
        bank_name: 'B',
        card_number: CARDS[3],
        holder_name: 'H',
        min_amount: '1.001',
        daily_limit: '-1',
      });
      assert.equal(res.statusCode, 422);
      assert.deepEqual(
        res.json().detail.map((d: { type: string }) => d.type),
        ['decimal_max_places', 'greater_than'],
      );
    });
  });

  test('the trader sees its own cards in full; admin lists mask them', async () => {
    const tr = await addTrader(t, { deposit: '1.00' });
    const mine = (await trader(t, tr.api_key, 'GET', '/api/v1/trader/requisites')).json().items[0];
    assert.match(mine.card_number, /^\d{16}$/);
    const listing = await t.admin('GET', '/admin/v1/deals');
    assert.doesNotMatch(listing.body, /\d{16}/, 'no full card number in the admin deals list');
    await t.admin('PATCH', `/admin/v1/traders/${tr.trader_id}`, { status: 'disabled' });
  });

  test('ledger verify reports a tampered balance', async () => {
    assert.ok((await ledgerClean(t)).ok);
    await sql`UPDATE accounts SET balance = balance + 1 WHERE id = 'platform:revenue'`.execute(t.database.db);
    const report = (await t.admin('GET', '/admin/v1/ledger/verify')).json();
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.mismatched.map((m: { account: string }) => m.account),
      ['platform:revenue'],
    );
    assert.equal(report.total, '0.000001');
    await sql`UPDATE accounts SET balance = balance - 1 WHERE id = 'platform:revenue'`.execute(t.database.db);
    assert.ok((await ledgerClean(t)).ok);
  });
});
