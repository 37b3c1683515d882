// Properties of every answer at once, across the merchant, trader and admin APIs: one timestamp
// format everywhere, and secrets (card numbers, API keys, webhook secrets) only in the answers
// meant to carry them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { startKasa, type TestKasa } from './helpers/kasa.ts';
import { addTrader, CARDS, trader } from './helpers/traders.ts';

/** The seed's format: UTC, whole seconds, Z. */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const isTimestampField = (key: string) => key.endsWith('_at') || key.endsWith('_until') || key === 'timestamp';

/** Every (path, value) of a timestamp field in a JSON value. */
function timestamps(value: unknown, at = ''): [string, unknown][] {
  if (Array.isArray(value)) return value.flatMap((item, i) => timestamps(item, `${at}[${i}]`));
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, child]) =>
    isTimestampField(key) && (typeof child === 'string' || child === null) ? [[`${at}.${key}`, child] as [string, unknown]] : timestamps(child, `${at}.${key}`),
  );
}

describe('every answer', () => {
  let t: TestKasa;
  /** Label → answer, for every call below. */
  const answers = new Map<string, LightMyRequestResponse>();
  let merchant: { merchant_id: string; api_key: string; key_id: string };
  let card: string;
  let traderKey: string;

  before(async () => {
    t = await startKasa();
    // Wall-clock milliseconds, as a real server has them: a clock on a whole second would hide them.
    t.clock.advance(123);
    const record = async (label: string, res: Promise<LightMyRequestResponse>) => {
      const answer = await res;
      assert.ok(answer.statusCode < 300, `${label}: ${answer.statusCode} ${answer.body}`);
      answers.set(label, answer);
      return String(answer.headers['content-type']).startsWith('application/json') ? answer.json() : answer.body;
    };
    const admin = (label: string, method: 'GET' | 'POST' | 'PATCH' | 'PUT', url: string, payload?: unknown) => record(label, t.admin(method, url, payload));
    const api = (label: string, method: 'GET' | 'POST', url: string) => record(label, t.inject({ method, url, headers: { 'x-api-key': merchant.api_key } }));

    merchant = await admin('create merchant', 'POST', '/admin/v1/merchants', { name: 'Shop' });
    const shop = merchant.merchant_id;
    card = CARDS[0]!;
    const seller = await addTrader(t, { deposit: '1000.00', requisites: [{ card_number: card }] });
    traderKey = seller.api_key;

    const invoice = await record('create invoice', t.createInvoice(merchant.api_key));
    t.clock.advance(1_456);
    await record('payment page', t.inject({ method: 'GET', url: `/pay/${invoice.invoice_id}` }));
    await record('payment status', t.inject({ method: 'GET', url: `/pay/${invoice.invoice_id}/status` }));
    const deals = await record('trader deals', trader(t, traderKey, 'GET', '/api/v1/trader/deals'));
    t.clock.advance(2_789);
    await record('trader confirm', trader(t, traderKey, 'POST', `/api/v1/trader/deals/${deals.items[0].deal_id}/confirm`));
    await record('trader requisites', trader(t, traderKey, 'GET', '/api/v1/trader/requisites'));
    await record('trader balance', trader(t, traderKey, 'GET', '/api/v1/trader/balance'));

    await api('get invoice', 'GET', `/api/v1/invoices/${invoice.invoice_id}`);
    await api('list invoices', 'GET', '/api/v1/invoices');
    await api('balance', 'GET', '/api/v1/balance');
    const deliveries = await api('deliveries', 'GET', '/api/v1/webhooks/deliveries');
    await api('delivery', 'GET', `/api/v1/webhooks/deliveries/${deliveries.items[0].event_id}`);

    await admin('list merchants', 'GET', '/admin/v1/merchants');
    await admin('get merchant', 'GET', `/admin/v1/merchants/${shop}`);
    await admin('update merchant', 'PATCH', `/admin/v1/merchants/${shop}`, { name: 'Shop 2' });
    await admin('create api key', 'POST', `/admin/v1/merchants/${shop}/api-keys`);
    await admin('list api keys', 'GET', `/admin/v1/merchants/${shop}/api-keys`);
    await admin('rotate webhook secret', 'POST', `/admin/v1/merchants/${shop}/webhook-secret`);
    await admin('create webhook key', 'POST', `/admin/v1/merchants/${shop}/webhook-keys`);
    await admin('webhook stats', 'GET', '/admin/v1/webhooks/stats');
    await admin('list currencies', 'GET', '/admin/v1/currencies');
    await admin('put currency', 'PUT', '/admin/v1/currencies/USD', { enabled: true, rate: '1.00' });
    await admin('get settings', 'GET', '/admin/v1/settings');
    await admin('patch settings', 'PATCH', '/admin/v1/settings', { invoice_ttl_minutes: 30 });
    await admin('list traders', 'GET', '/admin/v1/traders');
    await admin('get trader', 'GET', `/admin/v1/traders/${seller.trader_id}`);
    await admin('update trader', 'PATCH', `/admin/v1/traders/${seller.trader_id}`, { name: 'Trader 2' });
    await admin('admin deals', 'GET', '/admin/v1/deals');
    await admin('ledger accounts', 'GET', '/admin/v1/ledger/accounts');
    await admin('ledger verify', 'GET', '/admin/v1/ledger/verify');
  });
  after(() => t.close());

  test('gives every timestamp in whole seconds with Z, like the seed', () => {
    const seen = new Set<string>();
    const wrong: string[] = [];
    for (const [label, res] of answers) {
      if (!res.headers['content-type']?.toString().startsWith('application/json')) continue;
      for (const [at, value] of timestamps(res.json())) {
        seen.add(
          at
            .replace(/\[\d+\]/g, '[]')
            .split('.')
            .pop()!,
        );
        if (value !== null && !TIMESTAMP.test(String(value))) wrong.push(`${label} ${at}: ${value}`);
      }
    }
    assert.deepEqual(wrong, []);
    for (const field of [
      'created_at',
      'updated_at',
      'expires_at',
      'paid_at',
      'opened_at',
      'customer_paid_at',
      'closed_at',
      'last_used_at',
      'next_attempt_at',
      'previous_secret_valid_until',
    ]) {
      assert.ok(seen.has(field), `${field} was checked`);
    }
  });

  test('the payment page marks its countdown in the same format', () => {
    const page = answers.get('payment page')!.body;
    const datetime = /<time id="countdown" datetime="([^"]+)"/.exec(page)?.[1];
    assert.match(datetime ?? '', TIMESTAMP);
  });

  test('carries a full card number only in the trader’s own answers and on the page the customer pays from', () => {
    const carrying = [...answers].filter(([, res]) => res.body.includes(card)).map(([label]) => label);
    assert.deepEqual(carrying.sort(), ['payment page', 'trader confirm', 'trader deals', 'trader requisites']);
    const masked = answers.get('admin deals')!.json().items[0].card_number as string;
    assert.ok(masked.endsWith(card.slice(-4)) && !masked.includes(card.slice(0, 12)), masked);
  });

  test('carries API keys and webhook secrets only in the answers that issue them', () => {
    const issued = (res: LightMyRequestResponse) => res.json() as Record<string, unknown>;
    const secrets = [
      merchant.api_key,
      issued(answers.get('create merchant')!).webhook_secret,
      issued(answers.get('create api key')!).api_key,
      issued(answers.get('rotate webhook secret')!).webhook_secret,
      traderKey,
    ].map(String);
    const carrying = [...answers].filter(([, res]) => secrets.some((s) => res.body.includes(s))).map(([label]) => label);
    assert.deepEqual(carrying.sort(), ['create api key', 'create merchant', 'rotate webhook secret']);
  });
});
