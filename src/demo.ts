// The demo of `npm start`: on an empty database, UAH at 41.50, a demo merchant, and a demo
// trader with a test card and a 10,000 USDT deposit, so a newcomer can create an invoice with
// one pasted curl and pay it end to end on one machine. The demo keys are kept in DATA_DIR
// (mode 0600) so they can be shown again on the next start. The demo listens on 127.0.0.1
// unless HOST says otherwise: it lets webhooks target private addresses, so anyone reaching it
// over the network with the printed demo key could make it call this machine's private services.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Config } from './config.ts';
import type { Kasa } from './context.ts';
import { DATA_DIR_MODE, DATA_FILE_MODE } from './data-dir.ts';

const DEMO_KEY_FILE = 'demo-api-key';
const DEMO_TRADER_KEY_FILE = 'demo-trader-key';
const DEMO_USERS_FILE = 'demo-users.json';
/** A Luhn-valid test card number; no real card. */
const DEMO_CARD = '4149499912341235';

export interface Demo {
  apiKey: string | null;
  /** The demo merchant's current webhook signing secret (whsec_…); null once its key is gone. */
  webhookSecret: string | null;
  traderKey: string | null;
  /** The demo's sign-ins to the cabinets, one per role; TOTP is off for these users only. */
  users: DemoUser[];
  seeded: boolean;
}

export interface DemoUser {
  role: 'operator' | 'merchant' | 'trader';
  email: string;
  password: string;
}

const readKey = (file: string) =>
  fs.readFile(file, 'utf8').then(
    (s) => s.trim(),
    () => null,
  );

export async function seedDemo(kasa: Kasa, dataDir: string): Promise<Demo> {
  const keyFile = path.join(dataDir, DEMO_KEY_FILE);
  const traderKeyFile = path.join(dataDir, DEMO_TRADER_KEY_FILE);
  // Seeded once: any merchant or currency means an operator (or an earlier demo) set Kasa up.
  const [merchants, currencies] = await Promise.all([kasa.merchants.list({ limit: 1 }), kasa.catalog.listCurrencies({ limit: 1 })]);
  if (merchants.items.length > 0 || currencies.items.length > 0) {
    const apiKey = await readKey(keyFile);
    // Read through the key, so a rotated secret shows as it is now.
    const merchant = apiKey ? await kasa.merchants.authenticate(apiKey) : null;
    const traderKey = await readKey(traderKeyFile);
    const trader = traderKey ? await kasa.traders.authenticate(traderKey) : null;
    // A demo seeded before the cabinets existed gets its users now.
    const users = merchant && trader ? await demoUsers(kasa, dataDir, merchant.id, trader.id) : [];
    return { apiKey, webhookSecret: merchant?.webhookSecret ?? null, traderKey, users, seeded: false };
  }
  await kasa.catalog.putCurrency('UAH', { enabled: true, rate: '41.50' });
  const { apiKey, merchant } = await kasa.merchants.create({ name: 'Demo Shop', fee_percent: '2.00' });
  const { trader, apiKey: traderKey } = await kasa.traders.create({ name: 'Demo Trader', reward_percent: '1.00' });
  await kasa.traders.deposit(trader.id, 10_000_000_000n, 'demo-deposit');
  await kasa.traders.createRequisite(trader.id, {
    currency: 'UAH',
    bank_name: 'Demo Bank',
    card_number: DEMO_CARD,
    holder_name: 'Demo Trader',
    max_open_deals: 10,
  });
  await fs.mkdir(dataDir, { recursive: true, mode: DATA_DIR_MODE });
  await fs.writeFile(keyFile, apiKey + '\n', { mode: DATA_FILE_MODE });
  await fs.writeFile(traderKeyFile, traderKey + '\n', { mode: DATA_FILE_MODE });
  const users = await demoUsers(kasa, dataDir, merchant.id, trader.id);
  return { apiKey, webhookSecret: merchant.webhookSecret, traderKey, users, seeded: true };
}

/**
 * The three demo sign-ins, created once with random passwords kept in DATA_DIR (mode 0600) so
 * the next start shows them again. A user someone has deleted or renamed is simply not shown.
 */
async function demoUsers(kasa: Kasa, dataDir: string, merchantId: string, traderId: string): Promise<DemoUser[]> {
  const file = path.join(dataDir, DEMO_USERS_FILE);
  const saved = await fs.readFile(file, 'utf8').then(
    (text) => JSON.parse(text) as DemoUser[],
    () => null,
  );
  if (saved) return saved;
  const password = () => `demo-${randomBytes(12).toString('base64url')}`;
  const wanted: DemoUser[] = [
    { role: 'operator', email: 'operator@demo.kasa', password: password() },
    { role: 'merchant', email: 'merchant@demo.kasa', password: password() },
    { role: 'trader', email: 'trader@demo.kasa', password: password() },
  ];
  const created: DemoUser[] = [];
  for (const user of wanted) {
    const owner =
      user.role === 'merchant' ? { merchant_id: merchantId, merchant_role: 'owner' as const } : user.role === 'trader' ? { trader_id: traderId } : {};
    const name = user.role === 'operator' ? 'Demo Operator' : user.role === 'merchant' ? 'Demo Shop Owner' : 'Demo Trader';
    if (await kasa.users.createForDemo({ ...user, ...owner, name })) created.push(user);
  }
  await fs.mkdir(dataDir, { recursive: true, mode: DATA_DIR_MODE });
  await fs.writeFile(file, JSON.stringify(created) + '\n', { mode: DATA_FILE_MODE });
  return created;
}

/**
 * The KASA_URL the CLI needs to reach this server from another shell: the listen address, with
 * a wildcard one replaced by loopback.
 */
export function cliUrl(config: Pick<Config, 'host' | 'port'>): string {
  const host = ['0.0.0.0', '::', '[::]'].includes(config.host) ? '127.0.0.1' : config.host;
  return `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${config.port}`;
}

export interface BannerAddresses {
  /** Where merchants reach the API (PUBLIC_URL). */
  publicUrl: string;
  /** Where the CLI on this machine reaches it. */
  cliUrl: string;
  dataDir: string;
}

/**
 * The external_id of the printed curl, made by the shell at each paste (bash and zsh: the
 * second and $RANDOM; plain sh: the second), so pasting it again creates another invoice
 * instead of a 409 DUPLICATE_EXTERNAL_ID.
 */
const FRESH_EXTERNAL_ID = `order-'"$(date +%s)-$RANDOM"'`;
const EXTERNAL_ID_PLACEHOLDER = 'order-<fresh>';

export function demoBanner(addresses: BannerAddresses, demo: Demo, adminTokenFile: string | null): string {
  const baseUrl = addresses.publicUrl;
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
      external_id: EXTERNAL_ID_PLACEHOLDER,
      fail_url: 'https://yoursite.com/payment/failed',
      purpose: 'Payment for Premium subscription',
      success_url: 'https://yoursite.com/payment/success',
    },
    null,
    2,
  ).replace(EXTERNAL_ID_PLACEHOLDER, FRESH_EXTERNAL_ID);
  // The CLI finds the admin token in DATA_DIR: another shell needs it too unless it is ./data.
  const cliEnv = [`KASA_URL=${addresses.cliUrl}`, ...(addresses.dataDir === path.resolve('data') ? [] : [`DATA_DIR=${addresses.dataDir}`])];
  lines.push(
    `  Demo merchant API key: ${demo.apiKey}`,
    `  Demo webhook secret: ${demo.webhookSecret ?? '(not found: the demo key was revoked)'} (verifies the webhook-signature of Kasa's webhooks)`,
    adminTokenFile ? `  Admin token: in ${adminTokenFile} (the CLI reads it from there)` : '  Admin token: ADMIN_TOKEN',
    '',
    '  For the CLI (npm run kasa -- …) in another shell:',
    '',
    `  export ${cliEnv.join(' ')}`,
    '',
    '  Create an invoice (the shell makes a fresh external_id at each paste):',
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
    ...(demo.users.length
      ? [
          `  Cabinets: ${baseUrl}/login (TOTP two-factor sign-in is off for these demo users only; every other operator and trader must use it)`,
          '',
          ...demo.users.map((u) => `${u.role}: ${u.email} ${u.password}`),
          '',
        ]
      : []),
    `  API reference: ${baseUrl}/docs`,
    '',
  );
  return lines.join('\n');
}
