// The merchant cabinet in a real browser: Debian's chromium, driven by playwright-core, against
// Kasa listening on a real socket, with a real local webhook receiver. A merchant's owner signs
// in (no code: TOTP is optional for merchants), finds a paid invoice as `success`, opens its
// webhook attempts and resends one, and the receiver gets the event twice. A viewer's forged
// post is refused. Every page of the cabinet is shot on a phone and on a desktop into
// test-results/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { DeliveryWorker } from '../src/webhooks/delivery.ts';
import { CabinetBrowser, csrfOf, fetchTransport, setPassword } from './helpers/cabinet.ts';
import { chromiumMissing, chromiumRequiredInCi, freePort, launchChromium, MISSING, SCREENSHOTS_DIR } from './helpers/browser.ts';
import { startKasa, type TestKasa } from './helpers/kasa.ts';
import { Receiver } from './helpers/receiver.ts';
import { addTrader, trader, type TestTrader } from './helpers/traders.ts';

const PASSWORD = 'quiet-harbour-48-compass';
const VIEWPORTS = {
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true },
  desktop: { viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 },
} as const;

chromiumRequiredInCi();

describe('merchant cabinet in a browser', { skip: chromiumMissing ? MISSING : false }, () => {
  let t: TestKasa;
  let origin: string;
  let rx: Receiver;
  let worker: DeliveryWorker;
  let shop: { merchant_id: string; api_key: string };
  let cardTrader: TestTrader;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  /** Every URL the browser asked for and every CSP complaint or script error it reported. */
  const requested: string[] = [];
  const problems: string[] = [];
  const OWNER = 'owner@coffee-beans.example';
  const VIEWER = 'viewer@coffee-beans.example';

  async function user(email: string, merchantRole: 'owner' | 'viewer'): Promise<void> {
    const created = await t.admin('POST', '/admin/v1/users', {
      email,
      name: email.split('@')[0],
      role: 'merchant',
      merchant_id: shop.merchant_id,
      merchant_role: merchantRole,
    });
    assert.equal(created.statusCode, 201, created.body);
    const { page } = await setPassword(new CabinetBrowser(fetchTransport(origin)), created.json().set_password_url, PASSWORD, t.clock.now());
    assert.equal(page.status, 200, page.body.slice(0, 300));
  }

  async function paidInvoice(externalId: string, amount: string): Promise<string> {
    const created = await t.createInvoice(shop.api_key, { external_id: externalId, amount, callback_url: undefined, purpose: 'Coffee beans, 1 kg' });
    assert.equal(created.statusCode, 200, created.body);
    const invoiceId = created.json().invoice_id as string;
    assert.equal((await t.inject({ method: 'GET', url: `/pay/${invoiceId}` })).statusCode, 200, 'the customer opens the payment page');
    const [deal] = await t.database.db.selectFrom('deals').select('id').where('invoice_id', '=', invoiceId).execute();
    assert.ok(deal);
    assert.equal((await trader(t, cardTrader.api_key, 'POST', `/api/v1/trader/deals/${deal.id}/confirm`)).statusCode, 200);
    return invoiceId;
  }

  async function signedInPage(kind: keyof typeof VIEWPORTS, email: string): Promise<Page> {
    const context = await browser.newContext({ ...VIEWPORTS[kind], locale: 'en-GB' });
    contexts.push(context);
    const page = await context.newPage();
    page.on('request', (request) => requested.push(request.url()));
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' && !/^Failed to load resource: the server responded with a status of 40[0-9]/.test(message.text())) {
        problems.push(`console: ${message.text()}`);
      }
    });
    await page.goto(`${origin}/login?lang=en`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await Promise.all([page.waitForURL(`${origin}/merchant`), page.getByRole('button', { name: 'Sign in' }).click()]);
    return page;
  }

  const shot = (page: Page, name: string, kind: keyof typeof VIEWPORTS) =>
    page.screenshot({ path: path.join(SCREENSHOTS_DIR, `merchant-${name}-${kind}.png`) });

  before(async () => {
    mkdirSync(SCREENSHOTS_DIR, { recursive: true });
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    t = await startKasa({ publicUrl: origin });
    await t.app.listen({ port, host: '127.0.0.1' });
    rx = await Receiver.start();
    rx.reply = () => ({ status: 200, body: '{"ok":true}' });
    worker = new DeliveryWorker(t.kasa.db, t.kasa.clock, t.kasa.sender, pino({ level: 'silent' }), t.kasa.metrics, { random: () => 0.5 });
    await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 100000, customer_max_pending: 100000 });
    shop = await t.createMerchant({ name: 'Coffee Beans Ltd', webhook_url: rx.url });
    cardTrader = await addTrader(t, { deposit: '10000.00', requisites: [{ bank_name: 'Monobank', max_open_deals: 100, max_amount: '50000.00' }] });
    await user(OWNER, 'owner');
    await user(VIEWER, 'viewer');
    await t.createInvoice(shop.api_key, { external_id: 'order-1001', amount: '820.00', callback_url: undefined });
    browser = await launchChromium();
  });

  after(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await t?.kasa.sender.close();
    await rx?.close();
    await t?.close();
  });

  test('the owner finds the paid invoice, opens its webhook attempts and resends one; the receiver gets it twice', async () => {
    const invoiceId = await paidInvoice('order-1002', '1500.00');
    await worker.drain();
    assert.equal(rx.received.length, 1, 'invoice.success delivered once');
    const page = await signedInPage('desktop', OWNER);

    await page.getByLabel('Status').selectOption('success');
    await Promise.all([page.waitForURL(/status=success/), page.getByRole('button', { name: 'Show' }).click()]);
    const row = page.locator(`tr[data-invoice="${invoiceId}"]`);
    assert.equal(await row.locator('.badge').textContent(), 'success');
    assert.equal(await page.locator('tr[data-invoice]').count(), 1, 'only the paid invoice');

    await Promise.all([page.waitForURL(`${origin}/merchant/invoices/${invoiceId}`), row.getByRole('link', { name: 'order-1002' }).click()]);
    const delivery = page.locator('section.delivery');
    assert.match((await delivery.locator('h3').textContent()) ?? '', /invoice\.success · delivered/);
    assert.equal(await delivery.locator('tbody tr').count(), 1, 'one attempt');
    await Promise.all([page.waitForURL(/done=resent/), delivery.getByRole('button', { name: 'Resend' }).click()]);
    await page.getByText('The webhook is queued again').waitFor();

    await worker.drain();
    assert.equal(rx.received.length, 2, 'the receiver got it twice');
    assert.equal(rx.received[1]!.headers['webhook-id'], rx.received[0]!.headers['webhook-id'], 'the same event');
    await page.reload();
    assert.equal(await page.locator('section.delivery tbody tr').count(), 2, 'two attempts on the page');
  });

  test("a viewer's forged post is refused", async () => {
    const viewer = new CabinetBrowser(fetchTransport(origin));
    assert.equal((await viewer.signIn(VIEWER, PASSWORD)).location, '/merchant');
    const keys = await viewer.get('/merchant/keys');
    assert.equal(keys.status, 200);
    assert.ok(!keys.body.includes('action="/merchant/keys"'), 'no form for a viewer');
    const before = (await t.kasa.merchants.listApiKeys(shop.merchant_id, { limit: 100 })).items.length;
    const forged = await viewer.post('/merchant/keys', { scope_invoices: 'on' }, { csrf: csrfOf(keys.body) });
    assert.equal(forged.status, 403);
    assert.equal((await t.kasa.merchants.listApiKeys(shop.merchant_id, { limit: 100 })).items.length, before, 'no key was made');
    const invoiceId = (await t.database.db.selectFrom('invoices').select('id').where('external_id', '=', 'order-1002').executeTakeFirstOrThrow()).id;
    const eventId = rx.received[0]!.headers['webhook-id'] as string;
    assert.equal((await viewer.post(`/merchant/invoices/${invoiceId}/deliveries/${eventId}/resend`, {})).status, 403);
  });

  test('every page of the cabinet on a phone and on a desktop', async () => {
    const invoiceId = (await t.database.db.selectFrom('invoices').select('id').where('external_id', '=', 'order-1002').executeTakeFirstOrThrow()).id;
    for (const kind of ['phone', 'desktop'] as const) {
      const page = await signedInPage(kind, OWNER);
      const visit = async (url: string, heading: string, name: string) => {
        await page.goto(`${origin}${url}`);
        await page.getByRole('heading', { level: 1, name: heading }).waitFor();
        // Nothing sticks out sideways on a phone: tables scroll inside their own box.
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        const wide = await page.evaluate(() =>
          [...document.querySelectorAll('body *')]
            .filter((e) => !e.closest('.table-wrap, .sections') && e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
            .slice(0, 5)
            .map((e) => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)
            .join('; '),
        );
        assert.ok(overflow <= 0, `${kind} ${url}: the page is ${overflow}px wider than the screen: ${wide}`);
        await shot(page, name, kind);
      };
      await visit('/merchant', 'Invoices', 'invoices');
      await visit(`/merchant/invoices/${invoiceId}`, 'Invoice order-1002', 'invoice');
      await page.locator('#webhooks').scrollIntoViewIfNeeded();
      await shot(page, 'invoice-webhooks', kind);
      await visit('/merchant/balance', 'Balance and statement', 'balance');
      await visit('/merchant/keys', 'API keys', 'keys');
      await Promise.all([page.waitForURL(`${origin}/merchant/keys`), page.getByRole('button', { name: 'Create a key' }).click()]);
      await page.getByRole('heading', { level: 1, name: 'Your new API key' }).waitFor();
      await shot(page, 'key-created', kind);
      await visit('/merchant/webhooks', 'Webhook settings', 'webhooks');
      await Promise.all([page.waitForURL(`${origin}/merchant/webhooks/ping`), page.getByRole('button', { name: 'Send a test ping' }).click()]);
      await page.getByText('Your server answered 200').waitFor();
      await shot(page, 'ping', kind);
      await visit('/merchant/users', 'Users', 'users');
      await visit('/merchant/audit', 'Audit log', 'audit');
      await visit('/merchant/two-factor', 'Two-factor sign-in', 'two-factor');
    }
  });

  test('no request left Kasa, and no CSP violation or script error', () => {
    const foreign = requested.filter((url) => !url.startsWith(`${origin}/`) && !url.startsWith('data:'));
    assert.deepEqual(foreign, []);
    assert.deepEqual(problems, []);
  });
});
