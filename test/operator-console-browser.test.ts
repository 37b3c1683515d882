// The operator console in a real browser: Debian's chromium, driven by playwright-core, against
// Kasa listening on a real socket. An operator sets their password and enrolls TOTP through
// their link, signs in with the code, creates a merchant, a trader and its deposit, and stops
// new deals through the confirmation. Phone and desktop screenshots of every page go to
// test-results/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { traderAvailable } from '../src/ledger/accounts.ts';
import { totpCode } from '../src/people/secrets.ts';
import { chromiumMissing, chromiumRequiredInCi, freePort, launchChromium, MISSING, SCREENSHOTS_DIR } from './helpers/browser.ts';
import { startKasa, type TestKasa } from './helpers/kasa.ts';
import { balanceOf, openDeal } from './helpers/ledger.ts';
import { addTrader, ledgerClean } from './helpers/traders.ts';

const PASSWORD = 'quiet-harbour-58-compass';
const EMAIL = 'olha@kasa.test';
const STEP_TIMEOUT_MS = 10_000;

chromiumRequiredInCi();

describe('operator console in a browser', { skip: chromiumMissing ? MISSING : false }, () => {
  let t: TestKasa;
  let origin: string;
  let browser: Browser;
  let phone: BrowserContext;
  let desktop: BrowserContext;
  const problems: string[] = [];
  const pages: Record<string, string> = {};

  function watch(page: Page): Page {
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' && !/^Failed to load resource: the server responded with a status of 40\d/.test(message.text()))
        problems.push(`console: ${message.text()}`);
    });
    return page;
  }

  before(async () => {
    mkdirSync(SCREENSHOTS_DIR, { recursive: true });
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    t = await startKasa({ publicUrl: origin });
    await t.app.listen({ port, host: '127.0.0.1' });
    browser = await launchChromium();
    phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true, locale: 'uk-UA' });
    desktop = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB' });
  });

  after(async () => {
    await phone?.close();
    await desktop?.close();
    await browser?.close();
    await t?.close();
  });

  test('an operator enrolls TOTP, signs in with the code, creates a merchant, a trader and a deposit, and stops new deals', async () => {
    const created = await t.admin('POST', '/admin/v1/users', { email: EMAIL, role: 'operator', name: 'Olha Operator' });
    assert.equal(created.statusCode, 201, created.body);
    const page = watch(await phone.newPage());
    page.setDefaultTimeout(STEP_TIMEOUT_MS);

    // The set-password link: a password, then the TOTP key proven by a code.
    await page.goto(created.json().set_password_url);
    const secret = await page.locator('input[name="totp_secret"]').getAttribute('value');
    assert.ok(secret);
    await page.fill('#password', PASSWORD);
    await page.fill('#confirmation', PASSWORD);
    await page.fill('#code', totpCode(secret, t.clock.now()));
    await page.click('button[type="submit"]');
    await page.waitForURL(/\/set-password\//);
    // The next code belongs to a later step than the enrollment's.
    t.clock.advance(30_000);

    await page.goto(`${origin}/login`);
    await page.fill('#email', EMAIL);
    await page.fill('#password', PASSWORD);
    await page.click('button[type="submit"]');
    await page.waitForURL(/\/login\/code/);
    await page.fill('#code', totpCode(secret, t.clock.now()));
    await page.click('button[type="submit"]');
    await page.waitForURL(`${origin}/admin`);
    assert.equal(await page.locator('h1').textContent(), 'Сьогодні');

    // A merchant, its first API key shown once.
    await page.goto(`${origin}/admin/merchants?lang=en`);
    await page.fill('#m-name', 'Kvitka Flowers');
    await page.fill('#m-fee', '2.50');
    await page.click('text=Create the merchant');
    await page.locator('code.secret').waitFor();
    const key = (await page.locator('code.secret').textContent())!;
    assert.match(key, /^kasa_sk_/);
    assert.equal((await t.createInvoice(key, { external_id: 'browser-op-1' })).statusCode, 200);
    pages['merchant'] = new URL(page.url()).pathname;
    const merchantId = (await page.locator('form[action$="/fee"]').getAttribute('action'))!.split('/')[3]!;
    pages['merchant'] = `/admin/merchants/${merchantId}`;

    // A trader and its deposit, credited to the micro-USDT.
    await page.goto(`${origin}/admin/traders`);
    await page.fill('#t-name', 'Taras');
    await page.click('text=Create the trader');
    await page.locator('#d-amount').waitFor();
    const traderId = (await page.locator('form[action$="/deposits"]').getAttribute('action'))!.split('/')[3]!;
    pages['trader'] = `/admin/traders/${traderId}`;
    await page.fill('#d-amount', '2500.25');
    await page.fill('#d-ref', 'tx-0xfeed');
    await page.click('text=Credit the deposit');
    await page.locator('.notice.good').waitFor();
    assert.match((await page.locator('.notice.good').textContent())!, /2500\.25 USDT/);
    assert.equal(await balanceOf(t, traderAvailable(traderId)), 2_500_250_000n);
    assert.ok((await ledgerClean(t)).ok);

    // The deals switch: the first click only opens the confirmation.
    await page.goto(`${origin}/admin/settings`);
    await page.click('text=Stop all new deals');
    await page.waitForURL(`${origin}/admin/settings/stop-deals`);
    assert.equal((await t.admin('GET', '/admin/v1/settings')).json().deals_enabled, true, 'not stopped before the confirmation');
    await page.check('input[name="yes"]');
    await page.click('button:has-text("Stop all new deals")');
    await page.waitForURL(/\/admin\/settings\?done=stopped/);
    assert.equal((await t.admin('GET', '/admin/v1/settings')).json().deals_enabled, false);
    assert.match((await page.locator('main').textContent())!, /New deals are off/);
    assert.equal((await t.createInvoice(key, { external_id: 'browser-op-2' })).statusCode, 503);
    await page.click('text=Start new deals');
    await page.waitForURL(/done=started/);
    assert.equal((await t.admin('GET', '/admin/v1/settings')).json().deals_enabled, true);

    // An open deal, so the deals page shows its confirm and cancel forms.
    await addTrader(t, { name: 'Card trader', deposit: '5000.00', requisites: [{ max_open_deals: 5 }] });
    const invoice = await t.createInvoice(key, { external_id: 'browser-op-3', amount: '1250.00' });
    assert.equal(invoice.statusCode, 200, invoice.body);
    assert.ok(await openDeal(t, invoice.json().invoice_id));

    // The same session on a desktop: its cookies, not a second sign-in.
    await desktop.addCookies(await phone.cookies());
    const wide = watch(await desktop.newPage());
    const all = [
      '/admin',
      '/admin/merchants',
      pages['merchant'],
      '/admin/traders',
      pages['trader'],
      '/admin/deals',
      '/admin/rates',
      '/admin/settings',
      '/admin/settings/stop-deals',
      '/admin/webhooks',
      '/admin/audit',
    ];
    for (const [context, view, label] of [
      [page, 'phone', 'uk'],
      [wide, 'desktop', 'en'],
    ] as const) {
      for (const p of all) {
        const answer = await context.goto(`${origin}${p}?lang=${label}`);
        assert.equal(answer?.status(), 200, p);
        const name =
          p
            .replace(/^\/admin\/?/, '')
            .replace(/[0-9a-f-]{36}/, 'one')
            .replaceAll('/', '-') || 'home';
        await context.screenshot({ path: path.join(SCREENSHOTS_DIR, `operator-${name}-${view}.png`) });
        // Nothing wider than the viewport: a table scrolls inside its own box on a phone.
        const overflow = await context.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 1, `${p} (${view}) is ${overflow}px wider than the screen`);
      }
    }
    const audit = await t.database.db.selectFrom('audit_log').select('action').where('actor_email', '=', EMAIL).execute();
    for (const action of ['merchant.create', 'trader.create', 'trader.deposit', 'settings.update'])
      assert.ok(
        audit.some((r) => r.action === action),
        action,
      );
    assert.deepEqual(problems, []);
  });
});
