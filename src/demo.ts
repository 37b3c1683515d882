// The demo of `npm start`: on an empty database, UAH at 41.50 and a demo merchant, so a
// newcomer can create an invoice with one pasted curl. The demo key is kept in
// DATA_DIR/demo-api-key (mode 0600) so it can be shown again on the next start.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Kasa } from './context.ts';

const DEMO_KEY_FILE = 'demo-api-key';

export interface Demo {
  apiKey: string | null;
  seeded: boolean;
}

export async function seedDemo(kasa: Kasa, dataDir: string): Promise<Demo> {
  const keyFile = path.join(dataDir, DEMO_KEY_FILE);
  const [merchants, currencies] = await Promise.all([kasa.merchants.list(), kasa.catalog.listCurrencies()]);
  if (merchants.length > 0 || currencies.length > 0) {
    const apiKey = await fs.readFile(keyFile, 'utf8').then((s) => s.trim(), () => null);
    return { apiKey, seeded: false };
  }
  await kasa.catalog.putCurrency('UAH', { enabled: true, rate: '41.50' });
  const { apiKey } = await kasa.merchants.create({ name: 'Demo Shop', fee_percent: '2.00' });
  await fs.mkdir(dataDir, { recursive: true });
  await fs.writeFile(keyFile, apiKey + '\n', { mode: 0o600 });
  return { apiKey, seeded: true };
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
    `  API reference: ${baseUrl}/docs`,
    '',
  );
  return lines.join('\n');
}
