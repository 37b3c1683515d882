// Lists page with a bounded limit and a keyset cursor: every row once, newest first, even while
// rows are added between pages; a malformed cursor is a 400, a limit out of range a 422.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startKasa, type TestKasa } from './helpers/kasa.ts';
import { addTrader } from './helpers/traders.ts';

describe('lists with cursors', () => {
  let t: TestKasa;
  before(async () => {
    t = await startKasa();
  });
  after(() => t.close());

  async function allPages(url: string, limit: number, between?: () => Promise<void>) {
    const seen: { trader_id: string; balance: { available: string } }[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 50; pages++) {
      const res = await t.admin('GET', `${url}?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.ok(body.items.length <= limit);
      seen.push(...body.items);
      cursor = body.next_cursor;
      if (!cursor) return seen;
      await between?.();
    }
    throw new Error('more pages than rows');
  }

  test('admin traders: every trader once with its balances, in creation order, in one query per page', async () => {
    const made: string[] = [];
    for (let i = 0; i < 7; i++) made.push((await addTrader(t, { name: `Pager ${i}`, deposit: `${i + 1}.00`, requisites: [] })).trader_id);
    const seen = await allPages('/admin/v1/traders', 3, async () => {
      // A trader created between pages comes after every page so far: it never shifts one.
      await addTrader(t, { name: 'Late', requisites: [] });
    });
    const ours = seen.filter((s) => made.includes(s.trader_id));
    assert.deepEqual(
      ours.map((s) => s.trader_id),
      made,
      'in creation order, each once',
    );
    assert.deepEqual(
      ours.map((s) => s.balance.available),
      ['1.00', '2.00', '3.00', '4.00', '5.00', '6.00', '7.00'],
    );
    assert.equal(new Set(seen.map((s) => s.trader_id)).size, seen.length, 'no trader twice');
  });

  test('a malformed cursor is 400 INVALID_CURSOR; a limit out of range is 422', async () => {
    for (const cursor of ['x', 'a2Zvbw', Buffer.from('k1.not-a-uuid').toString('base64url')]) {
      const res = await t.admin('GET', `/admin/v1/traders?cursor=${cursor}`);
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().error.code, 'INVALID_CURSOR');
    }
    for (const limit of ['0', '101', 'x']) assert.equal((await t.admin('GET', `/admin/v1/traders?limit=${limit}`)).statusCode, 422);
  });

  /** Every page of a list with a small limit: each item once, and as many as one big page holds. */
  async function walk(
    get: (url: string) => Promise<{ statusCode: number; body: string; json(): { items: any[]; next_cursor: string | null } }>,
    url: string,
    key: (item: any) => string,
  ) {
    const all = await get(`${url}${url.includes('?') ? '&' : '?'}limit=100`);
    assert.equal(all.statusCode, 200, all.body);
    const expected = all.json().items.map(key);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages <= expected.length; pages++) {
      const res = await get(`${url}${url.includes('?') ? '&' : '?'}limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.ok(body.items.length <= 2);
      seen.push(...body.items.map(key));
      cursor = body.next_cursor;
      if (cursor === null) break;
    }
    assert.deepEqual(seen, expected, `${url}: every item once, in the one-page order`);
    assert.ok(expected.length >= 3, `${url}: enough items to page (${expected.length})`);
  }

  test('every other list pages the same way: merchants, keys, currencies, accounts, deals, cards, deliveries', async () => {
    const shops = [await t.createMerchant({ name: 'A' }), await t.createMerchant({ name: 'B' }), await t.createMerchant({ name: 'C' })];
    for (let i = 0; i < 2; i++) await t.admin('POST', `/admin/v1/merchants/${shops[0]!.merchant_id}/api-keys`, {});
    for (const code of ['EUR', 'PLN', 'USD']) await t.admin('PUT', `/admin/v1/currencies/${code}`, { enabled: true, rate: '1.50' });
    const tr = await addTrader(t, { deposit: '1000.00', requisites: [{ max_open_deals: 10 }, { max_open_deals: 10 }, { max_open_deals: 10 }] });
    await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 1000, customer_max_pending: 1000 });
    for (let i = 0; i < 4; i++) {
      const inv = await t.createInvoice(shops[1]!.api_key, {
        external_id: `paged-${i}`,
        customer_id: `paged-${i}`,
        amount: `${1000 + i}.00`,
        callback_url: 'https://receiver.kasa.test/hook',
      });
      assert.equal(inv.statusCode, 200, inv.body);
      assert.equal((await t.inject({ method: 'GET', url: `/pay/${inv.json().invoice_id}` })).statusCode, 200);
      const cancel = await t.inject({ method: 'POST', url: `/api/v1/invoices/${inv.json().invoice_id}/cancel`, headers: { 'x-api-key': shops[1]!.api_key } });
      assert.equal(cancel.statusCode, 200, cancel.body);
    }
    const admin = (url: string) => t.admin('GET', url);
    const asTrader = (url: string) => t.inject({ method: 'GET', url, headers: { 'x-api-key': tr.api_key } });
    const asMerchant = (url: string) => t.inject({ method: 'GET', url, headers: { 'x-api-key': shops[1]!.api_key } });
    await walk(admin, '/admin/v1/merchants', (m: { merchant_id: string }) => m.merchant_id);
    await walk(admin, `/admin/v1/merchants/${shops[0]!.merchant_id}/api-keys`, (k: { key_id: string }) => k.key_id);
    await walk(admin, '/admin/v1/currencies', (c: { code: string }) => c.code);
    await walk(admin, '/admin/v1/ledger/accounts', (a: { account: string }) => a.account);
    await walk(admin, '/admin/v1/deals', (d: { deal_id: string }) => d.deal_id);
    await walk(asTrader, '/api/v1/trader/deals?status=cancelled', (d: { deal_id: string }) => d.deal_id);
    await walk(asTrader, '/api/v1/trader/requisites', (r: { requisite_id: string }) => r.requisite_id);
    await walk(asMerchant, '/api/v1/webhooks/deliveries', (d: { event_id: string }) => d.event_id);
  });
});
