// The operator console's pages through the real HTTP layer: every page renders for an operator
// and for no one else; merchants (create with the key shown once, fee, disable, keys, users),
// traders (create, deposit exact to the micro-USDT with a clean ledger, disable, users), deals
// (filters, confirm, cancel with a reason, the refusal of a paid deal), the deals switch behind
// its confirmation, the audit log of every change, CSRF on every form.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { traderAvailable } from '../src/ledger/accounts.ts';
import { CabinetBrowser, injectTransport, signedInUser } from './helpers/cabinet.ts';
import { startKasa, type TestKasa } from './helpers/kasa.ts';
import { balanceOf, openDeal } from './helpers/ledger.ts';
import { addTrader, ledgerClean } from './helpers/traders.ts';

const PASSWORD = 'plum-orchard-71-lantern';
const PAGES = [
  '/admin',
  '/admin/merchants',
  '/admin/traders',
  '/admin/deals',
  '/admin/rates',
  '/admin/settings',
  '/admin/settings/stop-deals',
  '/admin/webhooks',
  '/admin/audit',
];
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

describe('operator console pages', () => {
  let t: TestKasa;
  let op: CabinetBrowser;
  let ip = 0;
  const browser = () => new CabinetBrowser(injectTransport(t.app, `10.1.0.${++ip}`));

  /** A signed-in person of the role; TOTP enrolled where the role requires it. */
  const signedIn = (body: Record<string, unknown>) => signedInUser(t, browser(), body, PASSWORD);

  async function auditActions(): Promise<string[]> {
    const rows = await t.database.db.selectFrom('audit_log').select(['action', 'actor_email']).orderBy('id').execute();
    return rows.filter((r) => r.actor_email === 'op@kasa.test').map((r) => r.action);
  }

  before(async () => {
    t = await startKasa();
    op = await signedIn({ email: 'op@kasa.test', role: 'operator', name: 'Olha' });
  });
  after(() => t.close());

  test('every page renders for the operator, with the console navigation, in Ukrainian and English', async () => {
    for (const path of PAGES) {
      const page = await op.get(path);
      assert.equal(page.status, 200, `${path}: ${page.body.slice(0, 300)}`);
      assert.match(page.body, /<nav class="sections"/, path);
      assert.match(page.body, new RegExp(`href="${path}" aria-current="page"|${path === '/admin/settings/stop-deals' ? '' : 'x^'}`), path);
      assert.ok(Buffer.byteLength(page.body) < 100_000, path);
    }
    assert.match((await op.get('/admin?lang=en')).body, /Invoices created/);
    assert.match((await op.get('/admin?lang=uk')).body, /Створено рахунків/);
    assert.match((await op.get('/admin?lang=en')).body, /Clean: \d+ accounts/);
  });

  test('a merchant: created with its first key shown once, its fee changed, disabled; bad input is a 400 page', async () => {
    await op.get('/admin/merchants?lang=en');
    const created = await op.post('/admin/merchants', { name: 'Kvitka <shop>', fee_percent: '2.50', webhook_url: '' });
    assert.equal(created.status, 200, created.body);
    assert.match(created.body, /Kvitka &lt;shop&gt;/);
    const key = /<code class="secret">([^<]+)<\/code>/.exec(created.body)![1]!;
    const merchantId = /action="\/admin\/merchants\/([0-9a-f-]{36})\/fee"/.exec(created.body)![1]!;
    assert.equal((await t.createInvoice(key, { external_id: 'op-1' })).statusCode, 200, 'the key works');

    const page = await op.get(`/admin/merchants/${merchantId}`);
    assert.equal(page.status, 200);
    assert.ok(!page.body.includes(key), 'the key is shown only once');

    assert.equal((await op.post(`/admin/merchants/${merchantId}/fee`, { fee_percent: '3.75' })).status, 303);
    assert.equal((await t.admin('GET', `/admin/v1/merchants/${merchantId}`)).json().fee_percent, '3.75');
    await op.get(`/admin/merchants/${merchantId}`);
    for (const fee of ['abc', '100', '1.234', '-1', '']) {
      const bad = await op.post(`/admin/merchants/${merchantId}/fee`, { fee_percent: fee });
      assert.equal(bad.status, 400, fee);
      await op.get(`/admin/merchants/${merchantId}`);
    }
    assert.equal((await op.post('/admin/merchants', { name: '', fee_percent: '2.00' })).status, 400);
    await op.get('/admin/merchants');
    assert.equal((await op.post('/admin/merchants', { name: 'X', fee_percent: '2.00', webhook_url: 'ftp://x' })).status, 400);

    await op.get(`/admin/merchants/${merchantId}`);
    assert.equal((await op.post(`/admin/merchants/${merchantId}/status`, {})).status, 303);
    assert.equal((await t.admin('GET', `/admin/v1/merchants/${merchantId}`)).json().status, 'disabled');
    assert.equal((await t.createInvoice(key, { external_id: 'op-2' })).statusCode, 401, 'a disabled merchant’s key stops');
    await op.get(`/admin/merchants/${merchantId}`);
    assert.equal((await op.post(`/admin/merchants/${merchantId}/status`, {})).status, 303);
    assert.equal((await t.admin('GET', `/admin/v1/merchants/${merchantId}`)).json().status, 'active');

    // Keys: a new one shown once, then revoked; another merchant's key is not reachable here.
    await op.get(`/admin/merchants/${merchantId}`);
    const issued = await op.post(`/admin/merchants/${merchantId}/api-keys`, {});
    assert.equal(issued.status, 200);
    const second = /<code class="secret">([^<]+)<\/code>/.exec(issued.body)![1]!;
    const keys = (await t.admin('GET', `/admin/v1/merchants/${merchantId}/api-keys`)).json().items as { key_id: string; prefix: string }[];
    const secondId = keys.find((k) => second.startsWith(k.prefix))!.key_id;
    const other = await t.createMerchant({ name: 'Other' });
    await op.get(`/admin/merchants/${merchantId}`);
    assert.equal((await op.post(`/admin/merchants/${merchantId}/api-keys/${other.key_id}/revoke`, {})).status, 404);
    await op.get(`/admin/merchants/${merchantId}`);
    assert.equal((await op.post(`/admin/merchants/${merchantId}/api-keys/${secondId}/revoke`, {})).status, 303);
    assert.equal((await t.createInvoice(second, { external_id: 'op-3' })).statusCode, 401);
    assert.equal((await t.createInvoice(other.api_key, { external_id: 'op-4' })).statusCode, 200, 'the other merchant’s key still works');

    // Users: an invite answers the one-time link; the user is listed with their role.
    await op.get(`/admin/merchants/${merchantId}`);
    const invited = await op.post(`/admin/merchants/${merchantId}/users`, { email: 'anna@kvitka.test', name: 'Anna', merchant_role: 'developer' });
    assert.equal(invited.status, 200, invited.body);
    assert.match(invited.body, /https:\/\/pay\.kasa\.test\/set-password\/[\w-]{43}/);
    assert.match(invited.body, /anna@kvitka\.test<\/td><td>Anna<\/td><td>developer/);
    await op.get(`/admin/merchants/${merchantId}`);
    assert.equal((await op.post(`/admin/merchants/${merchantId}/users`, { email: 'anna@kvitka.test', merchant_role: 'viewer' })).status, 409);
    await op.get(`/admin/merchants/${merchantId}`);
    assert.equal((await op.post(`/admin/merchants/${merchantId}/users`, { email: 'b@kvitka.test', merchant_role: 'boss' })).status, 400);

    const rows = await t.database.db.selectFrom('audit_log').selectAll().where('merchant_id', '=', merchantId).orderBy('id').execute();
    assert.deepEqual(
      rows.map((r) => r.action),
      ['merchant.create', 'merchant.update', 'merchant.update', 'merchant.update', 'api_key.create', 'api_key.revoke', 'user.create'],
    );
    for (const r of rows) {
      assert.equal(r.actor_email, 'op@kasa.test');
      assert.ok(r.ip);
      const written = JSON.stringify([r.before, r.after]);
      assert.ok(!written.includes(key) && !written.includes(second), 'no key in the audit log');
    }
    assert.deepEqual(rows[1]!.before, { fee_percent: '2.50' });
    assert.deepEqual(rows[1]!.after, { fee_percent: '3.75' });
    assert.deepEqual(rows[2]!.after, { status: 'disabled' });
  });

  test('the merchants and traders registers page with cursors', async () => {
    for (let i = 0; i < 26; i++) await t.createMerchant({ name: `Many ${i}` });
    const first = await op.get('/admin/merchants');
    const next = /href="(\/admin\/merchants\?cursor=[^"]+)" rel="next"/.exec(first.body)?.[1];
    assert.ok(next, 'a next page link');
    const second = await op.get(next.replaceAll('&amp;', '&'));
    assert.equal(second.status, 200);
    assert.match(second.body, /Many 25/);
    assert.ok(!first.body.includes('Many 25'));
    assert.equal((await op.get('/admin/merchants?cursor=garbage')).status, 400);
  });

  test('a trader: created, a deposit credited to the micro-USDT with the ledger clean, a reference used twice refused, disabled, a user invited', async () => {
    await op.get('/admin/traders?lang=en');
    const created = await op.post('/admin/traders', { name: 'Taras', reward_percent: '1.50' });
    assert.equal(created.status, 200, created.body);
    assert.match(created.body, /<code class="secret">ktr_|<code class="secret">/);
    const traderId = /action="\/admin\/traders\/([0-9a-f-]{36})\/deposits"/.exec(created.body)![1]!;
    const before = await balanceOf(t, traderAvailable(traderId));

    const deposited = await op.post(`/admin/traders/${traderId}/deposits`, { amount_usdt: '1000.55', reference: 'tx-0xabc' });
    assert.equal(deposited.status, 200, deposited.body);
    assert.match(deposited.body, /Deposit of 1000\.55 USDT credited/);
    assert.equal((await balanceOf(t, traderAvailable(traderId))) - before, 1_000_550_000n);
    assert.ok((await ledgerClean(t)).ok);

    await op.get(`/admin/traders/${traderId}`);
    assert.equal((await op.post(`/admin/traders/${traderId}/deposits`, { amount_usdt: '5.00', reference: 'tx-0xabc' })).status, 409);
    for (const amount of ['0', '0.00', '1.001', 'ten', '-5', '1e3']) {
      await op.get(`/admin/traders/${traderId}`);
      assert.equal((await op.post(`/admin/traders/${traderId}/deposits`, { amount_usdt: amount, reference: `r-${amount}` })).status, 400, amount);
    }
    assert.equal(await balanceOf(t, traderAvailable(traderId)), before + 1_000_550_000n, 'refused deposits credit nothing');

    await op.get(`/admin/traders/${traderId}`);
    assert.equal((await op.post(`/admin/traders/${traderId}/status`, {})).status, 303);
    assert.equal((await t.admin('GET', `/admin/v1/traders/${traderId}`)).json().status, 'disabled');

    await op.get(`/admin/traders/${traderId}`);
    const invited = await op.post(`/admin/traders/${traderId}/users`, { email: 'taras@traders.test' });
    assert.equal(invited.status, 200);
    assert.match(invited.body, /\/set-password\/[\w-]{43}/);
    const list = await op.get('/admin/traders');
    assert.match(list.body, /Taras<\/a>/);
    assert.match(list.body, /1000\.55/);

    const rows = await t.database.db.selectFrom('audit_log').select(['action', 'after']).where('actor_email', '=', 'op@kasa.test').orderBy('id').execute();
    const mine = rows.filter((r) => ['trader.create', 'trader.deposit', 'trader.update'].includes(r.action));
    assert.deepEqual(
      mine.map((r) => r.action),
      ['trader.create', 'trader.deposit', 'trader.update'],
    );
    assert.equal((mine[1]!.after as Record<string, unknown>).amount_usdt, '1000.55');
  });

  test('deals: filtered by status, trader and merchant; confirmed for the trader; cancelled with a reason; a paid deal cannot be cancelled', async () => {
    const shop = await t.createMerchant({ name: 'Deal shop' });
    const other = await t.createMerchant({ name: 'Quiet shop' });
    const tr = await addTrader(t, { deposit: '10000.00', requisites: [{ max_open_deals: 10 }] });
    const deals: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await t.createInvoice(shop.api_key, { external_id: `deal-${i}`, customer_id: `c-${i}`, amount: `${100 + i}.00` });
      assert.equal(res.statusCode, 200, res.body);
      deals.push((await openDeal(t, res.json().invoice_id))!.id);
    }
    const mine = await op.get(`/admin/deals?trader_id=${tr.trader_id}`);
    for (const id of deals) assert.ok(mine.body.includes(`/admin/deals/${id}/confirm`), id);
    const none = await op.get(`/admin/deals?merchant_id=${other.merchant_id}`);
    assert.ok(!deals.some((id) => none.body.includes(id)));
    const byMerchant = await op.get(`/admin/deals?merchant_id=${shop.merchant_id}&status=awaiting_payment`);
    assert.ok(deals.every((id) => byMerchant.body.includes(id)));
    assert.equal((await op.get('/admin/deals?status=nonsense')).status, 400);
    assert.equal((await op.get('/admin/deals?trader_id=x')).status, 400);

    await op.get('/admin/deals?lang=en');
    assert.equal((await op.post(`/admin/deals/${deals[0]}/confirm`, { received_amount: '100.00' })).status, 303);
    await op.get('/admin/deals');
    assert.equal((await op.post(`/admin/deals/${deals[1]}/cancel`, { reason: '' })).status, 400);
    await op.get('/admin/deals');
    assert.equal((await op.post(`/admin/deals/${deals[1]}/cancel`, { reason: 'The card is blocked' })).status, 303);
    const statusOf = async (id: string) =>
      await t.database.db.selectFrom('deals').select(['status', 'confirmed_by', 'cancel_reason']).where('id', '=', id).executeTakeFirstOrThrow();
    assert.deepEqual(await statusOf(deals[0]!), { status: 'completed', confirmed_by: 'admin', cancel_reason: null });
    assert.equal((await statusOf(deals[1]!)).cancel_reason, 'The card is blocked');
    assert.equal((await statusOf(deals[1]!)).status, 'cancelled');

    const invoiceOf = await t.database.db.selectFrom('deals').select('invoice_id').where('id', '=', deals[2]!).executeTakeFirstOrThrow();
    await t.kasa.deals.markPaid(invoiceOf.invoice_id);
    await op.get('/admin/deals?lang=en');
    const refused = await op.post(`/admin/deals/${deals[2]}/cancel`, { reason: 'no' });
    assert.equal(refused.status, 409);
    assert.match(refused.body, /The customer says they have paid/);
    await op.get('/admin/deals');
    assert.equal((await op.post(`/admin/deals/${deals[0]}/confirm`, {})).status, 409, 'a completed deal is no longer open');
    await op.get('/admin/deals');
    assert.equal((await op.post(`/admin/deals/not-a-deal/confirm`, {})).status, 404);
    assert.ok((await ledgerClean(t)).ok);
    const actions = await auditActions();
    assert.equal(actions.filter((a) => a === 'deal.confirm').length, 1);
    assert.equal(actions.filter((a) => a === 'deal.cancel').length, 1);
  });

  test('the deals switch stops new deals only after its confirmation, and starts them again', async () => {
    const shop = await t.createMerchant({ name: 'Switch shop' });
    await op.get('/admin/settings?lang=en');
    assert.match(op.last!.body, /href="\/admin\/settings\/stop-deals"/);
    const unconfirmed = await op.post('/admin/settings/deals', { deals_enabled: 'off' });
    assert.equal(unconfirmed.status, 400);
    assert.match(unconfirmed.body, /Tick the box to confirm/);
    assert.equal((await t.admin('GET', '/admin/v1/settings')).json().deals_enabled, true);

    const confirmation = await op.get('/admin/settings/stop-deals');
    assert.match(confirmation.body, /Yes, stop all new deals/);
    assert.equal((await op.post('/admin/settings/deals', { deals_enabled: 'off', yes: 'on' })).status, 303);
    assert.equal((await t.admin('GET', '/admin/v1/settings')).json().deals_enabled, false);
    assert.equal((await t.createInvoice(shop.api_key, { external_id: 'sw-1' })).statusCode, 503);
    assert.match((await op.get('/admin/settings')).body, /New deals are off/);
    assert.equal((await op.post('/admin/settings/deals', { deals_enabled: 'on' })).status, 303);
    assert.equal((await t.createInvoice(shop.api_key, { external_id: 'sw-2' })).statusCode, 200);

    // The form sends every setting it shows, each prefilled with its value.
    const form = async (changes: Record<string, string>) => {
      const page = await op.get('/admin/settings');
      const fields = Object.fromEntries([...page.body.matchAll(/<input id="(\w+)" name="\1" inputmode="\w+" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
      assert.equal(Object.keys(fields).length, 15);
      return op.post('/admin/settings', { ...fields, ...changes });
    };
    assert.equal(
      (
        await form({
          invoice_ttl_minutes: '25',
          customer_invoices_per_minute: '5',
          customer_max_pending: '3',
          customer_unpaid_max: '4',
          overpayment_max_percent: '12.50',
        })
      ).status,
      303,
    );
    const settings = (await t.admin('GET', '/admin/v1/settings')).json();
    assert.equal(settings.invoice_ttl_minutes, 25);
    assert.equal(settings.customer_max_pending, 3);
    assert.equal(settings.overpayment_max_percent, '12.50');
    for (const bad of <Record<string, string>[]>[
      { invoice_ttl_minutes: '0' },
      { overpayment_max_percent: '100.01' },
      { withdrawal_fee_usdt: '1.234' },
      { dispute_trader_hours: 'x' },
    ]) {
      assert.equal((await form(bad)).status, 400, JSON.stringify(bad));
    }
    assert.equal((await form({ withdrawal_min_usdt: '1.00', withdrawal_fee_usdt: '2.00' })).status, 400, 'the minimum stays above the fee');
    assert.equal((await t.admin('GET', '/admin/v1/settings')).json().withdrawal_fee_usdt, settings.withdrawal_fee_usdt);

    const rows = await t.database.db
      .selectFrom('audit_log')
      .select(['action', 'before', 'after'])
      .where('action', '=', 'settings.update')
      .orderBy('id')
      .execute();
    assert.deepEqual(
      rows.map((r) => r.after),
      [
        { deals_enabled: false },
        { deals_enabled: true },
        { invoice_ttl_minutes: 25, customer_invoices_per_minute: 5, customer_max_pending: 3, customer_unpaid_max: 4, overpayment_max_percent: '12.50' },
      ],
    );
  });

  test('currencies: a manual rate set, a bad code refused, the change audited', async () => {
    await op.get('/admin/rates');
    assert.equal((await op.post('/admin/rates', { code: 'eur', rate: '45.10', min_amount: '10.00', max_amount: '5000.00', enabled: 'on' })).status, 303);
    const eur = (await t.admin('GET', '/admin/v1/currencies')).json().items.find((c: { code: string }) => c.code === 'EUR');
    assert.equal(eur.rate, '45.10');
    assert.equal(eur.enabled, true);
    assert.match((await op.get('/admin/rates')).body, /EUR/);
    assert.equal((await op.post('/admin/rates', { code: 'EURO', rate: '1' })).status, 400);
    await op.get('/admin/rates');
    assert.equal((await op.post('/admin/rates', { code: 'EUR', rate: '0' })).status, 400);

    // A feed: the rate then follows it; a bad feed is a 400; ticking "by hand" stops the feed.
    await op.get('/admin/rates');
    const feed = {
      code: 'PLN',
      url: 'https://prices.example/pln',
      json_path: '$.data.price',
      refresh_seconds: '60',
      max_age_seconds: '300',
      markup_percent: '1.50',
      max_change_percent: '5.00',
      enabled: 'on',
    };
    assert.equal((await op.post('/admin/rates/feed', feed)).status, 303);
    const pln = () => t.admin('GET', '/admin/v1/currencies').then((r) => r.json().items.find((c: { code: string }) => c.code === 'PLN'));
    assert.deepEqual((await pln()).rate_source, {
      kind: 'http_json',
      url: 'https://prices.example/pln',
      json_path: '$.data.price',
      refresh_seconds: 60,
      max_age_seconds: 300,
      markup_percent: '1.50',
      max_change_percent: '5.00',
    });
    for (const bad of [
      { json_path: 'data[' },
      { url: 'ftp://x' },
      { refresh_seconds: '600', max_age_seconds: '60' },
      { refresh_seconds: '1' },
      { max_change_percent: '0' },
    ]) {
      await op.get('/admin/rates');
      assert.equal((await op.post('/admin/rates/feed', { ...feed, ...bad })).status, 400, JSON.stringify(bad));
    }
    await op.get('/admin/rates');
    assert.equal((await op.post('/admin/rates', { code: 'PLN', rate: '10.50', enabled: 'on' })).status, 409, 'a rate by hand while the feed sets it');
    await op.get('/admin/rates');
    assert.equal((await op.post('/admin/rates', { code: 'PLN', rate: '10.50', enabled: 'on', manual: 'on' })).status, 303);
    assert.deepEqual((await pln()).rate_source, { kind: 'manual' });
    assert.equal((await pln()).rate, '10.50');
    assert.ok((await auditActions()).includes('currency.put'));
  });

  test('the audit log page filters by person and by merchant, a page at a time', async () => {
    const all = await op.get('/admin/audit?lang=en');
    assert.match(all.body, /merchant\.create/);
    const mine = await op.get('/admin/audit?actor=OP@kasa.test');
    assert.match(mine.body, /op@kasa\.test/);
    const nobody = await op.get('/admin/audit?actor=nobody@kasa.test');
    assert.match(nobody.body, /Nothing here yet/);
    const merchantId = (await t.database.db.selectFrom('audit_log').select('merchant_id').where('action', '=', 'merchant.create').executeTakeFirstOrThrow())
      .merchant_id!;
    const one = await op.get(`/admin/audit?merchant_id=${merchantId}`);
    assert.ok(!one.body.includes('trader.deposit'));
    assert.match(one.body, /merchant\.create/);
    // More changes than one page holds: the next page goes on from the last row of the first.
    const shop = await t.createMerchant({ name: 'Flip shop' });
    for (let i = 0; i < 26; i++) {
      await op.get(`/admin/merchants/${shop.merchant_id}`);
      assert.equal((await op.post(`/admin/merchants/${shop.merchant_id}/status`, {})).status, 303);
    }
    const flips = await op.get(`/admin/audit?merchant_id=${shop.merchant_id}`);
    assert.equal(flips.body.match(/merchant\.update/g)?.length, 25);
    const next = /href="([^"]+)" rel="next"/.exec(flips.body)![1]!.replaceAll('&amp;', '&');
    assert.match(next, new RegExp(`merchant_id=${shop.merchant_id}&cursor=`));
    const rest = await op.get(next);
    assert.equal(rest.body.match(/merchant\.update/g)?.length, 1);
    assert.ok(!/rel="next"/.test(rest.body));
    assert.equal((await op.get('/admin/audit?merchant_id=nope')).status, 400);
  });

  test('webhook numbers show', async () => {
    const page = await op.get('/admin/webhooks?lang=en');
    assert.match(page.body, /Pending/);
    assert.match(page.body, /Delivered/);
  });

  test('no page and no form is for a merchant user or a trader user (403), nor for no one (to /login)', async () => {
    const shop = await t.createMerchant({ name: 'Forbidden shop' });
    const tr = await addTrader(t, {});
    const owner = await signedIn({ email: 'owner@forbidden.test', role: 'merchant', merchant_id: shop.merchant_id, merchant_role: 'owner' });
    const trader = await signedIn({ email: 'tr@forbidden.test', role: 'trader', trader_id: tr.trader_id });
    const forms = [
      '/admin/merchants',
      `/admin/merchants/${shop.merchant_id}/fee`,
      `/admin/merchants/${shop.merchant_id}/status`,
      `/admin/merchants/${shop.merchant_id}/api-keys`,
      `/admin/merchants/${shop.merchant_id}/api-keys/${shop.key_id}/revoke`,
      `/admin/merchants/${shop.merchant_id}/users`,
      '/admin/traders',
      `/admin/traders/${tr.trader_id}/status`,
      `/admin/traders/${tr.trader_id}/deposits`,
      `/admin/traders/${tr.trader_id}/users`,
      `/admin/deals/${tr.trader_id}/confirm`,
      `/admin/deals/${tr.trader_id}/cancel`,
      '/admin/rates',
      '/admin/rates/feed',
      '/admin/settings',
      '/admin/settings/deals',
    ];
    const pages = [...PAGES, `/admin/merchants/${shop.merchant_id}`, `/admin/traders/${tr.trader_id}`];
    const before = (
      await t.database.db
        .selectFrom('audit_log')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow()
    ).n;
    for (const who of [owner, trader]) {
      for (const path of pages) assert.equal((await who.get(path)).status, 403, path);
      for (const path of forms) {
        await who.get(who === owner ? '/merchant' : '/trader');
        const res = await who.post(path, { fee_percent: '0.00', name: 'x', deals_enabled: 'off', yes: 'on', amount_usdt: '1.00', reference: 'r', reason: 'r' });
        assert.equal(res.status, 403, path);
      }
    }
    const stranger = browser();
    for (const path of pages) assert.equal((await stranger.get(path)).location, '/login', path);
    for (const path of forms) assert.equal((await stranger.post(path, { deals_enabled: 'off', yes: 'on' }, { csrf: null })).location, '/login', path);
    const after = (
      await t.database.db
        .selectFrom('audit_log')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow()
    ).n;
    assert.equal(after, before, 'nothing changed');
    assert.equal((await t.admin('GET', '/admin/v1/settings')).json().deals_enabled, true);
  });

  test('a form without its CSRF token, or with another session’s, is refused (403) and changes nothing', async () => {
    const shop = await t.createMerchant({ name: 'Csrf shop' });
    await op.get('/admin/settings');
    assert.equal((await op.post('/admin/settings/deals', { deals_enabled: 'off', yes: 'on' }, { csrf: null })).status, 403);
    const other = await signedIn({ email: 'op2@kasa.test', role: 'operator' });
    await other.get('/admin/settings');
    const foreign = /name="_csrf" value="([^"]+)"/.exec(other.last!.body)![1]!;
    assert.equal((await op.post('/admin/settings/deals', { deals_enabled: 'off', yes: 'on' }, { csrf: foreign })).status, 403);
    assert.equal((await op.post(`/admin/merchants/${shop.merchant_id}/status`, {}, { csrf: null })).status, 403);
    assert.equal((await t.admin('GET', '/admin/v1/settings')).json().deals_enabled, true);
    assert.equal((await t.admin('GET', `/admin/v1/merchants/${shop.merchant_id}`)).json().status, 'active');
    assert.match(shop.merchant_id, UUID);
  });
});
