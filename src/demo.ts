// The demo of `npm start`: on an empty database, UAH at 41.50, a demo merchant, and a demo
// trader with a test card and a 10,000 USDT deposit, so a newcomer can create an invoice with
// one pasted curl and pay it end to end on one machine. The demo keys are kept in DATA_DIR
// (mode 0600) so they can be shown again on the next start.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Kasa } from './context.ts';

const DEMO_KEY_FILE = 'demo-api-key';
const DEMO_TRADER_KEY_FILE = 'demo-trader-key';
/** A Luhn-valid test card number; no real card. */
const DEMO_CARD = '4149499912341235';

export interface Demo {
  apiKey: string | null;
  traderKey: string | null;
  seeded: boolean;
}

const readKey = (file: string) => fs.readFile(file, 'utf8').then((s) => s.trim(), () => null);

export async function seedDemo(kasa: Kasa, dataDir: string): Promise<Demo> {
  const keyFile = path.join(dataDir, DEMO_KEY_FILE);
  const traderKeyFile = path.join(dataDir, DEMO_TRADER_KEY_FILE);
  const [merchants, currencies] = await Promise.all([kasa.merchants.list(), kasa.catalog.listCurrencies()]);
  if (merchants.length > 0 || currencies.length > 0) {
    return { apiKey: await readKey(keyFile), traderKey: await readKey(traderKeyFile), seeded: false };
  }
  await kasa.catalog.putCurrency('UAH', { enabled: true, rate: '41.50' });
  const { apiKey } = await kasa.merchants.create({ name: 'Demo Shop', fee_percent: '2.00' });
  const { trader, apiKey: traderKey } = await kasa.traders.create({ name: 'Demo Trader', reward_percent: '1.00' });
  await kasa.traders.deposit(trader.id, 10_000_000_000n, 'demo-deposit');
  await kasa.traders.createRequisite(trader.id, {
    currency: 'UAH',
    bank_name: 'Demo Bank',
    card_number: DEMO_CARD,
    holder_name: 'Demo Trader',
    max_open_deals: 10,
  });
  await fs.mkdir(dataDir, { recursive: true });
  await fs.writeFile(keyFile, apiKey + '\n', { mode: 0o600 });
  await fs.writeFile(traderKeyFile, traderKey + '\n', { mode: 0o600 });
  return { apiKey, traderKey, seeded: true };
}

export function demoBanner(baseUrl: string, demo: Demo, adminTokenFile: string | null): string {
  const lines = ['', '  Kasa is running at ' + baseUrl, ''];
  if (!demo.apiKey) {
    lines.push('  Demo merchant key not found (the database was not seeded by this demo).');
    return lines.join('\n');
  }
  const body = JSON.stringify(
    {
      amount: '1500.00',
      callback_url: 'https://yoursite.com/webhooks/payment',
      currency_code: 'UAH',
      customer_id: 'user_12345',
      external_id: `order-${Date.now()}`,
      fail_url: 'https://yoursite.com/payment/failed',
      purpose: 'Payment for Premium subscription',
      success_url: 'https://yoursite.com/payment/success',
    },
    null,
    2,
  );
  lines.push(
    `  Demo merchant API key: ${demo.apiKey}`,
    adminTokenFile ? `  Admin token: in ${adminTokenFile} (the CLI reads it from there)` : '  Admin token: ADMIN_TOKEN',
    '',
    '  Create an invoice:',
    '',
    `curl -X POST "${baseUrl}/api/v1/create-invoice" \\`,
    '  -H "Content-Type: application/json" \\',
    `  -H "X-Api-Key: ${demo.apiKey}" \\`,
    `  -d '${body}'`,
    '',
    '  Then open the payment_link, press "I have paid", and confirm as the demo trader:',
    '',
    `  npm run kasa -- deal list --status customer_paid`,
    `  npm run kasa -- deal confirm <deal_id>`,
    ...(demo.traderKey ? [`  (or the trader API: X-Api-Key: ${demo.traderKey})`] : []),
    '',
    `  API reference: ${baseUrl}/docs`,
    '',
  );
  return lines.join('\n');
}
