// The payment page through the real HTTP app and a real database: every state, the deal opening
// on first view, "I have paid" with CSRF, escaping, headers, size, languages, the status JSON.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { fromAcceptLanguage } from '../src/checkout/i18n.ts';
import { PUBLIC_URL, startKasa, type TestKasa } from './helpers/kasa.ts';
import { addTrader, ledgerClean, trader, type TestTrader } from './helpers/traders.ts';

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
const CARD = '4111111111111111';
const CARD_GROUPED = '4111 1111 1111 1111';
const HOSTILE = `<script>alert(1)</script>"'&`;
const PAGE_SIZE_MAX_BYTES = 50 * 1024;
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

describe('payment page', () => {
  let t: TestKasa;
  let apiKey: string;
  let main: TestTrader;
  let amountSeq = 0;
  let externalSeq = 0;

  /** A pending UAH invoice with an amount no other open deal has (a requisite takes one deal per amount). */
  async function newInvoice(body: Record<string, unknown> = {}, key = apiKey) {
    const amount = (1000 + ++amountSeq).toFixed(2);
    const res = await t.createInvoice(key, { amount, external_id: `page-${++externalSeq}`, ...body });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { invoice_id: string; amount: string; currency: string; payment_link: string; expires_at: string };
  }

  const view = (id: string, headers: Record<string, string> = {}, query = '') => t.inject({ method: 'GET', url: `/pay/${id}${query}`, headers });
  const status = (id: string) => t.inject({ method: 'GET', url: `/pay/${id}/status` });

  async function dealsOf(invoiceId: string) {
    return t.database.db.selectFrom('deals').selectAll().where('invoice_id', '=', invoiceId).execute();
  }

  async function dealCount(): Promise<number> {
    const row = await t.database.db
      .selectFrom('deals')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** The CSRF cookie the page set and the token its form carries. */
  function csrfOf(page: LightMyRequestResponse): { cookie: string; token: string } {
    const setCookie = [page.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith('kasa_csrf='));
    assert.ok(setCookie, 'the page sets the CSRF cookie');
    const token = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
    assert.ok(token, 'the form carries a CSRF token');
    return { cookie: setCookie.split(';')[0] as string, token };
  }

  function pressPaid(id: string, form: string, cookie?: string, remoteAddress?: string) {
    return t.inject({
      method: 'POST',
      url: `/pay/${id}/paid`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
      payload: form,
      ...(remoteAddress ? { remoteAddress } : {}),
    });
  }

  async function confirm(invoiceId: string) {
    const [deal] = await dealsOf(invoiceId);
    assert.ok(deal, 'the invoice has a deal');
    const res = await trader(t, main.api_key, 'POST', `/api/v1/trader/deals/${deal.id}/confirm`);
    assert.equal(res.statusCode, 200, res.body);
  }

  function assertPageHeaders(res: LightMyRequestResponse) {
    assert.equal(res.headers['content-security-policy'], CSP);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    assert.equal(res.headers['cache-control'], 'no-store');
  }

  function assertNoCard(res: LightMyRequestResponse) {
    assert.ok(!res.body.includes(CARD), 'no full card number');
    assert.ok(!res.body.includes(CARD_GROUPED), 'no grouped card number');
  }

  before(async () => {
    t = await startKasa();
    await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 100000, customer_max_pending: 100000 });
    apiKey = (await t.createMerchant({ name: 'Coffee Beans Ltd' })).api_key;
    // One card takes every page test's deal: many open deals at once, each with its own amount.
    // 777.00 is below its minimum, so that amount goes to the hostile trader's card only.
    main = await addTrader(t, {
      deposit: '100000.00',
      requisites: [
        { card_number: CARD, bank_name: 'PrivatBank', holder_name: 'Olena Kovalenko', max_open_deals: 1000, min_amount: '1000.00', max_amount: '50000.00' },
      ],
    });
  });
  after(async () => {
    const ledger = await ledgerClean(t);
    assert.ok(ledger.ok, ledger.body);
    await t.close();
  });

  test('the first view opens the deal and shows what to pay, to which card, and until when', async () => {
    const invoice = await newInvoice({ amount: '1500.00', purpose: 'Premium subscription' });
    assert.deepEqual(await dealsOf(invoice.invoice_id), [], 'creating the invoice opens no deal');

    const res = await view(invoice.invoice_id);
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^text\/html; charset=utf-8/);
    assertPageHeaders(res);
    const deals = await dealsOf(invoice.invoice_id);
    assert.equal(deals.length, 1);
    assert.equal(deals[0]?.status, 'awaiting_payment');

    assert.match(res.body, /<span class="value" id="amount">1500\.00<\/span> <span class="currency">UAH<\/span>/);
    assert.ok(res.body.includes(CARD_GROUPED), 'card number grouped in fours');
    assert.ok(res.body.includes(`data-copy="${CARD}"`), 'copy button copies the digits');
    assert.ok(res.body.includes('PrivatBank'));
    assert.ok(res.body.includes('Olena Kovalenko'));
    assert.ok(res.body.includes('Coffee Beans Ltd'));
    assert.ok(res.body.includes('Premium subscription'));
    assert.match(res.body, /<time id="countdown" datetime="2026-02-25T12:20:00Z" data-seconds-left="1200">20:00<\/time>/);
    assert.ok(res.body.includes(`<form class="paid" method="post" action="/pay/${invoice.invoice_id}/paid">`));
    assert.ok(!/<script>|<style|style="|\son\w+=/i.test(res.body), 'no inline script, style or handler');
  });

  test('reopening shows the same deal and the same card', async () => {
    const invoice = await newInvoice();
    const first = await view(invoice.invoice_id);
    t.clock.advance(60_000);
    const second = await view(invoice.invoice_id);
    assert.equal(second.statusCode, 200);
    assert.ok(first.body.includes(CARD_GROUPED) && second.body.includes(CARD_GROUPED));
    assert.equal((await dealsOf(invoice.invoice_id)).length, 1);
    assert.match(second.body, /data-seconds-left="1140">19:00</, 'the countdown follows the clock');
  });

  test('20 concurrent first views open exactly one deal', async () => {
    const invoice = await newInvoice();
    const before = await dealCount();
    const pages = await Promise.all(Array.from({ length: 20 }, () => view(invoice.invoice_id)));
    for (const page of pages) {
      assert.equal(page.statusCode, 200);
      assert.ok(page.body.includes(CARD_GROUPED));
    }
    assert.equal((await dealsOf(invoice.invoice_id)).length, 1);
    assert.equal(await dealCount(), before + 1);
  });

  test('"I have paid" with the page\'s CSRF token: 303 back to the page, deal customer_paid, confirming page', async () => {
    const invoice = await newInvoice();
    const page = await view(invoice.invoice_id);
    const { cookie, token } = csrfOf(page);

    const res = await pressPaid(invoice.invoice_id, `_csrf=${encodeURIComponent(token)}&lang=en`, cookie);
    assert.equal(res.statusCode, 303, res.body);
    assert.equal(res.headers.location, `/pay/${invoice.invoice_id}?lang=en&after=paid`);
    const [deal] = await dealsOf(invoice.invoice_id);
    assert.equal(deal?.status, 'customer_paid');

    const after = await view(invoice.invoice_id, { cookie }, '?lang=en');
    assert.equal(after.statusCode, 200);
    assert.ok(after.body.includes('Checking your payment'));
    assert.ok(after.body.includes(CARD_GROUPED), 'the deal is still open: its card is still shown');
    assert.ok(!after.body.includes('/paid"'), 'nothing left to press');
    assert.ok(after.body.includes('/receipt"'), 'a receipt may be uploaded (issue #12 section 4)');
    assert.equal((await status(invoice.invoice_id)).json().deal_status, 'customer_paid');

    // Pressing again changes nothing and still answers 303.
    const again = await pressPaid(invoice.invoice_id, `_csrf=${encodeURIComponent(token)}`, cookie);
    assert.equal(again.statusCode, 303);
    assert.equal(again.headers.location, `/pay/${invoice.invoice_id}?after=paid`);
  });

  test('the CSRF cookie is set once per browser: httpOnly, SameSite=Lax, for /pay only, and reused', async () => {
    const first = await view((await newInvoice()).invoice_id);
    const setCookie = [first.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith('kasa_csrf=')) as string;
    const { cookie } = csrfOf(first);
    assert.match(cookie, /^kasa_csrf=[0-9a-f]{32}$/, 'a 128-bit hex secret');
    assert.match(setCookie, /; Path=\/pay(;|$)/);
    assert.match(setCookie, /; HttpOnly(;|$)/);
    assert.match(setCookie, /; SameSite=Lax(;|$)/);
    assert.notEqual(csrfOf(await view((await newInvoice()).invoice_id)).cookie, cookie, 'each new browser gets its own secret');

    // The same browser on another invoice's page: no new cookie, and the token works with its cookie.
    const invoice = await newInvoice();
    const again = await view(invoice.invoice_id, { cookie });
    assert.equal([again.headers['set-cookie'] ?? []].flat().length, 0, 'the secret is kept');
    const token = /name="_csrf" value="([^"]+)"/.exec(again.body)?.[1] as string;
    const res = await pressPaid(invoice.invoice_id, `_csrf=${encodeURIComponent(token)}`, cookie);
    assert.equal(res.statusCode, 303, res.body);
    assert.equal((await dealsOf(invoice.invoice_id))[0]?.status, 'customer_paid');
  });

  test('"I have paid" without or with a wrong CSRF token: 403, nothing changed', async () => {
    const invoice = await newInvoice();
    const page = await view(invoice.invoice_id);
    const { cookie, token } = csrfOf(page);
    const other = csrfOf(await view((await newInvoice()).invoice_id, {}));

    const attempts: [string, string, string | undefined][] = [
      ['no token, no cookie', '', undefined],
      ['token without its cookie', `_csrf=${encodeURIComponent(token)}`, undefined],
      ['cookie without a token', 'lang=uk', cookie],
      ['a made-up token', '_csrf=forged-token', cookie],
      ["another browser's token", `_csrf=${encodeURIComponent(other.token)}`, cookie],
      ["the token with another browser's cookie", `_csrf=${encodeURIComponent(token)}`, other.cookie],
    ];
    // The same browser's cookie and a token its other open invoice's page served: bound to that invoice.
    const second = await newInvoice();
    const secondPage = await t.inject({ method: 'GET', url: `/pay/${second.invoice_id}`, headers: { cookie } });
    const secondToken = /name="_csrf" value="([^"]+)"/.exec(secondPage.body)?.[1];
    assert.ok(secondToken, "the other invoice's page carries its form");
    attempts.push(["the same browser's token for another invoice", `_csrf=${encodeURIComponent(secondToken)}`, cookie]);
    for (const [what, form, withCookie] of attempts) {
      const res = await pressPaid(invoice.invoice_id, form, withCookie);
      assert.equal(res.statusCode, 403, `${what}: ${res.body.slice(0, 200)}`);
      assert.match(res.headers['content-type'] as string, /^text\/html/);
      assert.ok(res.body.includes(`href="/pay/${invoice.invoice_id}?lang=`), `${what}: leads back to the page`);
      assertPageHeaders(res);
    }
    const json = await t.inject({ method: 'POST', url: `/pay/${invoice.invoice_id}/paid`, payload: { lang: 'en' } });
    assert.equal(json.statusCode, 403);
    const [deal] = await dealsOf(invoice.invoice_id);
    assert.equal(deal?.status, 'awaiting_payment');
  });

  test('a hostile purpose, merchant name, bank and holder name are shown as text', async () => {
    const hostile = await t.createMerchant({ name: `<script>alert(2)</script> & Co` });
    await addTrader(t, {
      deposit: '1000.00',
      requisites: [{ bank_name: '<img src=x onerror=alert(3)>', holder_name: `"><script>alert(4)</script>`, min_amount: '777.00', max_amount: '777.00' }],
    });
    const invoice = await newInvoice({ amount: '777.00', purpose: HOSTILE }, hostile.api_key);
    const res = await view(invoice.invoice_id, {}, '?lang=en');
    assert.equal(res.statusCode, 200);
    assert.equal(res.body.match(/<script/g)?.length, 1, "only Kasa's own <script src>");
    assert.ok(!res.body.includes('<img'));
    assert.ok(!res.body.includes('alert(1)</script>'));
    assert.ok(res.body.includes('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;'), 'purpose escaped');
    assert.ok(res.body.includes('&lt;script&gt;alert(2)&lt;/script&gt; &amp; Co'), 'merchant name escaped');
    assert.ok(res.body.includes('&lt;img src=x onerror=alert(3)&gt;'), 'bank name escaped');
    assert.ok(res.body.includes('&quot;&gt;&lt;script&gt;alert(4)&lt;/script&gt;'), 'holder name escaped');

    const malformed = await t.inject({ method: 'GET', url: `/pay/${encodeURIComponent('<script>alert(5)</script>')}` });
    assert.equal(malformed.statusCode, 404);
    assert.ok(!malformed.body.includes('alert(5)</script>'));
  });

  test("the whole page, with its CSS and JS, is under 50 KB; assets are Kasa's own and cached for long", async () => {
    const invoice = await newInvoice({ purpose: 'x'.repeat(255) });
    const res = await view(invoice.invoice_id);
    const assets = [...res.body.matchAll(/(?:href|src)="(\/pay\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
    assert.equal(assets.length, 2, 'one stylesheet, one script');
    let bytes = Buffer.byteLength(res.body);
    for (const url of assets) {
      const asset = await t.inject({ method: 'GET', url });
      assert.equal(asset.statusCode, 200);
      assert.match(asset.headers['content-type'] as string, url.includes('.css') ? /^text\/css/ : /^text\/javascript/);
      assert.equal(asset.headers['cache-control'], 'public, max-age=31536000, immutable');
      assert.equal(asset.headers['x-content-type-options'], 'nosniff');
      bytes += asset.rawPayload.length;
    }
    assert.ok(bytes <= PAGE_SIZE_MAX_BYTES, `page is ${bytes} bytes`);
    // Nothing on the page points anywhere but Kasa itself.
    assert.ok(!/(?:href|src|action)="(?:https?:)?\/\//.test(res.body), 'no third-party URL');
  });

  test('language: ?lang= first, then Accept-Language, then Ukrainian for UAH and English otherwise', async () => {
    const invoice = await newInvoice();
    const id = invoice.invoice_id;
    const cases: [Record<string, string>, string, 'uk' | 'en'][] = [
      [{}, '', 'uk'],
      [{}, '?lang=en', 'en'],
      [{ 'accept-language': 'en-US,en;q=0.9' }, '', 'en'],
      [{ 'accept-language': 'en-US,en;q=0.9' }, '?lang=uk', 'uk'],
      [{ 'accept-language': 'de-DE, en;q=0.5, uk;q=0.8' }, '', 'uk'],
      [{ 'accept-language': 'de-DE' }, '', 'uk'],
      [{}, '?lang=xx', 'uk'],
    ];
    for (const [headers, query, lang] of cases) {
      const res = await view(id, headers, query);
      assert.equal(res.statusCode, 200);
      assert.ok(res.body.includes(`<html lang="${lang}">`), `${JSON.stringify(headers)} ${query} → ${lang}`);
      assert.ok(res.body.includes(lang === 'uk' ? 'Переказати рівно' : 'Transfer exactly'));
      assert.ok(res.body.includes(`name="lang" value="${lang}"`), 'the form keeps the language');
    }
    assert.equal(fromAcceptLanguage('fr, EN-gb;q=0.3'), 'en');
    assert.equal(fromAcceptLanguage('uk;q=0, en;q=0.1'), 'en');
    assert.equal(fromAcceptLanguage('fr'), null);

    // A currency other than UAH defaults to English. No trader takes EUR: the assigning page.
    const eur = await t.admin('PUT', '/admin/v1/currencies/EUR', { enabled: true, rate: '0.92' });
    assert.equal(eur.statusCode, 200, eur.body);
    const euro = await newInvoice({ currency_code: 'EUR' });
    const page = await view(euro.invoice_id);
    assert.ok(page.body.includes('<html lang="en">'));
    assert.ok(page.body.includes('Looking for a recipient'));
  });

  test('no trader available: says so, retries by itself, the invoice stays pending without a deal', async () => {
    const invoice = await newInvoice({ amount: '60000.00' });
    const res = await view(invoice.invoice_id);
    assert.equal(res.statusCode, 200);
    assertPageHeaders(res);
    assert.ok(res.body.includes('Зараз немає вільного отримувача'));
    assert.ok(res.body.includes('<meta http-equiv="refresh" content="10">'), 'retries without JavaScript');
    assert.ok(res.body.includes('60000.00'));
    assert.deepEqual(await dealsOf(invoice.invoice_id), []);
    assert.deepEqual((await status(invoice.invoice_id)).json(), {
      status: 'pending',
      deal_status: null,
      expires_at: invoice.expires_at,
      redirect_url: null,
    });
  });

  test('deals switched off: "temporarily unavailable" and no deal opens', async () => {
    const invoice = await newInvoice();
    const off = await t.admin('PATCH', '/admin/v1/settings', { deals_enabled: false });
    assert.equal(off.statusCode, 200, off.body);
    try {
      const before = await dealCount();
      const res = await view(invoice.invoice_id);
      assert.equal(res.statusCode, 200);
      assertPageHeaders(res);
      assert.ok(res.body.includes('Платежі тимчасово недоступні'));
      assert.ok((await view(invoice.invoice_id, {}, '?lang=en')).body.includes('Payments are temporarily unavailable'));
      assert.deepEqual(await dealsOf(invoice.invoice_id), []);
      assert.equal(await dealCount(), before);
    } finally {
      await t.admin('PATCH', '/admin/v1/settings', { deals_enabled: true });
    }
    assert.equal((await view(invoice.invoice_id)).statusCode, 200);
    assert.equal((await dealsOf(invoice.invoice_id)).length, 1, 'switched back on, the page opens the deal');
  });

  test('the status JSON: read-only, never opens a deal, follows the deal and names where to go', async () => {
    const invoice = await newInvoice();
    const id = invoice.invoice_id;
    const pending = await status(id);
    assert.equal(pending.statusCode, 200);
    assert.equal(pending.headers['cache-control'], 'no-store');
    assert.deepEqual(pending.json(), { status: 'pending', deal_status: null, expires_at: invoice.expires_at, redirect_url: null });
    assert.deepEqual(await dealsOf(id), [], 'polling opened nothing');

    await view(id);
    assert.equal((await status(id)).json().deal_status, 'awaiting_payment');
    await confirm(id);
    assert.deepEqual((await status(id)).json(), {
      status: 'success',
      deal_status: null,
      expires_at: invoice.expires_at,
      redirect_url: 'https://yoursite.com/payment/success',
    });

    const noUrls = await newInvoice({ success_url: null, fail_url: null });
    await view(noUrls.invoice_id);
    await confirm(noUrls.invoice_id);
    assert.equal((await status(noUrls.invoice_id)).json().redirect_url, `${PUBLIC_URL}/pay/${noUrls.invoice_id}`);

    for (const unknown of [UNKNOWN_ID, 'not-a-uuid']) {
      const res = await status(unknown);
      assert.equal(res.statusCode, 404);
      assert.equal(res.json().error.code, 'INVOICE_NOT_FOUND');
      assert.equal(res.json().successful, false);
    }
  });

  test('success: 303 to success_url after the trader confirms, else a success page without the card', async () => {
    const invoice = await newInvoice();
    // The form as the customer's page served it, before the trader confirmed.
    const { cookie, token } = csrfOf(await view(invoice.invoice_id));
    await confirm(invoice.invoice_id);
    const res = await view(invoice.invoice_id);
    assert.equal(res.statusCode, 303);
    assert.equal(res.headers.location, 'https://yoursite.com/payment/success');
    assertNoCard(res);

    // Pressed after the trader confirmed: the form's redirect must stay on Kasa (browsers apply
    // form-action 'self' to it), so the page leaves for success_url by meta refresh instead.
    const late = await pressPaid(invoice.invoice_id, `_csrf=${encodeURIComponent(token)}&lang=en`, cookie);
    assert.equal(late.statusCode, 303);
    const leaving = await t.inject({ method: 'GET', url: late.headers.location as string });
    assert.equal(leaving.statusCode, 200);
    assertPageHeaders(leaving);
    assert.ok(leaving.body.includes('<meta http-equiv="refresh" content="0;url=https://yoursite.com/payment/success">'));
    assert.ok(leaving.body.includes('href="https://yoursite.com/payment/success"'));
    assertNoCard(leaving);

    const plain = await newInvoice({ success_url: null });
    await view(plain.invoice_id);
    await confirm(plain.invoice_id);
    const page = await view(plain.invoice_id);
    assert.equal(page.statusCode, 200);
    assertPageHeaders(page);
    assert.ok(page.body.includes('Оплату отримано'));
    assertNoCard(page);
  });

  test('cancelled by the merchant: 303 to fail_url, else a page that says so', async () => {
    for (const failUrl of ['https://yoursite.com/payment/failed', null]) {
      const invoice = await newInvoice({ fail_url: failUrl });
      const { cookie, token } = csrfOf(await view(invoice.invoice_id));
      const cancel = await t.inject({ method: 'POST', url: `/api/v1/invoices/${invoice.invoice_id}/cancel`, headers: { 'x-api-key': apiKey } });
      assert.equal(cancel.statusCode, 200, cancel.body);
      const res = await view(invoice.invoice_id, {}, '?lang=en');
      assertNoCard(res);
      if (failUrl) {
        assert.equal(res.statusCode, 303);
        assert.equal(res.headers.location, failUrl);
      } else {
        assert.equal(res.statusCode, 200);
        assert.ok(res.body.includes('This payment has been cancelled'));
      }
      assert.equal((await status(invoice.invoice_id)).json().status, 'cancelled');
      // "I have paid" on a final invoice changes nothing.
      assert.equal((await pressPaid(invoice.invoice_id, `_csrf=${encodeURIComponent(token)}`, cookie)).statusCode, 303);
      assert.equal((await dealsOf(invoice.invoice_id))[0]?.status, 'cancelled');
    }
  });

  test('the 404 page for unknown and malformed invoice ids', async () => {
    for (const id of [UNKNOWN_ID, 'not-a-uuid', UNKNOWN_ID.toUpperCase() + 'x']) {
      const res = await view(id, { 'accept-language': 'en' });
      assert.equal(res.statusCode, 404);
      assert.match(res.headers['content-type'] as string, /^text\/html/);
      assertPageHeaders(res);
      assert.ok(res.body.includes('Payment not found'));
    }
  });

  test('the merchant API still refuses a form-encoded body', async () => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/create-invoice',
      headers: { 'x-api-key': apiKey, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'amount=1500.00',
    });
    assert.equal(res.statusCode, 400);
  });

  test('"I have paid" is rate-limited per client address', async () => {
    const invoice = await newInvoice();
    const address = '203.0.113.7';
    const answers: number[] = [];
    for (let i = 0; i < 30; i++) answers.push((await pressPaid(invoice.invoice_id, '', undefined, address)).statusCode);
    assert.deepEqual(answers, Array(30).fill(403));
    const limited = await pressPaid(invoice.invoice_id, '', undefined, address);
    assert.equal(limited.statusCode, 429);
    assert.equal(limited.json().error.code, 'RATE_LIMITED');
    assert.ok(Number(limited.headers['retry-after']) > 0);
    // Another address is not affected.
    assert.equal((await pressPaid(invoice.invoice_id, '', undefined, '203.0.113.8')).statusCode, 403);
  });

  // Last: moving the clock past every invoice's expiry.
  test('expired: 303 to fail_url once the clock passes expires_at, else a page that says so', async () => {
    const withUrl = await newInvoice();
    const plain = await newInvoice({ fail_url: null });
    await view(withUrl.invoice_id);
    await view(plain.invoice_id);
    t.clock.set(new Date(Date.parse(plain.expires_at) + 1000).toISOString());

    const res = await view(withUrl.invoice_id);
    assert.equal(res.statusCode, 303);
    assert.equal(res.headers.location, 'https://yoursite.com/payment/failed');
    const page = await view(plain.invoice_id);
    assert.equal(page.statusCode, 200);
    assert.ok(page.body.includes('Час на оплату минув'));
    assertNoCard(page);
    assert.deepEqual((await status(plain.invoice_id)).json(), {
      status: 'expired',
      deal_status: null,
      expires_at: plain.expires_at,
      redirect_url: `${PUBLIC_URL}/pay/${plain.invoice_id}`,
    });

    // The expiry sweep makes it durable; the page says the same afterwards.
    await t.kasa.deals.expireDue();
    assert.equal((await view(withUrl.invoice_id)).headers.location, 'https://yoursite.com/payment/failed');
  });
});
