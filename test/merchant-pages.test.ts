// The merchant cabinet's pages through HTTP, as a browser uses them: invoices with filters,
// paging and the CSV export; an invoice's page with its transfers and webhook attempts, and a
// resend that makes a new attempt; API keys shown once and revoked; webhook settings and a
// test ping against a real local receiver; the merchant's users (owner only, the last owner
// kept); the audit row of every change; and no way into another merchant's data, or for a
// viewer to change anything, even by posting the forms directly.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { DeliveryWorker } from '../src/webhooks/delivery.ts';
import { totpCode } from '../src/people/secrets.ts';
import { CabinetBrowser, csrfOf, injectTransport, setPassword } from './helpers/cabinet.ts';
import { startKasa, type TestKasa } from './helpers/kasa.ts';
import { Receiver } from './helpers/receiver.ts';
import { addTrader, trader, type TestTrader } from './helpers/traders.ts';

const PASSWORD = 'quiet-harbour-48-compass';
/** The cabinet's table page size (common.ts TABLE_PAGE_ROWS). */
const PAGE_ROWS = 50;

interface Shop {
  merchant_id: string;
  api_key: string;
  key_id: string;
}

interface Person {
  b: CabinetBrowser;
  id: string;
  email: string;
}

const unescape = (href: string) => href.replaceAll('&amp;', '&');

describe('merchant cabinet pages', () => {
  let t: TestKasa;
  let rx: Receiver;
  let worker: DeliveryWorker;
  let shopA: Shop;
  let shopB: Shop;
  let tr: TestTrader;
  let owner: Person;
  let developer: Person;
  let viewer: Person;
  let ownerB: Person;
  let ip = 0;
  let seq = 0;

  const browser = () => new CabinetBrowser(injectTransport(t.app, `10.2.0.${++ip}`));

  async function person(email: string, merchantId: string, role: 'owner' | 'developer' | 'viewer'): Promise<Person> {
    const created = await t.admin('POST', '/admin/v1/users', { email, role: 'merchant', merchant_id: merchantId, merchant_role: role });
    assert.equal(created.statusCode, 201, created.body);
    const b = browser();
    await setPassword(b, created.json().set_password_url, PASSWORD, t.clock.now());
    const signed = await b.signIn(email, PASSWORD);
    assert.equal(signed.location, '/merchant', 'a merchant user signs in without a code');
    return { b, id: created.json().user.user_id ?? created.json().user.id, email };
  }

  async function invoice(shop: Shop, body: Record<string, unknown> = {}): Promise<string> {
    const n = ++seq;
    const res = await t.createInvoice(shop.api_key, { external_id: `mp-${n}`, customer_id: `mp-customer-${n}`, callback_url: undefined, ...body });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().invoice_id;
  }

  async function pay(invoiceId: string): Promise<void> {
    const state = await t.kasa.deals.openForPage(invoiceId);
    assert.equal(state.kind, 'deal');
    if (state.kind !== 'deal') return;
    const res = await trader(t, tr.api_key, 'POST', `/api/v1/trader/deals/${state.deal.id}/confirm`);
    assert.equal(res.statusCode, 200, res.body);
  }

  async function auditActions(merchantId: string): Promise<string[]> {
    const rows = await t.kasa.db.selectFrom('audit_log').select('action').where('merchant_id', '=', merchantId).orderBy('id').execute();
    return rows.map((r) => r.action);
  }

  before(async () => {
    t = await startKasa();
    rx = await Receiver.start();
    worker = new DeliveryWorker(t.kasa.db, t.kasa.clock, t.kasa.sender, pino({ level: 'silent' }), t.kasa.metrics, { random: () => 0.5 });
    await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 100000, customer_max_pending: 100000 });
    shopA = (await t.createMerchant({ name: 'Shop A', webhook_url: rx.url })) as Shop;
    shopB = (await t.createMerchant({ name: 'Shop B' })) as Shop;
    tr = await addTrader(t, { deposit: '100000.00', requisites: [{ max_open_deals: 100 }] });
    owner = await person('owner@shop-a.example', shopA.merchant_id, 'owner');
    developer = await person('dev@shop-a.example', shopA.merchant_id, 'developer');
    viewer = await person('viewer@shop-a.example', shopA.merchant_id, 'viewer');
    ownerB = await person('owner@shop-b.example', shopB.merchant_id, 'owner');
  });
  after(async () => {
    await t.kasa.sender.close();
    await rx.close();
    await t.close();
  });

  test('every page opens for the owner, in both languages, small, uncached, with the navigation', async () => {
    for (const path of ['/merchant', '/merchant/balance', '/merchant/keys', '/merchant/webhooks', '/merchant/users', '/merchant/audit']) {
      for (const lang of ['en', 'uk']) {
        const page = await owner.b.get(`${path}?lang=${lang}`);
        assert.equal(page.status, 200, `${path}: ${page.body.slice(0, 300)}`);
        assert.equal(page.headers['cache-control'], 'no-store');
        assert.match(page.body, new RegExp(`<html lang="${lang}">`));
        assert.match(page.body, new RegExp(`<a href="${path}" aria-current="page">`));
        const assets = [...page.body.matchAll(/(?:href|src)="(\/cabinet\/assets\/[^"]+)"/g)].map((m) => m[1]!);
        assert.equal(assets.length, 2, 'its stylesheet and its script');
        let bytes = Buffer.byteLength(page.body);
        for (const asset of assets) bytes += Buffer.byteLength((await owner.b.get(asset)).body);
        assert.ok(bytes < 100_000, `${path} is ${bytes} bytes with its CSS and JS`);
      }
    }
    // A viewer sees the pages of everyone, not the owner's.
    assert.equal((await viewer.b.get('/merchant/keys')).status, 200);
    assert.ok(!(await viewer.b.get('/merchant?lang=en')).body.includes('/merchant/users'));
    for (const path of ['/merchant/users', '/merchant/audit']) {
      assert.equal((await viewer.b.get(path)).status, 403, path);
      assert.equal((await developer.b.get(path)).status, 403, path);
    }
    // Not signed in: to the sign-in page.
    assert.equal((await browser().get('/merchant/balance')).location, '/login');
  });

  test('invoices: filters, paging with a cursor, and the CSV export of the same filters', async () => {
    const paid = await invoice(shopA, { external_id: 'filter-paid', customer_id: 'filter-customer', amount: '1234.00' });
    const plain = await invoice(shopA, { external_id: 'filter-plain', customer_id: 'filter-customer' });
    const foreign = await invoice(shopB, { external_id: 'filter-foreign' });
    await pay(paid);

    const all = await owner.b.get('/merchant?lang=en');
    assert.match(all.body, /filter-paid/);
    assert.match(all.body, /filter-plain/);
    assert.ok(!all.body.includes('filter-foreign') && !all.body.includes(foreign), "another merchant's invoice is not listed");

    const success = await owner.b.get('/merchant?lang=en&status=success');
    assert.match(success.body, new RegExp(`data-invoice="${paid}"`));
    assert.ok(!success.body.includes(plain));
    assert.match(success.body, /<option value="success" selected>/, 'the form keeps the filter');

    const byExternal = await owner.b.get('/merchant?external_id=filter-plain');
    assert.ok(byExternal.body.includes(plain) && !byExternal.body.includes(paid));
    const byCustomer = await owner.b.get('/merchant?customer_id=filter-customer');
    assert.ok(byCustomer.body.includes(plain) && byCustomer.body.includes(paid));
    const today = t.clock.now().toISOString().slice(0, 10);
    const tomorrow = new Date(t.clock.now().getTime() + 86_400_000).toISOString().slice(0, 10);
    assert.ok((await owner.b.get(`/merchant?created_from=${today}&created_to=${today}`)).body.includes(paid), 'created_to takes the whole day');
    assert.match((await owner.b.get(`/merchant?lang=en&created_from=${tomorrow}`)).body, /No invoices match/);

    for (const bad of ['status=paid', 'created_from=2026-13-01', 'created_to=yesterday', `external_id=${'x'.repeat(300)}`, 'status=a&status=b']) {
      const page = await owner.b.get(`/merchant?${bad}`);
      assert.equal(page.status, 400, bad);
      assert.match(page.headers['content-type'] as string, /^text\/html/);
    }

    // Paging: more invoices than one page; "Next page" carries the filters and the cursor.
    for (let i = 0; i < PAGE_ROWS + 2; i++) await invoice(shopA, { customer_id: 'pager-customer' });
    const first = await owner.b.get('/merchant?lang=en&customer_id=pager-customer');
    const firstIds = [...first.body.matchAll(/data-invoice="([^"]+)"/g)].map((m) => m[1]);
    assert.equal(firstIds.length, PAGE_ROWS);
    const next = /<a href="([^"]+)" rel="next">/.exec(first.body);
    assert.ok(next, 'a Next page link');
    assert.match(unescape(next[1]!), /customer_id=pager-customer&cursor=/);
    const second = await owner.b.get(unescape(next[1]!));
    const secondIds = [...second.body.matchAll(/data-invoice="([^"]+)"/g)].map((m) => m[1]);
    assert.equal(secondIds.length, 2);
    assert.ok(!secondIds.some((id) => firstIds.includes(id)), 'pages do not overlap');
    assert.ok(!/rel="next"/.test(second.body), 'the last page has no Next link');
    assert.equal((await owner.b.get('/merchant?cursor=not-a-cursor')).status, 400);

    // CSV: the export link keeps the filters; streamed as text/csv; only this merchant's.
    assert.match(success.body, /href="\/merchant\/invoices\.csv\?status=success"/);
    const csv = await owner.b.get('/merchant/invoices.csv?status=success');
    assert.equal(csv.status, 200);
    assert.match(csv.headers['content-type'] as string, /^text\/csv/);
    assert.match(csv.headers['content-disposition'] as string, /attachment; filename="invoices\.csv"/);
    const lines = csv.body.trimEnd().split('\r\n');
    assert.match(lines[0]!, /^invoice_id,external_id,status/);
    assert.equal(lines.length, 2);
    assert.ok(lines[1]!.startsWith(`${paid},filter-paid,success`));
    const theirs = await ownerB.b.get('/merchant/invoices.csv');
    assert.ok(theirs.body.includes(foreign) && !theirs.body.includes(paid));
    assert.equal((await viewer.b.get('/merchant/invoices.csv?customer_id=filter-customer')).status, 200, 'a viewer exports too');
    assert.equal((await owner.b.get('/merchant/invoices.csv?created_from=nope')).status, 400);
  });

  test("an invoice's page: timeline, deal, transfers and webhook attempts; resend makes a new attempt", async () => {
    const id = await invoice(shopA, { external_id: 'page-paid', amount: '1500.00' });
    await worker.drain(); // what earlier tests left due
    const before = rx.received.length;
    await pay(id);
    await worker.drain();
    assert.equal(rx.received.length, before + 1, 'invoice.success delivered');
    const webhookId = rx.received.at(-1)!.headers['webhook-id'];

    const page = await owner.b.get(`/merchant/invoices/${id}?lang=en`);
    assert.equal(page.status, 200, page.body.slice(0, 300));
    assert.match(page.body, /<h1>Invoice page-paid<\/h1>/);
    assert.match(page.body, /<strong>pending<\/strong>[^]*<strong>success<\/strong>/, 'the timeline');
    assert.match(page.body, /<td>completed<\/td>/, 'the deal state');
    assert.match(page.body, /<td>deal_lock<\/td>[^]*<td>deal_credit<\/td>/, 'the transfers');
    assert.ok(!/trader:[0-9a-f]{8}-/.test(page.body), 'no trader is named');
    assert.match(page.body, /invoice\.success · <span class="badge delivery-delivered">delivered/);
    assert.match(page.body, /<td>200<\/td>/, 'the attempt and its answer');
    const resend = new RegExp(`action="/merchant/invoices/${id}/deliveries/([0-9a-f-]+)/resend"`).exec(page.body);
    assert.ok(resend, 'a Resend button for the owner');
    const eventId = resend[1]!;
    assert.equal(eventId, webhookId);

    // A viewer sees the attempts but no button, and their forged resend is refused.
    const seen = await viewer.b.get(`/merchant/invoices/${id}`);
    assert.equal(seen.status, 200);
    assert.ok(!seen.body.includes('/resend"'));
    assert.equal((await viewer.b.post(`/merchant/invoices/${id}/deliveries/${eventId}/resend`, {})).status, 403);

    await owner.b.get(`/merchant/invoices/${id}`);
    const resent = await owner.b.post(`/merchant/invoices/${id}/deliveries/${eventId}/resend`, {});
    assert.equal(resent.status, 303);
    assert.equal(resent.location, `/merchant/invoices/${id}?done=resent#webhooks`);
    await worker.drain();
    assert.equal(rx.received.length, before + 2, 'the resend reached the receiver');
    assert.equal(rx.received.at(-1)!.headers['webhook-id'], webhookId, 'the same event again');
    const after = await owner.b.get(`/merchant/invoices/${id}?lang=en&done=resent`);
    assert.match(after.body, /The webhook is queued again/);
    assert.equal([...after.body.matchAll(/<td>200<\/td>/g)].length, 2, 'two attempts listed');
    assert.ok((await auditActions(shopA.merchant_id)).includes('delivery.resend'));

    // A developer may resend too; an event of another invoice of the merchant is not this one's.
    await developer.b.get(`/merchant/invoices/${id}`);
    assert.equal((await developer.b.post(`/merchant/invoices/${id}/deliveries/${eventId}/resend`, {})).status, 303);
    const otherInvoice = await invoice(shopA, { external_id: 'page-other' });
    const pendingPage = await developer.b.get(`/merchant/invoices/${otherInvoice}?lang=en`);
    assert.match(pendingPage.body, /No deal has been opened/);
    assert.ok(!/href="[^"]*\/pay\//.test(pendingPage.body), 'the payment link is text: following it would open a deal');
    assert.equal((await developer.b.post(`/merchant/invoices/${otherInvoice}/deliveries/${eventId}/resend`, {})).status, 404);

    // Another merchant: the page and the form are not found, nothing is sent.
    assert.equal((await ownerB.b.get(`/merchant/invoices/${id}`)).status, 404);
    await ownerB.b.get('/merchant');
    assert.equal((await ownerB.b.post(`/merchant/invoices/${id}/deliveries/${eventId}/resend`, {})).status, 404);
    assert.equal((await owner.b.get('/merchant/invoices/not-a-uuid')).status, 404);
    await worker.drain();
    assert.equal(rx.received.length, before + 3, "only the developer's resend was sent");
  });

  test('balance and statement, a page at a time', async () => {
    const page = await owner.b.get('/merchant/balance?lang=en');
    assert.equal(page.status, 200);
    const balance = (await t.inject({ method: 'GET', url: '/api/v1/balance', headers: { 'x-api-key': shopA.api_key } })).json();
    assert.match(page.body, new RegExp(`data-balance="available">${balance.available.replace('.', '\\.')}<`));
    assert.match(page.body, /data-balance="on_hold">0\.00</);
    assert.match(page.body, /<td>deal_credit<\/td><td class="num">\+/);
    const theirs = await ownerB.b.get('/merchant/balance?lang=en');
    assert.match(theirs.body, /data-balance="available">0\.00</);
    assert.match(theirs.body, /Nothing here yet/);
    assert.equal((await owner.b.get('/merchant/balance?cursor=%%%')).status, 400);
  });

  test('API keys: created and shown once, listed by prefix, revoked; another merchant’s key is not found', async () => {
    const keys = await owner.b.get('/merchant/keys?lang=en');
    assert.match(keys.body, new RegExp(`data-key="${shopA.key_id}"`));
    assert.ok(!keys.body.includes(shopA.api_key), 'the list never shows a key');

    const created = await owner.b.post('/merchant/keys', { scope_invoices: 'on' });
    assert.equal(created.status, 201);
    const apiKey = /data-once>(kasa_sk_[A-Za-z0-9_-]+)</.exec(created.body)?.[1];
    assert.ok(apiKey, 'the new key is on the answer page');
    const read = await t.inject({ method: 'GET', url: '/api/v1/balance', headers: { 'x-api-key': apiKey } });
    assert.equal(read.statusCode, 200, 'the key works');
    const listed = await owner.b.get('/merchant/keys');
    assert.ok(!listed.body.includes(apiKey), 'never shown again');
    const keyId = [...listed.body.matchAll(/data-key="([^"]+)"/g)].map((m) => m[1]!).find((k) => k !== shopA.key_id)!;

    // A form without a scope is refused; a developer creates one too; a viewer may not.
    assert.equal((await owner.b.post('/merchant/keys', {})).status, 400);
    await developer.b.get('/merchant/keys');
    assert.equal((await developer.b.post('/merchant/keys', { scope_invoices: 'on', scope_withdrawals: 'on' })).status, 201);

    // Another merchant's owner cannot revoke it: not found, and it keeps working.
    await ownerB.b.get('/merchant/keys');
    assert.equal((await ownerB.b.post(`/merchant/keys/${keyId}/revoke`, {})).status, 404);
    assert.equal((await ownerB.b.post('/merchant/keys/not-a-uuid/revoke', {})).status, 404);

    await owner.b.get('/merchant/keys');
    const revoked = await owner.b.post(`/merchant/keys/${keyId}/revoke`, {});
    assert.equal(revoked.status, 303);
    assert.equal(revoked.location, '/merchant/keys?done=revoked');
    assert.equal((await t.inject({ method: 'GET', url: '/api/v1/balance', headers: { 'x-api-key': apiKey } })).statusCode, 401, 'refused at once');
    const again = await owner.b.post(
      `/merchant/keys/${keyId}/revoke`,
      {},
      { csrf: /name="_csrf" value="([^"]+)"/.exec((await owner.b.get('/merchant/keys')).body)![1]! },
    );
    assert.equal(again.status, 409, 'revoked already: a clear answer');
    assert.match((await owner.b.get('/merchant/keys?lang=en&done=revoked')).body, /The key is revoked/);

    const actions = await auditActions(shopA.merchant_id);
    assert.equal(actions.filter((a) => a === 'api_key.create').length, 2);
    assert.equal(actions.filter((a) => a === 'api_key.revoke').length, 1);
    const row = await t.kasa.db.selectFrom('audit_log').selectAll().where('action', '=', 'api_key.revoke').executeTakeFirstOrThrow();
    assert.equal(row.actor_email, owner.email);
    assert.equal(row.target, `api_key:${keyId}`);
    assert.ok(!JSON.stringify(row, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).includes(apiKey), 'no secret in the log');
  });

  test('webhook settings: the URL under the SSRF check, a ping with the answer, the secret once, the Ed25519 key', async () => {
    const hook = await Receiver.start();
    try {
      hook.reply = () => ({ status: 202, body: 'pong from the shop' });
      await developer.b.get('/merchant/webhooks');
      const saved = await developer.b.post('/merchant/webhooks/url', { webhook_url: hook.url });
      assert.equal(saved.status, 303);
      assert.equal(saved.location, '/merchant/webhooks?done=url');
      const settings = await developer.b.get('/merchant/webhooks?lang=en&done=url');
      assert.match(settings.body, new RegExp(`value="${hook.url}"`));
      assert.match(settings.body, /The webhook URL is saved/);

      for (const refused of ['ftp://example.com/hook', 'https://user:secret@example.com/hook', 'not a url']) {
        const page = await developer.b.post(
          '/merchant/webhooks/url',
          { webhook_url: refused },
          { csrf: /name="_csrf" value="([^"]+)"/.exec(settings.body)![1]! },
        );
        assert.equal(page.status, 400, refused);
      }
      assert.equal((await t.kasa.webhooks.settings(shopA.merchant_id)).webhook_url, hook.url, 'refusals changed nothing');

      await developer.b.get('/merchant/webhooks');
      const ping = await developer.b.post('/merchant/webhooks/ping', {});
      assert.equal(ping.status, 200, ping.body.slice(0, 400));
      assert.match(ping.body, /data-ping-status>202</);
      assert.match(ping.body, /pong from the shop/);
      assert.equal(hook.received.length, 1);
      assert.equal(JSON.parse(hook.received[0]!.body).type, 'ping');

      await developer.b.get('/merchant/webhooks');
      const rotated = await developer.b.post('/merchant/webhooks/secret', {});
      assert.equal(rotated.status, 200);
      const secret = /data-once>(whsec_[A-Za-z0-9+/=]+)</.exec(rotated.body)?.[1];
      assert.ok(secret, 'the new secret is on the answer page');
      assert.ok(!(await developer.b.get('/merchant/webhooks')).body.includes(secret), 'the secret is shown once');
      assert.match((await developer.b.get('/merchant/webhooks?lang=en')).body, /The previous secret still signs until/);

      const keyed = await developer.b.post('/merchant/webhooks/signing-key', {});
      assert.equal(keyed.location, '/merchant/webhooks?done=key');
      const publicKey = (await t.kasa.webhooks.settings(shopA.merchant_id)).signing_public_key!;
      assert.match(publicKey, /^whpk_/);
      assert.ok((await viewer.b.get('/merchant/webhooks')).body.includes(publicKey), 'a viewer sees the public key');

      // A ping with no URL: a clear page. Set back to the main receiver for the other tests.
      await developer.b.get('/merchant/webhooks');
      await developer.b.post('/merchant/webhooks/url', { webhook_url: '' });
      assert.equal((await t.kasa.webhooks.settings(shopA.merchant_id)).webhook_url, null);
      await developer.b.get('/merchant/webhooks');
      assert.equal((await developer.b.post('/merchant/webhooks/ping', {})).status, 400);
      await developer.b.get('/merchant/webhooks');
      await developer.b.post('/merchant/webhooks/url', { webhook_url: rx.url });

      const actions = await auditActions(shopA.merchant_id);
      for (const action of ['merchant.webhook_url', 'webhook.ping', 'webhook.secret_rotate', 'webhook.signing_key'])
        assert.ok(actions.includes(action), action);
      const url = await t.kasa.db.selectFrom('audit_log').selectAll().where('action', '=', 'merchant.webhook_url').orderBy('id').executeTakeFirstOrThrow();
      assert.deepEqual(url.after, { webhook_url: hook.url });
      const rotation = await t.kasa.db.selectFrom('audit_log').selectAll().where('action', '=', 'webhook.secret_rotate').executeTakeFirstOrThrow();
      assert.ok(!JSON.stringify(rotation, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).includes(secret), 'no secret in the log');
      // Shop B's settings are its own.
      assert.equal((await t.kasa.webhooks.settings(shopB.merchant_id)).webhook_url, null);
    } finally {
      await hook.close();
    }
  });

  test('users: an owner invites, changes roles and removes; the last owner is kept; others are not found', async () => {
    const page = await owner.b.get('/merchant/users?lang=en');
    for (const p of [owner, developer, viewer]) assert.match(page.body, new RegExp(`data-user="${p.id}"`));
    assert.ok(!page.body.includes(ownerB.email), "another merchant's users are not listed");

    const invited = await owner.b.post('/merchant/users', { email: 'new@shop-a.example', name: 'New Person', merchant_role: 'developer' });
    assert.equal(invited.status, 201, invited.body.slice(0, 300));
    const link = /data-once>(https:\/\/pay\.kasa\.test\/set-password\/[A-Za-z0-9_-]+)</.exec(invited.body)?.[1];
    assert.ok(link, 'the set-password link, once');
    const newcomer = browser();
    await setPassword(newcomer, link, PASSWORD, t.clock.now());
    assert.equal((await newcomer.signIn('new@shop-a.example', PASSWORD)).location, '/merchant');
    const newId = /data-user="([^"]+)">\n<p><strong>New Person</.exec((await owner.b.get('/merchant/users')).body)?.[1];
    assert.ok(newId);
    assert.ok(!(await owner.b.get('/merchant/users')).body.includes('set-password'), 'the link is not shown again');

    await owner.b.get('/merchant/users');
    assert.equal((await owner.b.post('/merchant/users', { email: 'new@shop-a.example', merchant_role: 'viewer' })).status, 409, 'the email is taken');
    await owner.b.get('/merchant/users');
    assert.equal((await owner.b.post('/merchant/users', { email: 'x@shop-a.example', merchant_role: 'admin' })).status, 400);
    await owner.b.get('/merchant/users');
    assert.equal((await owner.b.post('/merchant/users', { email: 'not an email', merchant_role: 'viewer' })).status, 400);

    await owner.b.get('/merchant/users');
    const demoted = await owner.b.post(`/merchant/users/${newId}/role`, { merchant_role: 'viewer' });
    assert.equal(demoted.location, '/merchant/users?done=role');
    assert.equal((await t.kasa.users.get(newId)).merchant_role, 'viewer');
    assert.equal((await newcomer.get('/merchant/keys?lang=en')).body.includes('Create a key'), false, 'the new role applies at once');

    // The last owner: neither demoted nor removed.
    await owner.b.get('/merchant/users');
    assert.equal((await owner.b.post(`/merchant/users/${owner.id}/role`, { merchant_role: 'developer' })).status, 409);
    await owner.b.get('/merchant/users');
    assert.equal((await owner.b.post(`/merchant/users/${owner.id}/remove`, {})).status, 409);
    assert.equal((await t.kasa.users.get(owner.id)).merchant_role, 'owner');

    // Another merchant's owner reaches none of A's users.
    await ownerB.b.get('/merchant/users');
    assert.equal((await ownerB.b.post(`/merchant/users/${newId}/role`, { merchant_role: 'owner' })).status, 404);
    await ownerB.b.get('/merchant/users');
    assert.equal((await ownerB.b.post(`/merchant/users/${newId}/remove`, {})).status, 404);
    // A developer is not an owner.
    await developer.b.get('/merchant');
    assert.equal((await developer.b.post(`/merchant/users/${newId}/role`, { merchant_role: 'owner' })).status, 403);

    await owner.b.get('/merchant/users');
    const removed = await owner.b.post(`/merchant/users/${newId}/remove`, {});
    assert.equal(removed.location, '/merchant/users?done=removed');
    assert.equal((await newcomer.get('/merchant')).location, '/login', "the removed user's session ended");
    assert.equal((await browser().signIn('new@shop-a.example', PASSWORD)).location === '/merchant', false, 'and they cannot sign in');
    await owner.b.get('/merchant/users');
    assert.equal((await owner.b.post(`/merchant/users/${newId}/remove`, {})).status, 409, 'removed already');

    // With a second owner either may step down; two owners demoting each other at once leave one.
    await owner.b.get('/merchant/users');
    assert.equal((await owner.b.post(`/merchant/users/${developer.id}/role`, { merchant_role: 'owner' })).location, '/merchant/users?done=role');
    await Promise.all([owner.b.get('/merchant/users'), developer.b.get('/merchant/users')]);
    const crossed = await Promise.all([
      owner.b.post(`/merchant/users/${developer.id}/role`, { merchant_role: 'developer' }),
      developer.b.post(`/merchant/users/${owner.id}/role`, { merchant_role: 'developer' }),
    ]);
    assert.deepEqual(crossed.map((a) => a.status).sort(), [303, 409], 'one demotion wins, the other would leave no owner');
    const owners = (await t.kasa.users.list({ merchantId: shopA.merchant_id }, { limit: 100 })).items.filter(
      (u) => u.status === 'active' && u.merchant_role === 'owner',
    );
    assert.equal(owners.length, 1);
    if (owners[0]!.id !== owner.id) {
      // The developer won: give the owner back their role for the tests after this one.
      await developer.b.get('/merchant/users');
      assert.equal((await developer.b.post(`/merchant/users/${owner.id}/role`, { merchant_role: 'owner' })).status, 303);
      await owner.b.get('/merchant/users');
    }
    await owner.b.get('/merchant/users');
    assert.equal((await owner.b.post(`/merchant/users/${developer.id}/role`, { merchant_role: 'developer' })).status, 303);

    const actions = await auditActions(shopA.merchant_id);
    for (const action of ['user.create', 'user.role', 'user.remove']) assert.ok(actions.includes(action), action);
    const role = await t.kasa.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'user.role')
      .where('target', '=', `user:${newId}`)
      .executeTakeFirstOrThrow();
    assert.deepEqual([role.before, role.after, role.actor_email], [{ merchant_role: 'developer' }, { merchant_role: 'viewer' }, owner.email]);
  });

  test('two-factor sign-in: optional for merchant staff, turned on with a current code, then asked at every sign-in', async () => {
    const me = await person('careful@shop-a.example', shopA.merchant_id, 'viewer');
    const page = await me.b.get('/merchant/two-factor?lang=en');
    assert.equal(page.status, 200);
    const secret = /name="totp_secret" value="([A-Z2-7]+)"/.exec(page.body)?.[1];
    assert.ok(secret, 'a fresh key on the page');
    assert.match(page.body, /href="otpauth:\/\/totp\//);

    const wrong = await me.b.post('/merchant/two-factor', { totp_secret: secret, code: '000000' });
    assert.equal(wrong.status, 400);
    assert.equal((await t.kasa.users.get(me.id)).totp_enabled, false);
    const forged = await me.b.post('/merchant/two-factor', { totp_secret: 'not-base32', code: totpCode(secret, t.clock.now()) }, { csrf: csrfOf(wrong.body) });
    assert.equal(forged.status, 400);

    const on = await me.b.post('/merchant/two-factor', { totp_secret: secret, code: totpCode(secret, t.clock.now()) }, { csrf: csrfOf(forged.body) });
    assert.equal(on.status, 200, on.body.slice(0, 300));
    assert.equal([...on.body.matchAll(/<li><code>/g)].length, 10, 'ten recovery codes, once');
    assert.equal((await t.kasa.users.get(me.id)).totp_enabled, true);
    assert.match((await me.b.get('/merchant/two-factor?lang=en')).body, /Two-factor sign-in is on/);
    assert.equal(
      (await me.b.post('/merchant/two-factor', { totp_secret: secret, code: totpCode(secret, t.clock.now()) })).location,
      '/merchant/two-factor',
      'on already',
    );

    const row = await t.kasa.db.selectFrom('audit_log').selectAll().where('action', '=', 'user.two_factor').executeTakeFirstOrThrow();
    assert.deepEqual([row.merchant_id, row.target, row.after], [shopA.merchant_id, `user:${me.id}`, { two_factor: 'on' }]);
    assert.ok(!JSON.stringify(row, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).includes(secret), 'no secret in the log');

    const again = browser();
    await again.get('/login');
    assert.equal((await again.post('/login', { email: me.email, password: PASSWORD })).location, '/login/code', 'the password alone no longer signs in');
    t.clock.advance(30_000);
    assert.equal((await browser().signIn(me.email, PASSWORD, secret, t.clock.now())).location, '/merchant');
  });

  test("the audit log page: the merchant's own rows, newest first", async () => {
    const page = await owner.b.get('/merchant/audit?lang=en');
    assert.equal(page.status, 200);
    const actions = [...page.body.matchAll(/data-action="([^"]+)"/g)].map((m) => m[1]);
    assert.ok(actions.includes('api_key.revoke') && actions.includes('user.remove') && actions.includes('delivery.resend'), actions.join());
    assert.match(page.body, new RegExp(owner.email.replace('.', '\\.')));
    const theirs = await ownerB.b.get('/merchant/audit?lang=en');
    assert.ok(!theirs.body.includes('api_key.revoke'), "another merchant's rows are not shown");
  });

  // Every form that changes the merchant; turning on one's own two-factor sign-in is the one form
  // a viewer may send (their account, not the merchant), tested above.
  test("a viewer's forged posts are refused on every form, and a post without the form's token on every form", async () => {
    const id = await invoice(shopA);
    const forms = [
      `/merchant/invoices/${id}/deliveries/${id}/resend`,
      '/merchant/keys',
      `/merchant/keys/${shopA.key_id}/revoke`,
      '/merchant/webhooks/url',
      '/merchant/webhooks/secret',
      '/merchant/webhooks/signing-key',
      '/merchant/webhooks/ping',
      '/merchant/users',
      `/merchant/users/${owner.id}/role`,
      `/merchant/users/${owner.id}/remove`,
    ];
    assert.equal((await owner.b.post('/merchant/two-factor', {}, { csrf: null })).status, 403, 'two-factor without a token');
    const auditBefore = (await auditActions(shopA.merchant_id)).length;
    const settingsBefore = await t.kasa.webhooks.settings(shopA.merchant_id);
    await viewer.b.get('/merchant');
    for (const form of forms) {
      const answer = await viewer.b.post(form, {
        webhook_url: 'https://evil.example/hook',
        scope_invoices: 'on',
        email: 'evil@shop-a.example',
        merchant_role: 'viewer',
      });
      assert.equal(answer.status, 403, form);
      assert.match(answer.body, /<h1>/, 'a page, not an error body');
    }
    for (const form of forms) assert.equal((await owner.b.post(form, {}, { csrf: null })).status, 403, `${form} without a token`);
    assert.equal((await auditActions(shopA.merchant_id)).length, auditBefore, 'nothing changed');
    assert.deepEqual(await t.kasa.webhooks.settings(shopA.merchant_id), settingsBefore);
    assert.equal((await t.kasa.merchants.listApiKeys(shopA.merchant_id, { limit: 100 })).items.find((k) => k.keyId === shopA.key_id)!.revokedAt, null);
  });
});
