// The trader cabinet through HTTP: the queue shows the trader's own open deals, "I have paid"
// ones on top, with the amount and the card's last four digits; confirm and reject work through
// the page's forms; another trader reaches none of it (BOLA), not even by posting the form.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CabinetBrowser, injectTransport, setPassword } from './helpers/cabinet.ts';
import { startKasa, type TestKasa } from './helpers/kasa.ts';
import { addTrader, type TestTrader } from './helpers/traders.ts';

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
  async function signedInTrader(email: string): Promise<{ trader: TestTrader; b: CabinetBrowser }> {
    const trader = await addTrader(t, { deposit: '1000.00', requisites: [{ max_open_deals: 5 }] });
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

    await a.b.get('/trader');
    const confirmed = await a.b.post(`/trader/deals/${deal.id}/confirm`, { received_amount: '1500.00' });
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
    const rejected = await a.b.post(`/trader/deals/${other.id}/reject`, { reason: 'no_payment' });
    assert.equal(rejected.location, '/trader?done=rejected');
    assert.equal((await t.kasa.deals.list({ dealId: other.id, limit: 1 })).items[0]!.status, 'rejected');

    // Not a trader: the operator console's people get no queue.
    assert.equal((await browser().get('/trader')).location, '/login');
  });
});
