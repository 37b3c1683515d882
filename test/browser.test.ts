// The payment page in a real browser: Debian's chromium, driven by playwright-core, against Kasa
// listening on a real socket. A customer opens the payment link, sees the card, presses "I have
// paid"; the trader confirms; the page's own polling takes the customer to the shop's
// success_url. Screenshots of each state go to test-results/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { chromiumMissing, chromiumRequiredInCi, freePort, launchChromium, MISSING, SCREENSHOTS_DIR } from './helpers/browser.ts';
import { startKasa, type TestKasa } from './helpers/kasa.ts';
import { addTrader, trader, type TestTrader } from './helpers/traders.ts';

/** The page polls every 3 s; a few polls of slack. */
const REDIRECT_TIMEOUT_MS = 15_000;
const CARD = '5375414112345672';
const CARD_GROUPED = '5375 4141 1234 5672';
/** A real 1×1 PNG: the receipt form checks the file's bytes, not its name. */
const RECEIPT_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
const STRINGS_UNDER_REVIEW = 'Ваш платіж на перевірці';

chromiumRequiredInCi();

/** The merchant's shop: a page for success_url and fail_url to land on. */
async function startShop(): Promise<{ server: Server; origin: string }> {
  const server = createHttpServer((request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(`<!doctype html><title>Shop</title><h1>Shop: ${request.url?.startsWith('/success') ? 'thank you' : 'payment failed'}</h1>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('payment page in a browser', { skip: chromiumMissing ? MISSING : false }, () => {
  let t: TestKasa;
  let kasaOrigin: string;
  let shop: { server: Server; origin: string };
  let apiKey: string;
  let cardTrader: TestTrader;
  let browser: Browser;
  let context: BrowserContext;
  /** Every URL the browser asked for and every CSP complaint or script error it reported. */
  const requested: string[] = [];
  const problems: string[] = [];
  let amountSeq = 0;

  async function newInvoice(body: Record<string, unknown> = {}) {
    const res = await t.createInvoice(apiKey, { amount: (1200 + ++amountSeq).toFixed(2), external_id: `browser-${amountSeq}`, ...body });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { invoice_id: string; payment_link: string };
  }

  async function newPage(): Promise<Page> {
    const page = await context.newPage();
    page.on('request', (request) => requested.push(request.url()));
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      // The 403 and 404 pages are expected answers; anything else logged as an error is not.
      if (message.type() === 'error' && !/^Failed to load resource: the server responded with a status of 40[34]/.test(message.text())) {
        problems.push(`console: ${message.text()}`);
      }
    });
    return page;
  }

  const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SCREENSHOTS_DIR, `checkout-${name}.png`), fullPage: true });

  before(async () => {
    mkdirSync(SCREENSHOTS_DIR, { recursive: true });
    const port = await freePort();
    kasaOrigin = `http://127.0.0.1:${port}`;
    t = await startKasa({ publicUrl: kasaOrigin });
    await t.app.listen({ port, host: '127.0.0.1' });
    shop = await startShop();
    await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 100000, customer_max_pending: 100000 });
    apiKey = (await t.createMerchant({ name: 'Coffee Beans Ltd' })).api_key;
    cardTrader = await addTrader(t, {
      deposit: '10000.00',
      requisites: [{ card_number: CARD, bank_name: 'Monobank', holder_name: 'Olena Kovalenko', max_open_deals: 100, max_amount: '50000.00' }],
    });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'uk-UA' });
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await new Promise<void>((resolve) => (shop ? shop.server.close(() => resolve()) : resolve()));
    await t?.close();
  });

  test('open the link, see the card, press "I have paid", trader confirms, land on success_url', async () => {
    const successUrl = `${shop.origin}/success?order=42`;
    const invoice = await newInvoice({
      amount: '1500.00',
      purpose: 'Premium subscription, 1 month',
      success_url: successUrl,
      fail_url: `${shop.origin}/failed`,
    });
    assert.ok(invoice.payment_link.startsWith(`${kasaOrigin}/pay/`));
    const page = await newPage();

    await page.goto(invoice.payment_link);
    const card = page.locator('#card-number');
    await card.waitFor({ state: 'visible' });
    assert.equal(await card.textContent(), CARD_GROUPED);
    assert.equal(await page.locator('#amount').textContent(), '1500.00');
    assert.ok(await page.locator('button.copy').first().isVisible(), 'pay.js ran and showed the copy buttons');
    await shot(page, '1-awaiting-payment');

    await Promise.all([page.waitForURL(`${invoice.payment_link}?lang=uk&after=paid`), page.locator('#paid').click()]);
    await page.getByText('Перевіряємо ваш платіж').first().waitFor();
    await shot(page, '2-awaiting-confirmation');

    const deals = await trader(t, cardTrader.api_key, 'GET', '/api/v1/trader/deals?status=customer_paid');
    const deal = (deals.json().items as { deal_id: string; invoice_id: string }[]).find((d) => d.invoice_id === invoice.invoice_id);
    assert.ok(deal, deals.body);
    const confirmed = await trader(t, cardTrader.api_key, 'POST', `/api/v1/trader/deals/${deal.deal_id}/confirm`);
    assert.equal(confirmed.statusCode, 200, confirmed.body);

    // No reload by the test: the page's own polling notices and leaves.
    await page.waitForURL(successUrl, { timeout: REDIRECT_TIMEOUT_MS });
    await page.getByText('Shop: thank you').waitFor();
    await shot(page, '3-success-url');
    await page.close();
  });

  test('"I have paid" pressed after the trader already confirmed still lands on success_url', async () => {
    const successUrl = `${shop.origin}/success?order=43`;
    const invoice = await newInvoice({ success_url: successUrl });
    const page = await newPage();
    await page.goto(invoice.payment_link);
    const [deal] = await t.database.db.selectFrom('deals').select('id').where('invoice_id', '=', invoice.invoice_id).execute();
    assert.ok(deal);
    assert.equal((await trader(t, cardTrader.api_key, 'POST', `/api/v1/trader/deals/${deal.id}/confirm`)).statusCode, 200);
    // Clicked before the polling notices; the form's redirect chain must not be blocked by form-action 'self'.
    await Promise.all([page.waitForURL(successUrl, { timeout: REDIRECT_TIMEOUT_MS }), page.locator('#paid').click()]);
    await page.close();
  });

  test('the other states render in the browser', async () => {
    const page = await newPage();
    const visit = async (url: string, text: string, name: string) => {
      await page.goto(url);
      await page.getByText(text).first().waitFor();
      await shot(page, name);
    };

    const noTrader = await newInvoice({ amount: '90000.00' });
    await visit(noTrader.payment_link, 'Шукаємо отримувача', 'no-trader');

    const paid = await newInvoice({ success_url: null });
    await page.goto(paid.payment_link);
    const [deal] = await t.database.db.selectFrom('deals').select('id').where('invoice_id', '=', paid.invoice_id).execute();
    assert.ok(deal);
    assert.equal((await trader(t, cardTrader.api_key, 'POST', `/api/v1/trader/deals/${deal.id}/confirm`)).statusCode, 200);
    // The polling reloads the page, which now shows the verdict.
    await page.getByText('Оплату отримано').waitFor({ timeout: REDIRECT_TIMEOUT_MS });
    await shot(page, 'success-page');

    const cancelled = await newInvoice({ fail_url: null });
    const cancel = await t.inject({ method: 'POST', url: `/api/v1/invoices/${cancelled.invoice_id}/cancel`, headers: { 'x-api-key': apiKey } });
    assert.equal(cancel.statusCode, 200, cancel.body);
    await visit(`${cancelled.payment_link}?lang=en`, 'This payment has been cancelled', 'cancelled');

    await visit(`${kasaOrigin}/pay/00000000-0000-4000-8000-000000000000`, 'Платіж не знайдено', 'not-found');

    const off = await newInvoice();
    await t.admin('PATCH', '/admin/v1/settings', { deals_enabled: false });
    try {
      await visit(off.payment_link, 'Платежі тимчасово недоступні', 'unavailable');
    } finally {
      await t.admin('PATCH', '/admin/v1/settings', { deals_enabled: true });
    }

    // The cookie gone, "I have paid" cannot prove it came from the page: the form-expired page.
    const stale = await newInvoice();
    await page.goto(stale.payment_link);
    await context.clearCookies();
    await Promise.all([page.waitForResponse((r) => r.url().endsWith('/paid')), page.locator('#paid').click()]);
    await page.getByText('Сторінка застаріла').waitFor();
    await shot(page, 'form-expired');

    const expired = await newInvoice({ fail_url: null });
    await page.goto(expired.payment_link);
    t.clock.advance(21 * 60_000);
    await page.reload();
    await page.getByText('Час на оплату минув').waitFor();
    await shot(page, 'expired');
    await page.close();
  });

  for (const javaScript of [true, false]) {
    test(`"I have paid", then a receipt uploaded ${javaScript ? 'with' : 'without'} JavaScript: the page says the payment is under review`, async () => {
      const invoice = await newInvoice({ amount: '1500.00', success_url: null });
      // The customer's own browser; the no-JS one is a browser with scripts off, not a request by hand.
      const own = javaScript ? context : await browser.newContext({ viewport: { width: 390, height: 844 }, javaScriptEnabled: false, locale: 'uk-UA' });
      const page = javaScript ? await newPage() : await own.newPage();
      try {
        await page.goto(invoice.payment_link);
        await page.locator('#card-number').waitFor({ state: 'visible' });
        await Promise.all([page.waitForURL(/after=paid/), page.locator('#paid').click()]);
        const form = page.locator('form.receipt-form');
        await form.waitFor({ state: 'visible' });
        await page.getByLabel('Файл квитанції').setInputFiles({ name: 'receipt.png', mimeType: 'image/png', buffer: RECEIPT_PNG });
        await page.getByLabel('Останні 4 цифри вашої картки').fill('4242');
        await page.getByLabel('Надіслана сума').fill('1500.00');
        await shot(page, `receipt-form-${javaScript ? 'js' : 'no-js'}`);
        await Promise.all([page.waitForURL(/after=receipt/), page.getByRole('button', { name: 'Надіслати квитанцію' }).click()]);
        await page.getByText(STRINGS_UNDER_REVIEW).first().waitFor();
        await shot(page, `receipt-under-review-${javaScript ? 'js' : 'no-js'}`);

        // The receipt is the dispute's file, kept by Kasa for the merchant, the trader and operators.
        const [dispute] = await t.database.db.selectFrom('disputes').select(['id', 'status']).where('invoice_id', '=', invoice.invoice_id).execute();
        assert.equal(dispute?.status, 'awaiting_trader');
        const files = await t.database.db.selectFrom('dispute_files').select(['content_type', 'size_bytes']).where('dispute_id', '=', dispute.id).execute();
        assert.deepEqual(files, [{ content_type: 'image/png', size_bytes: RECEIPT_PNG.length }]);
        // A reload keeps saying so: the verdict is the server's, not the script's.
        await page.reload();
        await page.getByText(STRINGS_UNDER_REVIEW).first().waitFor();
      } finally {
        await page.close();
        if (!javaScript) await own.close();
      }
    });
  }

  test('no request left Kasa but the redirect to the shop, and no CSP violation or script error', () => {
    const foreign = requested.filter((url) => !url.startsWith(`${kasaOrigin}/`) && !url.startsWith(`${shop.origin}/`) && !url.startsWith('data:'));
    assert.deepEqual(foreign, []);
    assert.deepEqual(problems, []);
  });
});
