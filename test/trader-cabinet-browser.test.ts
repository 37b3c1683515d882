// The trader cabinet in a real browser: Debian's chromium, driven by playwright-core, against
// Kasa listening on a real socket. A trader sets a password and TOTP through their link, signs in
// with the 6-digit code and keeps the queue open; in another browser context a customer opens the
// payment link and presses "I have paid"; the deal appears highlighted in the queue without a
// reload; the trader confirms in two taps and the customer's page goes to success. Screenshots of
// every trader page, phone and desktop, go to test-results/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { totpCode } from '../src/people/secrets.ts';
import { chromiumMissing, chromiumRequiredInCi, freePort, launchChromium, MISSING, SCREENSHOTS_DIR } from './helpers/browser.ts';
import { startKasa, type TestKasa } from './helpers/kasa.ts';
import { addTrader, type TestTrader } from './helpers/traders.ts';

/** The queue polls every 2 s: a few polls of slack. */
const LIVE_TIMEOUT_MS = 10_000;
/** The payment page polls every 3 s. */
const CUSTOMER_TIMEOUT_MS = 15_000;
const EMAIL = 'olena@traders.example';
const PASSWORD = 'amber-lantern-93-orchard';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

chromiumRequiredInCi();

describe('trader cabinet in a browser', { skip: chromiumMissing ? MISSING : false }, () => {
  let t: TestKasa;
  let kasaOrigin: string;
  let apiKey: string;
  let cardTrader: TestTrader;
  let browser: Browser;
  let traderContext: BrowserContext;
  let customerContext: BrowserContext;
  let queue: Page;
  let totpSecret: string;
  const requested: string[] = [];
  const problems: string[] = [];

  function watch(page: Page): Page {
    page.on('request', (request) => requested.push(request.url()));
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      // A refused form's page (4xx) is an expected answer; anything else logged as an error is not.
      if (message.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) {
        problems.push(`console: ${message.text()}`);
      }
    });
    return page;
  }

  /** The page as a phone and as a desktop shows it. */
  async function shots(page: Page, name: string) {
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: path.join(SCREENSHOTS_DIR, `trader-${name}-phone.png`) });
    await page.setViewportSize(DESKTOP);
    await page.screenshot({ path: path.join(SCREENSHOTS_DIR, `trader-${name}-desktop.png`) });
    await page.setViewportSize(PHONE);
  }

  before(async () => {
    mkdirSync(SCREENSHOTS_DIR, { recursive: true });
    const port = await freePort();
    kasaOrigin = `http://127.0.0.1:${port}`;
    t = await startKasa({ publicUrl: kasaOrigin });
    await t.app.listen({ port, host: '127.0.0.1' });
    apiKey = (await t.createMerchant({ name: 'Coffee Beans Ltd' })).api_key;
    cardTrader = await addTrader(t, {
      name: 'Olena',
      deposit: '5000.00',
      requisites: [{ card_number: '5375414112345672', bank_name: 'Monobank', holder_name: 'Olena Kovalenko', max_open_deals: 10, daily_limit: '100000.00' }],
    });
    browser = await launchChromium();
    const phone = { viewport: PHONE, deviceScaleFactor: 1, hasTouch: true };
    traderContext = await browser.newContext({ ...phone, locale: 'uk-UA' });
    // The phone's vibration motor is outside Kasa: each call is counted instead.
    // As text: tsx's transform of a function would name helpers the page does not have.
    await traderContext.addInitScript(`
      const calls = [];
      Object.defineProperty(window, 'kasaVibrations', { value: calls });
      Object.defineProperty(Navigator.prototype, 'vibrate', { configurable: true, value: (pattern) => calls.push(pattern) > 0 });
    `);
    customerContext = await browser.newContext({ ...phone, isMobile: true, locale: 'uk-UA' });
  });

  after(async () => {
    await traderContext?.close();
    await customerContext?.close();
    await browser?.close();
    await t?.close();
  });

  test('the trader sets a password and TOTP, then signs in with the 6-digit code', async () => {
    const created = await t.admin('POST', '/admin/v1/users', { email: EMAIL, role: 'trader', trader_id: cardTrader.trader_id });
    assert.equal(created.statusCode, 201, created.body);
    const page = watch(await traderContext.newPage());
    await page.goto(created.json().set_password_url);
    const secret = await page.locator('input[name="totp_secret"]').inputValue();
    totpSecret = secret;
    await shots(page, 'set-password-and-totp');
    await page.getByLabel('Новий пароль').fill(PASSWORD);
    await page.getByLabel('Повторіть пароль').fill(PASSWORD);
    await page.locator('#code').fill(totpCode(secret, t.clock.now()));
    await page.getByRole('button', { name: 'Зберегти пароль' }).click();
    await page.getByText('Коди відновлення').first().waitFor();
    await shots(page, 'recovery-codes');

    // The next 30-second step: a code is good once.
    t.clock.advance(30_000);
    await page.goto(`${kasaOrigin}/login`);
    await shots(page, 'sign-in');
    await page.getByLabel('Email').fill(EMAIL);
    await page.getByLabel('Пароль').fill(PASSWORD);
    await Promise.all([page.waitForURL(`${kasaOrigin}/login/code`), page.getByRole('button', { name: 'Увійти' }).click()]);
    await shots(page, 'sign-in-code');
    await page.getByLabel('6-значний код').fill(totpCode(secret, t.clock.now()));
    await Promise.all([page.waitForURL(`${kasaOrigin}/trader`), page.getByRole('button', { name: 'Увійти' }).click()]);
    await page.getByRole('heading', { name: 'Відкриті угоди' }).waitFor();
    assert.ok(await page.locator('#cue-toggle').isVisible(), 'cabinet.js ran and showed the cue switch');
    assert.equal(await page.locator('#cue-toggle input').isChecked(), false, 'the cue is off by default');
    await shots(page, 'queue-empty');
    queue = page;
  });

  test('"I have paid" on the payment page appears highlighted in the open queue; two taps confirm; the customer sees success', async () => {
    const invoice = (await t.createInvoice(apiKey, { amount: '1500.00', external_id: 'browser-trader-1', success_url: null })).json();
    const customer = watch(await customerContext.newPage());
    await customer.goto(invoice.payment_link);
    await customer.locator('#card-number').waitFor();

    // The deal opened with the page: it shows up in the queue by itself, awaiting payment.
    const [deal] = await t.database.db.selectFrom('deals').select('id').where('invoice_id', '=', invoice.invoice_id).execute();
    assert.ok(deal);
    const card = queue.locator(`li.card[data-deal="${deal.id}"]`);
    await card.waitFor({ timeout: LIVE_TIMEOUT_MS });
    assert.equal(await card.locator('.amount').textContent(), '1500.00 UAH');

    // The trader switches the cue on: it sounds once to show what it does, and is remembered.
    const vibrations = () => queue.evaluate('window.kasaVibrations.length');
    await queue.locator('#cue-toggle input').check();
    assert.equal(await vibrations(), 1);
    assert.equal(await queue.evaluate("localStorage.getItem('kasa-cue')"), 'on');

    await Promise.all([customer.waitForURL(/after=paid/), customer.locator('#paid').click()]);
    await queue.locator(`li.card.paid[data-deal="${deal.id}"]`).waitFor({ timeout: LIVE_TIMEOUT_MS });
    await queue.waitForFunction('window.kasaVibrations.length === 2', null, { timeout: LIVE_TIMEOUT_MS });
    assert.equal(await queue.locator('#live-status').textContent(), 'Клієнт каже, що оплатив: 1500.00 UAH', 'a screen reader hears it');
    assert.equal(await queue.locator('li.card').first().getAttribute('data-deal'), deal.id, '"I have paid" is on top');
    await shots(queue, 'queue-paid');

    // The first tap opens the confirm with the amount; a refresh of the list keeps it open.
    const paidCard = queue.locator(`li.card[data-deal="${deal.id}"]`);
    await paidCard.getByRole('button', { name: 'Підтвердити', exact: true }).click();
    const received = paidCard.getByLabel('Отримана сума');
    await received.fill('1500');
    const other = (await t.createInvoice(apiKey, { amount: '700.00', external_id: 'browser-trader-2' })).json();
    assert.equal((await fetch(other.payment_link)).status, 200);
    await queue.locator('li.card').nth(1).waitFor({ timeout: LIVE_TIMEOUT_MS });
    assert.equal(await received.inputValue(), '1500', 'what the trader typed survived the refresh');
    const second = paidCard.getByRole('button', { name: 'Підтвердити отримання 1500.00 UAH' });
    assert.ok(await second.isVisible(), 'the second tap is still there');
    await shots(queue, 'confirm-second-tap');

    await Promise.all([queue.waitForURL(`${kasaOrigin}/trader?done=confirmed`), second.click()]);
    await queue.getByText('Угоду підтверджено.').waitFor();
    assert.equal(await queue.locator('#cue-toggle input').isChecked(), true, 'the device remembers the cue');
    await customer.getByText('Оплату отримано').waitFor({ timeout: CUSTOMER_TIMEOUT_MS });
    await customer.screenshot({ path: path.join(SCREENSHOTS_DIR, 'trader-customer-success-phone.png') });
    await customer.close();
  });

  test('the cards, a card’s form, a refused form, and the balance render', async () => {
    await queue.getByRole('link', { name: 'Картки' }).click();
    await queue.getByText('Сьогодні: 2200.00 з 100000.00 UAH').waitFor();
    await shots(queue, 'requisites');

    await queue.getByRole('link', { name: 'Змінити' }).first().click();
    await queue.getByRole('heading', { name: 'Змінити картку' }).waitFor();
    await shots(queue, 'requisite-edit');

    await queue.goto(`${kasaOrigin}/trader/requisites/new`);
    await queue.getByLabel('Номер картки').fill('4111 1111 1111 1112');
    await queue.getByLabel('Банк').fill('PrivatBank');
    await queue.getByLabel('Ім’я власника').fill('Olena Kovalenko');
    await queue.getByRole('button', { name: 'Додати картку' }).click();
    await queue.getByText('Картку не збережено').waitFor();
    await shots(queue, 'requisite-refused');
    await queue.getByLabel('Номер картки').fill('4111 1111 1111 1111');
    await Promise.all([queue.waitForURL(`${kasaOrigin}/trader/requisites?done=created`), queue.getByRole('button', { name: 'Додати картку' }).click()]);
    await queue.getByText('Картку додано.').waitFor();

    await queue.getByRole('link', { name: 'Баланс' }).click();
    await queue.locator('[data-balance="available"]').waitFor();
    await shots(queue, 'balance');
    await queue.getByLabel('Вид').selectOption('deal_lock');
    await queue.getByRole('button', { name: 'Показати' }).click();
    await queue.waitForURL(/kind=deal_lock/);
    assert.equal(await queue.locator('tbody tr').count(), 2, 'the two deals’ locks');
  });

  test('without JavaScript the queue still shows the amount and confirms with one form', async () => {
    const invoice = (await t.createInvoice(apiKey, { amount: '900.00', external_id: 'browser-trader-nojs' })).json();
    assert.equal((await fetch(invoice.payment_link)).status, 200);
    await t.kasa.deals.markPaid(invoice.invoice_id);
    const context = await browser.newContext({ viewport: PHONE, javaScriptEnabled: false, locale: 'uk-UA' });
    try {
      const page = watch(await context.newPage());
      t.clock.advance(30_000);
      await page.goto(`${kasaOrigin}/login`);
      await page.getByLabel('Email').fill(EMAIL);
      await page.getByLabel('Пароль').fill(PASSWORD);
      await Promise.all([page.waitForURL(`${kasaOrigin}/login/code`), page.getByRole('button', { name: 'Увійти' }).click()]);
      await page.getByLabel('6-значний код').fill(totpCode(totpSecret, t.clock.now()));
      await Promise.all([page.waitForURL(`${kasaOrigin}/trader`), page.getByRole('button', { name: 'Увійти' }).click()]);
      const card = page.locator('li.card.paid').filter({ hasText: '900.00 UAH' });
      assert.equal(await card.locator('[data-first-tap]').isVisible(), false, 'no first tap without the script');
      assert.equal(await page.locator('#cue-toggle').isVisible(), false, 'no cue without the script');
      await shots(page, 'queue-no-script');
      await Promise.all([
        page.waitForURL(`${kasaOrigin}/trader?done=confirmed`),
        card.getByRole('button', { name: 'Підтвердити отримання 900.00 UAH' }).click(),
      ]);
      const read = await t.inject({ method: 'GET', url: `/api/v1/invoices/${invoice.invoice_id}`, headers: { 'x-api-key': apiKey } });
      assert.equal(read.json().status, 'success');
    } finally {
      await context.close();
    }
  });

  test('no request left Kasa, and no CSP violation or script error', () => {
    const foreign = requested.filter((url) => !url.startsWith(`${kasaOrigin}/`) && !url.startsWith('data:'));
    assert.deepEqual(foreign, []);
    assert.deepEqual(problems, []);
  });
});
