// Rates that follow the market: an http_json source (a real local HTTP server answering what
// the test says) configured through the admin API, fetched by the rate worker's pass on the
// test's clock; quotes accepted or refused, the staleness rule, the markup, each invoice's rate
// snapshot, and one fetch per period however many instances run the worker.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { createKasa } from '../src/context.ts';
import { cents, formatUsdt, percentHundredths, quoteInvoice, rateMicro } from '../src/money.ts';
import { startRateWorker } from '../src/workers/rates.ts';
import type { Timers } from '../src/workers/expiry.ts';
import { ADMIN_TOKEN, INVOICE_FIELDS, startKasa, type TestKasa } from './helpers/kasa.ts';
import { Receiver, waitUntil } from './helpers/receiver.ts';

const SECOND = 1_000;
/** A fetch held open this long is refused as a timeout (the pass's own limit, small for the test). */
const TEST_FETCH_TIMEOUT_MS = 300;

type Answer = { status: number; body: string } | 'hold';
const json = (value: unknown): Answer => ({ status: 200, body: JSON.stringify(value) });

/** A price source: answers `answer` to every GET, counts requests. */
async function startSource(initial: Answer): Promise<{ receiver: Receiver; set(answer: Answer): void; url: string }> {
  const receiver = await Receiver.start();
  let answer = initial;
  receiver.reply = () => (answer === 'hold' ? 'hold' : { status: answer.status, headers: { 'content-type': 'application/json' }, body: answer.body });
  return { receiver, set: (a) => (answer = a), url: receiver.url.replace('/hook', '/v1/price?pair=USDT') };
}

function httpJson(url: string, overrides: Record<string, unknown> = {}) {
  return {
    kind: 'http_json',
    url,
    json_path: '$.data.price',
    refresh_seconds: 10,
    max_age_seconds: 60,
    markup_percent: '1.50',
    max_change_percent: '5.00',
    ...overrides,
  };
}

async function refusedCount(t: TestKasa, currency: string, reason: string): Promise<number> {
  const res = await t.inject({ method: 'GET', url: '/metrics' });
  const line = res.body.split('\n').find((l) => l.startsWith(`kasa_rate_quotes_refused_total{currency="${currency}",reason="${reason}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('rates that follow the market', () => {
  let t: TestKasa;
  let merchant: { merchant_id: string; api_key: string };
  let source: Awaited<ReturnType<typeof startSource>>;
  let externalN = 0;
  const createIn = (currency: string) =>
    t.createInvoice(merchant.api_key, { currency_code: currency, external_id: `rates-${externalN++}`, customer_id: `c-${externalN}` });
  const pass = () => t.kasa.rateSources.pass({ fetchTimeoutMs: TEST_FETCH_TIMEOUT_MS });
  const currency = async (code: string) => {
    const res = await t.admin('GET', '/admin/v1/currencies?limit=100');
    return (res.json().items as Record<string, unknown>[]).find((c) => c.code === code);
  };
  const operatorView = async (invoiceId: string) => {
    const res = await t.admin('GET', `/admin/v1/invoices/${invoiceId}`);
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };

  before(async () => {
    t = await startKasa();
    merchant = await t.createMerchant({ name: 'Rates Shop' });
    await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 1000, customer_max_pending: 1000 });
    source = await startSource(json({ data: { price: '41.00' } }));
  });
  after(async () => {
    await t.kasa.rateSources.close();
    await source.receiver.close();
    await t.close();
  });

  test('a manual rate works as before, and its invoice keeps a manual snapshot', async () => {
    const uah = await currency('UAH');
    assert.deepEqual(uah?.rate_source, { kind: 'manual' });
    assert.equal(uah?.rate, '41.50');
    assert.equal(uah?.raw_rate, null);
    const res = await createIn('UAH');
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(Object.keys(res.json()).sort(), INVOICE_FIELDS, "the merchant's invoice object is the seed's");
    assert.equal(res.json().conversion_rate, '41.50');
    assert.equal(res.json().merchant_usdt, '35.42');
    const view = await operatorView(res.json().invoice_id);
    assert.equal(view.rate_source, 'manual');
    assert.equal(view.raw_rate, '41.50');
    assert.equal(view.markup_percent, '0.00');
    assert.equal(view.rate_fetched_at, null);
    assert.equal(view.merchant_id, merchant.merchant_id);
    assert.equal(view.conversion_rate, '41.50');
    // A pass with no source configured fetches nothing.
    assert.deepEqual(await pass(), { accepted: 0, refused: 0, dropped: 0 });
    assert.equal(source.receiver.received.length, 0);
  });

  test('bad rate_source bodies are 422 with every violation located, and nothing changes', async () => {
    const before = await t.admin('GET', '/admin/v1/currencies?limit=100');
    const bad: [unknown, (string | number)[], string][] = [
      [{ kind: 'coingecko' }, ['body', 'rate_source'], 'union_tag_invalid'],
      [{ url: source.url }, ['body', 'rate_source'], 'union_tag_not_found'],
      ['manual', ['body', 'rate_source'], 'model_attributes_type'],
      [httpJson('ftp://prices.example.com/x'), ['body', 'rate_source', 'http_json', 'url'], 'url_scheme'],
      [httpJson('not a url'), ['body', 'rate_source', 'http_json', 'url'], 'url_parsing'],
      [httpJson(source.url, { json_path: 'data.price' }), ['body', 'rate_source', 'http_json', 'json_path'], 'value_error'],
      [httpJson(source.url, { json_path: '$.data[' }), ['body', 'rate_source', 'http_json', 'json_path'], 'value_error'],
      [httpJson(source.url, { refresh_seconds: 4 }), ['body', 'rate_source', 'http_json', 'refresh_seconds'], 'greater_than_equal'],
      [httpJson(source.url, { refresh_seconds: 30, max_age_seconds: 20 }), ['body', 'rate_source', 'http_json', 'max_age_seconds'], 'greater_than_equal'],
      [httpJson(source.url, { markup_percent: '-1' }), ['body', 'rate_source', 'http_json', 'markup_percent'], 'greater_than_equal'],
      [httpJson(source.url, { markup_percent: '1.005' }), ['body', 'rate_source', 'http_json', 'markup_percent'], 'decimal_max_places'],
      [httpJson(source.url, { max_change_percent: '0' }), ['body', 'rate_source', 'http_json', 'max_change_percent'], 'greater_than'],
      [httpJson(source.url, { max_change_percent: undefined }), ['body', 'rate_source', 'http_json', 'max_change_percent'], 'missing'],
    ];
    for (const [rateSource, loc, type] of bad) {
      const res = await t.admin('PUT', '/admin/v1/currencies/USD', { enabled: true, rate_source: rateSource });
      assert.equal(res.statusCode, 422, `${JSON.stringify(rateSource)}: ${res.body}`);
      const issue = (res.json().detail as { loc: unknown; type: string }[])[0];
      assert.deepEqual(issue?.loc, loc, res.body);
      assert.equal(issue?.type, type, res.body);
    }
    const both = await t.admin('PUT', '/admin/v1/currencies/USD', { enabled: true, rate: '41.00', rate_source: httpJson(source.url) });
    assert.equal(both.statusCode, 409, both.body);
    assert.equal(both.json().error.code, 'RATE_SET_BY_SOURCE');
    const afterwards = await t.admin('GET', '/admin/v1/currencies?limit=100');
    assert.deepEqual(afterwards.json(), before.json(), 'no currency was created or changed');
    assert.equal(source.receiver.received.length, 0);
  });

  test('an accepted quote becomes quote × (1 + markup), and the invoice keeps its snapshot', async () => {
    const put = await t.admin('PUT', '/admin/v1/currencies/USD', { enabled: true, rate_source: httpJson(source.url) });
    assert.equal(put.statusCode, 200, put.body);
    assert.deepEqual(put.json().rate_source, {
      kind: 'http_json',
      url: source.url,
      json_path: '$.data.price',
      refresh_seconds: 10,
      max_age_seconds: 60,
      markup_percent: '1.50',
      max_change_percent: '5.00',
    });
    assert.equal(put.json().rate, null);
    // No quote yet: no rate, never a guess.
    const early = await createIn('USD');
    assert.equal(early.statusCode, 503, early.body);
    assert.equal(early.json().error.code, 'RATE_UNAVAILABLE');
    // A manual rate cannot be slipped under a source.
    const typed = await t.admin('PUT', '/admin/v1/currencies/USD', { enabled: true, rate: '40.00' });
    assert.equal(typed.statusCode, 409, typed.body);

    assert.deepEqual(await pass(), { accepted: 1, refused: 0, dropped: 0 });
    assert.equal(source.receiver.received.length, 1);
    assert.equal(source.receiver.received[0]?.path, '/v1/price?pair=USDT');
    const usd = await currency('USD');
    // 41.00 × 1.015 = 41.615
    assert.equal(usd?.rate, '41.615');
    assert.equal(usd?.raw_rate, '41.00');
    assert.equal(usd?.rate_fetched_at, '2026-02-25T12:00:00Z');

    const res = await createIn('USD');
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(Object.keys(res.json()).sort(), INVOICE_FIELDS, "the merchant's invoice object is unchanged");
    assert.equal(res.json().conversion_rate, '41.615');
    const expected = quoteInvoice(cents('1500.00'), rateMicro('41.615'), percentHundredths('2.00'));
    assert.equal(res.json().merchant_usdt, formatUsdt(expected.merchantUsdt, 2));
    const view = await operatorView(res.json().invoice_id);
    assert.equal(view.rate_source, 'http_json');
    assert.equal(view.raw_rate, '41.00');
    assert.equal(view.markup_percent, '1.50');
    assert.equal(view.rate_fetched_at, '2026-02-25T12:00:00Z');
    assert.equal(view.conversion_rate, '41.615');
    assert.equal(view.gross_usdt, formatUsdt(expected.grossUsdt));

    // Not due again before refresh_seconds.
    t.clock.advance(9 * SECOND);
    assert.deepEqual(await pass(), { accepted: 0, refused: 0, dropped: 0 });
    assert.equal(source.receiver.received.length, 1);
  });

  test("the markup is exact decimal arithmetic, rounded half up to the rate's 6 places", async () => {
    // 41.123456789 × 1.015 = 41.740308640835 → 41.740309; a JSON number beyond a double's digits
    // keeps them all.
    t.clock.advance(1 * SECOND);
    source.set({ status: 200, body: '{"data":{"price":41.123456789}}' });
    assert.equal((await pass()).accepted, 1);
    let usd = await currency('USD');
    assert.equal(usd?.raw_rate, '41.123456789');
    assert.equal(usd?.rate, '41.740309');
    t.clock.advance(10 * SECOND);
    source.set({ status: 200, body: '{"data":{"price":41.1234567890123}}' });
    assert.equal((await pass()).refused, 1, '13 decimals: more than a quote keeps, refused rather than rounded');
    t.clock.advance(10 * SECOND);
    source.set({ status: 200, body: '{"data":{"price":41.000000000001}}' });
    assert.equal((await pass()).accepted, 1);
    usd = await currency('USD');
    assert.equal(usd?.raw_rate, '41.000000000001', 'the twelfth decimal survives (a double would keep it too, but not its text)');
    assert.equal(usd?.rate, '41.615');
  });

  test('a jump over max_change_percent is refused and counted; the last good rate stays', async () => {
    const countBefore = await refusedCount(t, 'USD', 'max_change');
    t.clock.advance(10 * SECOND);
    source.set(json({ data: { price: '43.10' } })); // +5.12 % from 41.000000000001
    assert.deepEqual(await pass(), { accepted: 0, refused: 1, dropped: 0 });
    assert.equal(await refusedCount(t, 'USD', 'max_change'), countBefore + 1);
    assert.equal((await currency('USD'))?.rate, '41.615');
    const res = await createIn('USD');
    assert.equal(res.json().conversion_rate, '41.615');

    // Within the limit (from the last accepted quote, not the refused one): accepted.
    t.clock.advance(10 * SECOND);
    source.set(json({ data: { price: '43.05' } })); // +4.99 %
    assert.equal((await pass()).accepted, 1);
    assert.equal((await currency('USD'))?.raw_rate, '43.05');
  });

  test('a non-number, a negative, an HTTP 500, a timeout, bad JSON, no match and an oversized answer are refused, each counted', async () => {
    const rateBefore = (await currency('USD'))?.rate;
    const cases: [Answer, string][] = [
      [json({ data: { price: 'abc' } }), 'not_a_number'],
      [json({ data: { price: { value: 43 } } }), 'not_a_number'],
      [json({ data: { price: '-43.05' } }), 'not_positive'],
      [json({ data: { price: 0 } }), 'not_positive'],
      [{ status: 500, body: '{"data":{"price":"43.05"}}' }, 'http_status'],
      ['hold', 'timeout'],
      [{ status: 200, body: '{"data":' }, 'invalid_json'],
      [json({ data: { cost: '43.05' } }), 'no_match'],
      [json({ data: { price: '43.05', padding: 'x'.repeat(70_000) } }), 'too_large'],
    ];
    for (const [answer, reason] of cases) {
      const countBefore = await refusedCount(t, 'USD', reason);
      t.clock.advance(10 * SECOND);
      source.set(answer);
      assert.deepEqual(await pass(), { accepted: 0, refused: 1, dropped: 0 }, reason);
      assert.equal(await refusedCount(t, 'USD', reason), countBefore + 1, reason);
      assert.equal((await currency('USD'))?.rate, rateBefore, `${reason}: the last good rate stays`);
    }
    source.receiver.release(503);

    // The history lists every quote newest first, a page at a time.
    const reasons: (string | null)[] = [];
    let cursor: string | null = null;
    do {
      const res = await t.admin('GET', `/admin/v1/currencies/USD/rates?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.ok(body.items.length <= 3);
      reasons.push(...body.items.map((q: { reason: string | null }) => q.reason));
      cursor = body.next_cursor;
    } while (cursor !== null);
    assert.deepEqual(reasons.slice(0, cases.length), cases.map(([, r]) => r).reverse());
    assert.equal(reasons.length, cases.length + 6, 'every quote is kept: 4 accepted, 2 refused before these');
    const first = (await t.admin('GET', '/admin/v1/currencies/USD/rates?limit=1')).json().items[0];
    assert.equal(first.accepted, false);
    assert.equal(first.http_status, 200);
    const accepted = (await t.admin('GET', '/admin/v1/currencies/USD/rates?limit=100')).json().items.filter((q: { accepted: boolean }) => q.accepted);
    assert.deepEqual(accepted[0], { ...accepted[0], raw_rate: '43.05', markup_percent: '1.50', rate: '43.69575', reason: null, raw_text: '43.05' });
    assert.equal((await t.admin('GET', '/admin/v1/currencies/XXX/rates')).statusCode, 404);
    assert.equal((await t.admin('GET', '/admin/v1/currencies/USD/rates?cursor=nonsense')).statusCode, 400);
  });

  test('once the last accepted quote is older than max_age_seconds create-invoice answers 503, until the source recovers', async () => {
    t.clock.advance(10 * SECOND);
    source.set(json({ data: { price: '43.00' } }));
    assert.equal((await pass()).accepted, 1);
    // The source fails from now on; exactly max_age_seconds after the last accepted quote, its
    // rate still holds.
    source.set({ status: 500, body: 'down' });
    t.clock.advance(60 * SECOND);
    assert.equal((await pass()).refused, 1);
    assert.equal((await createIn('USD')).statusCode, 200);
    // One second more: refused, whatever the catalog's cache holds.
    t.clock.advance(1 * SECOND);
    const stale = await createIn('USD');
    assert.equal(stale.statusCode, 503, stale.body);
    assert.deepEqual(stale.json().error, { code: 'RATE_UNAVAILABLE', message: 'Exchange rate is not available' });
    const invoices = await t.countInvoices();
    t.kasa.catalog.invalidate();
    assert.equal((await createIn('USD')).statusCode, 503, 'after the cache is reloaded too');
    assert.equal(await t.countInvoices(), invoices, 'no invoice was created at a stale rate');
    // Manual currencies are not affected.
    assert.equal((await createIn('UAH')).statusCode, 200);

    source.set(json({ data: { price: '43.10' } }));
    t.clock.advance(9 * SECOND);
    assert.equal((await pass()).accepted, 1);
    const recovered = await createIn('USD');
    assert.equal(recovered.statusCode, 200, recovered.body);
    // 43.10 × 1.015 = 43.7465
    assert.equal(recovered.json().conversion_rate, '43.7465');
  });

  test('two instances on one database never fetch the same currency in the same period', async () => {
    const other = await startSource(json({ data: { price: '1.08' } }));
    const put = await t.admin('PUT', '/admin/v1/currencies/EUR', {
      enabled: true,
      rate_source: httpJson(other.url, { markup_percent: '0', refresh_seconds: 5, max_age_seconds: 5 }),
    });
    assert.equal(put.statusCode, 200, put.body);
    const instances = [0, 1, 2].map(() =>
      createKasa({ config: t.kasa.config, db: t.database.db, engine: t.database.engine, clock: t.clock, adminToken: ADMIN_TOKEN }),
    );
    try {
      const ROUNDS = 10;
      for (let round = 1; round <= ROUNDS; round++) {
        // Each instance runs several passes at once, all of them in the same period.
        await Promise.all(instances.flatMap((k) => [0, 1, 2].map(() => k.rateSources.pass({ fetchTimeoutMs: TEST_FETCH_TIMEOUT_MS }))));
        assert.equal(other.receiver.received.length, round, `round ${round}: one request to the EUR source`);
        t.clock.advance(5 * SECOND);
      }
      const quotes = (await t.admin('GET', '/admin/v1/currencies/EUR/rates?limit=100')).json().items;
      assert.equal(quotes.length, ROUNDS);
      assert.ok(quotes.every((q: { accepted: boolean }) => q.accepted));
      assert.equal(other.receiver.maxOpenPerHost, 1, 'never two fetches of one source at once');
    } finally {
      await Promise.all(instances.map((k) => k.rateSources.close()));
      await other.receiver.close();
    }
    // A source changed while its fetch was in flight: that answer is dropped, not applied.
    t.clock.advance(5 * SECOND);
    source.set('hold');
    const running = t.kasa.rateSources.pass({ fetchTimeoutMs: 10_000 });
    await waitUntil(() => source.receiver.heldCount > 0, 'held USD fetch');
    const changed = await t.admin('PUT', '/admin/v1/currencies/USD', { enabled: true, rate_source: httpJson(source.url, { json_path: '$.price' }) });
    assert.equal(changed.statusCode, 200, changed.body);
    assert.equal(changed.json().rate, null, 'a new source starts without a rate');
    source.receiver.release(200);
    const result = await running;
    assert.equal(result.dropped, 1);
    assert.equal((await currency('USD'))?.rate, null);
  });

  test('the worker loop runs a pass on each tick of its timer and stops cleanly', async () => {
    const pending: (() => void)[] = [];
    const timers: Timers = { set: (callback) => pending.push(callback), clear: () => {} };
    source.set(json({ price: '42.00' }));
    t.clock.advance(10 * SECOND);
    const worker = startRateWorker(t.kasa, pino({ level: 'silent' }), { timers, fetchTimeoutMs: TEST_FETCH_TIMEOUT_MS });
    pending.shift()?.();
    await waitUntil(async () => (await currency('USD'))?.raw_rate === '42.00', 'the worker applied the quote');
    await worker.stop();
    // Switched back to manual: the source is forgotten and the rate is the operator's again.
    const manual = await t.admin('PUT', '/admin/v1/currencies/USD', { enabled: true, rate: '42.10', rate_source: { kind: 'manual' } });
    assert.equal(manual.statusCode, 200, manual.body);
    assert.deepEqual(manual.json().rate_source, { kind: 'manual' });
    assert.equal(manual.json().raw_rate, null);
    t.clock.advance(3600 * SECOND);
    const res = await createIn('USD');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().conversion_rate, '42.10');
    const requests = source.receiver.received.length;
    await pass();
    assert.equal(source.receiver.received.length, requests, 'a manual currency is not fetched');
  });
});
