// The trader cabinet through HTTP: the queue shows the trader's own open deals, "I have paid"
// ones on top, with the amount and the card's last four digits, and its live endpoint follows
// new deals and new "I have paid"s; confirm and reject work through the page's forms; cards are
// added, changed and switched off through forms checked as the trader API checks them; the
// balance page shows the ledger's numbers and history. Another trader reaches none of it (BOLA),
// not even by posting the form.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CabinetBrowser, injectTransport, setPassword } from './helpers/cabinet.ts';
import { startKasa, type TestKasa } from './helpers/kasa.ts';
import { formatUsdt } from '../src/money.ts';
import { balanceOf } from './helpers/ledger.ts';
import { addTrader, CARDS, trader as traderApi, type TestTrader } from './helpers/traders.ts';

const PASSWORD = 'quiet-harbour-48-compass';

describe('trader cabinet', () => {
  let t: TestKasa;
  let apiKey: string;
  let ipCounter = 0;
  const browser = () => new CabinetBrowser(injectTransport(t.app, `10.1.0.${++ipCounter}`));

  before(async () => {
    t = await startKasa();
    apiKey = (await t.createMerchant()).api_key;
  });
  after(() => t.close());

  /** A trader with a deposit and a card, and a signed-in browser of its user. */
  async function signedInTrader(
    email: string,
    requisites: Record<string, unknown>[] = [{ max_open_deals: 5 }],
  ): Promise<{ trader: TestTrader; b: CabinetBrowser }> {
    const trader = await addTrader(t, { deposit: '1000.00', requisites });
    const created = await t.admin('POST', '/admin/v1/users', { email, role: 'trader', trader_id: trader.trader_id });
    const b = browser();
    const { secret } = await setPassword(b, created.json().set_password_url, PASSWORD, t.clock.now());
    t.clock.advance(30_000);
    const signed = await b.signIn(email, PASSWORD, secret, t.clock.now());
    assert.equal(signed.location, '/trader');
    return { trader, b };
  }

  async function openDeal(externalId: string, amount: string): Promise<string> {
    const invoice = (await t.createInvoice(apiKey, { external_id: externalId, amount })).json();
    assert.equal((await t.inject({ method: 'GET', url: `/pay/${invoice.invoice_id}` })).statusCode, 200);
    return invoice.invoice_id as string;
  }

  test('the queue, a confirm at the received amount, and no way into another trader’s deals', async () => {
    const a = await signedInTrader('a@traders.example');
    const invoiceId = await openDeal('cab-1', '1500.00');
    const deal = (await t.kasa.deals.list({ traderId: a.trader.trader_id, limit: 10 })).items[0]!;

    const queue = await a.b.get('/trader?lang=en');
    assert.equal(queue.status, 200);
    assert.equal(queue.headers['cache-control'], 'no-store');
    assert.match(queue.body, /<p class="amount">1500\.00 UAH<\/p>/);
    assert.match(queue.body, new RegExp(`Card ·${deal.card_number.slice(-4)} · Monobank`));
    assert.ok(!queue.body.includes(deal.card_number), 'the queue shows the last four digits only');
    assert.match(queue.body, /Awaiting payment/);

    // The customer presses "I have paid": the deal moves to the top, highlighted.
    await t.kasa.deals.markPaid(invoiceId);
    await openDeal('cab-2', '700.00');
    const paidFirst = await a.b.get('/trader');
    assert.match(paidFirst.body, /<li class="card paid" data-deal="[^"]+">[^]*1500\.00 UAH[^]*<li class="card" data-deal/);

    // Another trader: an empty queue, and their forged forms on a's deal are refused.
    const b = await signedInTrader('b@traders.example');
    const theirs = await b.b.get('/trader?lang=en');
    assert.ok(!theirs.body.includes(deal.id));
    assert.match(theirs.body, /No open deals/);
    assert.equal((await b.b.post(`/trader/deals/${deal.id}/confirm`, { received_amount: '1500.00' })).status, 404);
    assert.equal((await b.b.post(`/trader/deals/${deal.id}/reject`, { reason: 'no_payment' })).status, 404);
    assert.equal((await t.kasa.deals.list({ dealId: deal.id, limit: 1 })).items[0]!.status, 'customer_paid', 'nothing changed');

    // Without the form's token, a's own confirm is refused too.
    assert.equal((await a.b.post(`/trader/deals/${deal.id}/confirm`, {}, { csrf: null })).status, 403);

    // A typo in the amount received is refused, not read as the full amount.
    for (const typo of ['15OO', '1500.001', '-1500', '0']) {
      await a.b.get('/trader');
      const refused = await a.b.post(`/trader/deals/${deal.id}/confirm`, { received_amount: typo });
      assert.equal(refused.status, 422, typo);
      assert.match(refused.headers['content-type'] as string, /^text\/html/);
    }
    assert.equal((await t.kasa.deals.list({ dealId: deal.id, limit: 1 })).items[0]!.status, 'customer_paid', 'nothing changed');

    await a.b.get('/trader');
    const confirmed = await a.b.post(`/trader/deals/${deal.id}/confirm`, { received_amount: '1500,00' });
    assert.equal(confirmed.status, 303);
    assert.equal(confirmed.location, '/trader?done=confirmed');
    const read = await t.inject({ method: 'GET', url: `/api/v1/invoices/${invoiceId}`, headers: { 'x-api-key': apiKey } });
    assert.equal(read.json().status, 'success');
    await a.b.get('/trader');
    const again = await a.b.post(`/trader/deals/${deal.id}/confirm`, { received_amount: '1500.00' });
    assert.equal(again.status, 409, 'a confirmed deal is no longer open');

    // Reject the other, still awaiting payment.
    await a.b.get('/trader');
    const other = (await t.kasa.deals.list({ traderId: a.trader.trader_id, status: 'awaiting_payment', limit: 1 })).items[0]!;
    const page = await a.b.get('/trader?lang=en');
    assert.match(page.body, new RegExp(`<select id="reason-${other.id}" name="reason"><option value="no_payment">No money arrived</option>`));
    const forged = await a.b.post(`/trader/deals/${other.id}/reject`, { reason: 'changed_my_mind' });
    assert.equal(forged.status, 400, 'a reason the form does not offer');
    assert.equal((await t.kasa.deals.list({ dealId: other.id, limit: 1 })).items[0]!.status, 'awaiting_payment', 'nothing changed');
    await a.b.get('/trader');
    const rejected = await a.b.post(`/trader/deals/${other.id}/reject`, { reason: 'card_blocked', comment: '  The bank froze it  ' });
    assert.equal(rejected.location, '/trader?done=rejected');
    const stored = await t.database.db
      .selectFrom('deals')
      .select(['status', 'reject_reason', 'reject_comment'])
      .where('id', '=', other.id)
      .executeTakeFirstOrThrow();
    assert.deepEqual(stored, { status: 'rejected', reject_reason: 'card_blocked', reject_comment: 'The bank froze it' });

    // A deal whose customer says they paid is rejected the same way; the claim becomes a dispute.
    await t.database.db.updateTable('traders').set({ status: 'disabled' }).where('id', '!=', a.trader.trader_id).execute();
    const paidInvoice = await openDeal('cab-paid-reject', '1200.00');
    await t.kasa.deals.markPaid(paidInvoice);
    const paidDeal = (await t.kasa.deals.list({ traderId: a.trader.trader_id, status: 'customer_paid', limit: 1 })).items[0]!;
    assert.match((await a.b.get('/trader?lang=en')).body, /rejecting opens a dispute, and an operator decides it/);
    assert.equal((await a.b.post(`/trader/deals/${paidDeal.id}/reject`, { reason: 'no_payment' })).location, '/trader?done=rejected');
    const dispute = await t.database.db.selectFrom('disputes').select(['deal_id', 'opened_by']).where('invoice_id', '=', paidInvoice).executeTakeFirst();
    assert.deepEqual(dispute, { deal_id: paidDeal.id, opened_by: 'trader' });

    // Not a trader: the operator console's people get no queue.
    assert.equal((await browser().get('/trader')).location, '/login');
  });

  /** New deals go to this trader's cards only: every other trader's cards are switched off. */
  async function soleTaker(trader: TestTrader) {
    await t.database.db.updateTable('requisites').set({ active: false }).where('trader_id', '<>', trader.trader_id).execute();
  }

  /** The queue's live state, as cabinet.js polls it. */
  async function live(b: CabinetBrowser) {
    const answer = await b.get('/trader/live?lang=en');
    assert.equal(answer.status, 200, answer.body);
    assert.match(String(answer.headers['content-type']), /^application\/json/);
    return JSON.parse(answer.body) as { version: string; html: string; paid_ids: string[] };
  }

  test('the live endpoint shows a new deal, then its "I have paid", and is not use of the session', async () => {
    // Amounts of their own: each test's deals go to the one trader whose card takes them.
    const c = await signedInTrader('c@traders.example', [{ max_open_deals: 5, min_amount: '3000.00', max_amount: '3999.00' }]);
    await soleTaker(c.trader);
    const page = await c.b.get('/trader?lang=en');
    assert.match(page.body, /data-live-url="\/trader\/live"/);
    assert.match(page.body, /<noscript><meta http-equiv="refresh" content="10"><\/noscript>/, 'without JavaScript the page reloads itself');
    assert.match(
      page.body,
      /<nav class="sections"[^>]*><a href="\/trader" aria-current="page">Deals<\/a><a href="\/trader\/requisites">Cards<\/a><a href="\/trader\/balance">Balance<\/a><\/nav>/,
    );
    const empty = await live(c.b);
    assert.match(empty.html, /No open deals/);
    assert.deepEqual(empty.paid_ids, []);
    assert.match(page.body, new RegExp(`id="live-list"[^>]*data-version="${empty.version}"`), 'the page and the endpoint agree on the state');

    const invoiceId = await openDeal('live-1', '3100.00');
    const opened = await live(c.b);
    assert.notEqual(opened.version, empty.version);
    assert.match(opened.html, /<li class="card" data-deal="[^"]+">[^]*<p class="amount">3100\.00 UAH<\/p>/);
    assert.deepEqual(opened.paid_ids, []);
    assert.equal((await live(c.b)).version, opened.version, 'nothing changed, the same version');

    await t.kasa.deals.markPaid(invoiceId);
    const paid = await live(c.b);
    const [deal] = (await t.kasa.deals.list({ traderId: c.trader.trader_id, limit: 1 })).items;
    assert.deepEqual(paid.paid_ids, [deal!.id]);
    assert.match(paid.html, new RegExp(`<li class="card paid" data-deal="${deal!.id}">`));
    assert.match(paid.html, /name="_csrf" value="[^"]+"/, 'the refreshed list keeps working forms');
    assert.notEqual(paid.version, opened.version);

    // Another trader's live list never has it.
    const d = await signedInTrader('d@traders.example', [{ max_open_deals: 5, min_amount: '4000.00', max_amount: '4999.00' }]);
    await d.b.get('/trader');
    const theirs = await live(d.b);
    assert.ok(!theirs.html.includes(deal!.id));
    assert.deepEqual(theirs.paid_ids, []);

    // Polling does not keep a session alive: 31 minutes of it without a page view signs out.
    t.clock.advance(20 * 60_000);
    await live(c.b);
    t.clock.advance(11 * 60_000);
    const ended = await c.b.get('/trader/live');
    assert.equal(ended.status, 401);
    assert.equal(JSON.parse(ended.body).error.code, 'SESSION_REQUIRED');
    assert.equal((await c.b.get('/trader')).location, '/login');
    assert.equal((await browser().get('/trader/live')).status, 401, 'no session, a JSON 401 for the script');
  });

  test('cards: the list with today’s turnover, add, change, switch off; bad input changes nothing; BOLA', async () => {
    const e = await signedInTrader('e@traders.example', [{ max_open_deals: 5, min_amount: '5000.00', max_amount: '5999.00', daily_limit: '20000.00' }]);
    await soleTaker(e.trader);
    const [cardId] = e.trader.requisites;
    const rowOf = (id: string) => t.database.db.selectFrom('requisites').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const countOf = async (traderId: string) => (await t.database.db.selectFrom('requisites').select('id').where('trader_id', '=', traderId).execute()).length;
    await openDeal('turnover-1', '5100.00');
    const card = await rowOf(cardId!);
    const list = await e.b.get('/trader/requisites?lang=en');
    assert.equal(list.status, 200);
    assert.equal(list.headers['cache-control'], 'no-store');
    assert.match(
      list.body,
      new RegExp(`<p class="card-number">${card.card_number.replace(/(\d{4})(?=\d)/g, '$1 ')}</p>`),
      'the trader sees their own card in full',
    );
    assert.match(list.body, /Today: 5100\.00 of 20000\.00 UAH/);
    assert.match(list.body, /aria-current="page">Cards</);

    // Add: every refused form leaves the cards as they were, and says what to fix.
    const add = async (fields: Record<string, string>) => {
      await e.b.get('/trader/requisites/new?lang=en');
      return e.b.post('/trader/requisites', {
        currency: 'UAH',
        bank_name: 'PrivatBank',
        holder_name: 'Ivan Petrenko',
        card_number: CARDS[2]!,
        active: 'on',
        ...fields,
      });
    };
    const before = await countOf(e.trader.trader_id);
    const badCard = await add({ card_number: '4111 1111 1111 1112' });
    assert.equal(badCard.status, 422);
    assert.match(badCard.body, /id="card_number-problem">From 12 to 19 digits that pass the card check/);
    assert.match(badCard.body, /value="4111 1111 1111 1112"/, 'the form keeps what was typed');
    assert.equal((await add({ min_amount: '-5' })).status, 422);
    assert.equal((await add({ max_open_deals: 'many' })).status, 422);
    assert.equal((await add({ bank_name: 'x'.repeat(101) })).status, 422);
    assert.equal((await add({ bank_name: '' })).status, 422);
    const range = await add({ min_amount: '900.00', max_amount: '100.00' });
    assert.equal(range.status, 400);
    assert.match(range.body, /The smallest payment must not be greater than the largest/);
    const currency = await add({ currency: 'XYZ' });
    assert.equal(currency.status, 400);
    assert.match(currency.body, /Kasa does not take this currency/);
    await e.b.get('/trader/requisites/new');
    assert.equal(
      (await e.b.post('/trader/requisites', { currency: 'UAH', bank_name: 'A', holder_name: 'B', card_number: CARDS[2]! }, { csrf: null })).status,
      403,
    );
    assert.equal(await countOf(e.trader.trader_id), before, 'nothing was added');

    const added = await add({ card_number: '5555 5555 5555 4444', max_amount: '900.00', daily_limit: '5000' });
    assert.equal(added.status, 303, added.body);
    assert.equal(added.location, '/trader/requisites?done=created');
    const created = (await t.kasa.traders.listRequisites(e.trader.trader_id, { limit: 10 })).items.find((r) => r.bank_name === 'PrivatBank')!;
    assert.equal(created.card_number, '5555555555554444');
    assert.equal(created.max_amount, '900.00');
    assert.equal(created.active, true);
    const afterAdd = await e.b.get('/trader/requisites?lang=en&done=created');
    assert.match(afterAdd.body, /The card is added\./);
    assert.match(afterAdd.body, /Today: 0\.00 of 5000\.00 UAH/);

    // Change: the form shows the card; a bad value changes nothing; a good one is saved.
    const edit = await e.b.get(`/trader/requisites/edit?id=${cardId}&lang=en`);
    assert.equal(edit.status, 200);
    assert.match(edit.body, new RegExp(`value="${card.card_number.replace(/(\d{4})(?=\d)/g, '$1 ')}"`));
    assert.match(edit.body, /<label for="daily_limit">Daily limit<\/label>/);
    const fields = {
      bank_name: 'Monobank',
      card_number: card.card_number,
      holder_name: 'Ivan Petrenko',
      min_amount: '5000.00',
      max_amount: '5999.00',
      active: 'on',
    };
    const badLimit = await e.b.post(`/trader/requisites/${cardId}`, { ...fields, daily_limit: '12.345' });
    assert.equal(badLimit.status, 422);
    assert.deepEqual(await rowOf(cardId!), card, 'nothing changed');
    await e.b.get(`/trader/requisites/edit?id=${cardId}`);
    const badRange = await e.b.post(`/trader/requisites/${cardId}`, { ...fields, min_amount: '6000.00' });
    assert.equal(badRange.status, 400);
    assert.deepEqual(await rowOf(cardId!), card, 'nothing changed');
    await e.b.get(`/trader/requisites/edit?id=${cardId}`);
    const saved = await e.b.post(`/trader/requisites/${cardId}`, { ...fields, bank_name: 'Monobank Black', daily_limit: '' });
    assert.equal(saved.status, 303, saved.body);
    const changed = await rowOf(cardId!);
    assert.equal(changed.bank_name, 'Monobank Black');
    assert.equal(changed.daily_limit, null, 'an emptied limit is cleared');
    assert.match((await e.b.get('/trader/requisites?lang=en')).body, /Today: 5100\.00 UAH, no daily limit/);

    // Switch off and on again.
    const off = await e.b.post(`/trader/requisites/${cardId}/active`, { active: 'off' });
    assert.equal(off.location, '/trader/requisites?done=off');
    assert.equal((await rowOf(cardId!)).active, false);
    const listOff = await e.b.get('/trader/requisites?lang=en');
    assert.match(listOff.body, new RegExp(`<li class="card off" data-requisite="${cardId}">[^]*?Switch on`));
    assert.equal((await e.b.post(`/trader/requisites/${cardId}/active`, { active: 'maybe' })).status, 400);
    assert.equal((await rowOf(cardId!)).active, false);
    await e.b.get('/trader/requisites');
    assert.equal((await e.b.post(`/trader/requisites/${cardId}/active`, { active: 'on' })).location, '/trader/requisites?done=on');
    assert.equal((await rowOf(cardId!)).active, true);

    // Another trader: not in their list, not found by id, and none of their forms reaches it.
    const f = await signedInTrader('f@traders.example', [{ max_open_deals: 5, min_amount: '6000.00', max_amount: '6999.00' }]);
    const theirs = await f.b.get('/trader/requisites?lang=en');
    assert.ok(!theirs.body.includes(cardId!) && !theirs.body.includes(card.card_number.slice(-4) + '</p>'));
    assert.equal((await f.b.get(`/trader/requisites/edit?id=${cardId}`)).status, 404);
    assert.equal((await f.b.get('/trader/requisites/edit?id=not-a-card')).status, 404);
    assert.equal((await f.b.get('/trader/requisites/edit')).status, 404);
    await f.b.get('/trader/requisites');
    const before2 = await rowOf(cardId!);
    assert.equal((await f.b.post(`/trader/requisites/${cardId}`, { ...fields, bank_name: 'Stolen' })).status, 404);
    assert.equal((await f.b.post(`/trader/requisites/${cardId}`, { bank_name: '' })).status, 404, 'not found before the form is judged');
    assert.equal((await f.b.post(`/trader/requisites/${cardId}/active`, { active: 'off' })).status, 404);
    assert.deepEqual(await rowOf(cardId!), before2, 'nothing changed');
    assert.equal((await f.b.post(`/trader/requisites/${cardId}/active`, { active: 'off' }, { csrf: null })).status, 403);

    // Not a trader at all: a merchant's owner reaches no page, no form and no live list of the cabinet.
    const merchant = await t.createMerchant();
    const owner = await t.admin('POST', '/admin/v1/users', {
      email: 'owner@shop.example',
      role: 'merchant',
      merchant_id: merchant.merchant_id,
      merchant_role: 'owner',
    });
    const m = browser();
    const { secret } = await setPassword(m, owner.json().set_password_url, PASSWORD, t.clock.now());
    t.clock.advance(30_000);
    assert.equal((await m.signIn('owner@shop.example', PASSWORD, secret, t.clock.now())).location, '/merchant');
    for (const url of ['/trader', '/trader/requisites', `/trader/requisites/edit?id=${cardId}`, '/trader/balance'])
      assert.equal((await m.get(url)).status, 403, url);
    assert.equal((await m.get('/trader/live')).status, 403);
    await m.get('/merchant');
    assert.equal((await m.post(`/trader/requisites/${cardId}/active`, { active: 'off' })).status, 403);
    assert.deepEqual(await rowOf(cardId!), before2, 'nothing changed');
  });

  test('balance: the ledger’s numbers, the history with filters and pages, bad filters a 400 page', async () => {
    const g = await signedInTrader('g@traders.example', [{ max_open_deals: 5, min_amount: '7000.00', max_amount: '7999.00' }]);
    await soleTaker(g.trader);
    const id = g.trader.trader_id;
    await openDeal('balance-1', '7100.00');
    // 50 more deposits: with the first and the deal's lock, the history has more than one page.
    for (let i = 0; i < 50; i++) {
      const res = await t.admin('POST', `/admin/v1/traders/${id}/deposits`, { amount_usdt: '1.00', reference: `g-${i}` });
      assert.equal(res.statusCode, 201, res.body);
    }
    const api = (await traderApi(t, g.trader.api_key, 'GET', '/api/v1/trader/balance')).json();
    const page = await g.b.get('/trader/balance?lang=en');
    assert.equal(page.status, 200);
    assert.equal(page.headers['cache-control'], 'no-store');
    const shown = (name: string) => new RegExp(`data-balance="${name}">([^<]+) USDT<`).exec(page.body)?.[1];
    assert.equal(shown('available'), api.available);
    assert.equal(shown('locked'), api.locked);
    assert.equal(shown('insurance'), api.insurance);
    assert.equal(shown('on_hold'), api.on_hold);
    assert.equal(shown('available'), formatUsdt(await balanceOf(t, `trader:${id}:available`), 2), 'the ledger’s own account');
    assert.ok((await balanceOf(t, `trader:${id}:locked`)) > 0n);

    // The fullest page with its stylesheet and script stays under 100 KB.
    const assets = await Promise.all([...page.body.matchAll(/(?:href|src)="(\/cabinet\/assets\/[^"]+)"/g)].map((m) => g.b.get(m[1]!.replaceAll('&amp;', '&'))));
    assert.equal(assets.length, 2);
    const weight = Buffer.byteLength(page.body) + assets.reduce((sum, a) => sum + Buffer.byteLength(a.body), 0);
    assert.ok(weight < 100 * 1024, `${weight} bytes`);

    const rows = (body: string) => [...body.matchAll(/<tr data-transfer="(\d+)">/g)].map((m) => m[1]);
    const statement = (query: string) => traderApi(t, g.trader.api_key, 'GET', `/api/v1/trader/balance/transactions?limit=100&${query}`).then((r) => r.json());
    const all = await statement('account=available');
    assert.equal(all.items.length, 52);
    const first = rows(page.body);
    assert.deepEqual(
      first,
      all.items.slice(0, 50).map((e: { transfer_id: string }) => e.transfer_id),
      'newest first, as the statement',
    );
    const next = /<a href="\/trader\/balance\?([^"]+)">Older movements<\/a>/.exec(page.body)?.[1];
    assert.ok(next, 'a link to the next page');
    const second = await g.b.get(`/trader/balance?${next.replaceAll('&amp;', '&')}&lang=en`);
    assert.deepEqual(
      rows(second.body),
      all.items.slice(50).map((e: { transfer_id: string }) => e.transfer_id),
    );
    assert.ok(!second.body.includes('Older movements'));

    const locks = await g.b.get('/trader/balance?kind=deal_lock&lang=en');
    assert.equal(rows(locks.body).length, 1);
    assert.match(locks.body, /Locked for a deal/);
    assert.match(locks.body, /<option value="deal_lock" selected>/);
    const locked = await g.b.get('/trader/balance?account=locked&lang=en');
    assert.deepEqual(
      rows(locked.body),
      (await statement('account=locked')).items.map((e: { transfer_id: string }) => e.transfer_id),
    );
    // Transfers carry the database's time of posting.
    const today = (all.items[0].created_at as string).slice(0, 10);
    assert.equal(rows((await g.b.get(`/trader/balance?from=${today}&to=${today}`)).body).length, 50);
    assert.equal(rows((await g.b.get('/trader/balance?to=2000-01-01')).body).length, 0);
    assert.match((await g.b.get('/trader/balance?to=2000-01-01&lang=en')).body, /No movements here/);

    for (const query of ['from=yesterday', 'to=2026-02-30', 'account=merchant', 'kind=theft']) {
      const bad = await g.b.get(`/trader/balance?${query}&lang=en`);
      assert.equal(bad.status, 400, query);
      assert.match(bad.headers['content-type'] as string, /^text\/html/);
    }
    assert.equal((await g.b.get('/trader/balance?cursor=garbage')).status, 400);

    // Another trader's page has its own numbers only.
    const h = await signedInTrader('h@traders.example', [{ max_open_deals: 5, min_amount: '8000.00', max_amount: '8999.00' }]);
    const theirs = await h.b.get('/trader/balance?lang=en');
    assert.equal(rows(theirs.body).length, 1, 'their one deposit');
    assert.ok(!first.some((transfer) => rows(theirs.body).includes(transfer)));
  });
});
