// Several instances: two real `kasa serve` processes on one PostgreSQL database, every request
// alternating between them (and the racing ones sent to both at once). Create-invoice, page
// opens (deal assignment), confirms, cancels, expiry and webhook delivery stay exact: no double
// assignment, no double credit, no double expiry, each event delivered once, the ledger clean.
// (The embedded PGlite database can be opened by one process only: skipped without DATABASE_URL.)
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { groupCard } from '../src/traders/card.ts';
import { createPostgresDatabase } from './helpers/database.ts';
import { HttpClient, type Answer } from './helpers/http-client.ts';
import { PUBLIC_URL, SEED_BODY } from './helpers/kasa.ts';
import { KasaProcess, restartablePort } from './helpers/kasa-process.ts';
import { Receiver, waitUntil } from './helpers/receiver.ts';

const SERVER_URL = process.env.DATABASE_URL;
const SKIP = SERVER_URL ? false : 'needs DATABASE_URL (a PostgreSQL server): the embedded PGlite database can be opened by one process only';
const ADMIN_TOKEN = 'instances-test-admin-token-0123';
const CARDS = ['4149499912341235', '5375414112345672', '4111111111111111'];
/** Open-deal caps of the three requisites: 10 deals at most at once. */
const CAPS = [3, 3, 4];
const CAPACITY = CAPS.reduce((a, b) => a + b, 0);

type Json = any;

describe('two Kasa instances on one PostgreSQL', { skip: SKIP }, () => {
  let instances: KasaProcess[] = [];
  let pool: pg.Pool;
  let dropDatabase: () => Promise<void> = async () => {};
  let dataDir = '';
  let receiver: Receiver;
  const http = new HttpClient(64);
  let merchant: { id: string; apiKey: string; secret: string };
  const traders: { id: string; apiKey: string }[] = [];
  const requisites: { id: string; card: string; cap: number; trader: number }[] = [];
  let turn = 0;

  /** The instance for the next request: they alternate. */
  const next = () => instances[turn++ % instances.length]!;

  async function send(target: KasaProcess, method: string, url: string, options: Parameters<HttpClient['send']>[2] = {}): Promise<Answer & { kind: 'answer' }> {
    const answer = await http.send(method, `${target.url}${url}`, { timeoutMs: 15_000, ...options });
    assert.equal(answer.kind, 'answer', `${method} ${url} on ${target.url}: ${answer.kind === 'answer' ? '' : answer.error}`);
    return answer as Answer & { kind: 'answer' };
  }
  const admin = (target: KasaProcess, method: string, url: string, json?: unknown) =>
    send(target, method, url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, json });
  const asMerchant = (target: KasaProcess, method: string, url: string, json?: unknown) =>
    send(target, method, url, { headers: { 'x-api-key': merchant.apiKey }, json });
  const asTrader = (t: number, target: KasaProcess, method: string, url: string) => send(target, method, url, { headers: { 'x-api-key': traders[t]!.apiKey } });
  async function query<T = Json>(text: string, values: unknown[] = []): Promise<T[]> {
    return (await pool.query(text, values)).rows as T[];
  }

  let amountSeq = 0;
  /** A fresh amount each time (a trader tells open deals on one card apart by amount). */
  const nextAmount = () => `${1000 + 7 * amountSeq++}.${String(amountSeq % 100).padStart(2, '0')}`;
  function invoiceBody(overrides: Record<string, string> = {}): Record<string, string> {
    const { callback_url: _unused, ...seed } = SEED_BODY;
    return {
      ...seed,
      amount: nextAmount(),
      external_id: `inst-${amountSeq}-${Math.random().toString(36).slice(2)}`,
      customer_id: `customer-${amountSeq % 7}`,
      ...overrides,
    };
  }
  async function createInvoice(target: KasaProcess, body = invoiceBody()): Promise<Json> {
    const res = await asMerchant(target, 'POST', '/api/v1/create-invoice', body);
    assert.equal(res.status, 200, res.text);
    return res.json;
  }

  before(async () => {
    const created = await createPostgresDatabase(SERVER_URL!);
    dropDatabase = created.drop;
    pool = new pg.Pool({ connectionString: created.url, max: 4 });
    // pool.end() resolves before its connections have closed, so the DROP DATABASE … WITH (FORCE)
    // that follows may end one first: at teardown that is no error.
    pool.on('error', () => {});
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'kasa-instances-'));
    receiver = await Receiver.start();
    // Both start at once (migrations run under an advisory lock, exactly once), behind one public URL.
    const ports = [await restartablePort(), await restartablePort()];
    instances = ports.map((port) => KasaProcess.spawn({ databaseUrl: created.url, port, adminToken: ADMIN_TOKEN, dataDir, env: { PUBLIC_URL } }));
    await Promise.all(instances.map((k) => k.ready()));

    const [a, b] = instances as [KasaProcess, KasaProcess];
    assert.equal((await admin(a, 'PUT', '/admin/v1/currencies/UAH', { enabled: true, rate: '41.50' })).status, 200);
    assert.equal((await admin(b, 'PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 10_000, customer_max_pending: 10_000 })).status, 200);
    const m = await admin(a, 'POST', '/admin/v1/merchants', { name: 'Two Instances Shop', webhook_url: receiver.url });
    assert.equal(m.status, 201, m.text);
    merchant = { id: m.json.merchant_id, apiKey: m.json.api_key, secret: m.json.webhook_secret };
    for (let t = 0; t < 2; t++) {
      const trader = await admin(next(), 'POST', '/admin/v1/traders', { name: `Trader ${t + 1}` });
      assert.equal(trader.status, 201, trader.text);
      traders.push({ id: trader.json.trader_id, apiKey: trader.json.api_key });
      const deposit = await admin(next(), 'POST', `/admin/v1/traders/${trader.json.trader_id}/deposits`, { amount_usdt: '100000.00', reference: `dep-${t}` });
      assert.equal(deposit.status, 201, deposit.text);
    }
    for (const [r, cap] of CAPS.entries()) {
      const t = r < 2 ? 0 : 1;
      const res = await send(next(), 'POST', '/api/v1/trader/requisites', {
        headers: { 'x-api-key': traders[t]!.apiKey },
        json: { currency: 'UAH', bank_name: `Bank ${r}`, card_number: CARDS[r], holder_name: `Holder ${r}`, max_open_deals: cap },
      });
      assert.equal(res.status, 201, res.text);
      requisites.push({ id: res.json.requisite_id, card: CARDS[r]!, cap, trader: t });
    }
    // Each instance caches currencies and settings for at most a second.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
  });

  after(async () => {
    await Promise.all(instances.map((k) => k.stop()));
    await receiver?.close();
    await http.close();
    await pool?.end();
    await dropDatabase();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test('create, page opens, confirms, cancels, expiry and webhooks stay exact across both instances', async () => {
    const [a, b] = instances as [KasaProcess, KasaProcess];

    // --- create-invoice, alternating; the same external_id sent to both at once: one invoice.
    const invoices: Json[] = [];
    for (let i = 0; i < 24; i++) invoices.push(await createInvoice(next()));
    for (let i = 0; i < 3; i++) {
      const body = invoiceBody();
      const [ra, rb] = await Promise.all([asMerchant(a, 'POST', '/api/v1/create-invoice', body), asMerchant(b, 'POST', '/api/v1/create-invoice', body)]);
      const statuses = [ra.status, rb.status].sort();
      assert.deepEqual(statuses, [200, 409], `duplicate external_id on both instances: ${ra.text} / ${rb.text}`);
      const won = ra.status === 200 ? ra : rb;
      const lost = ra.status === 200 ? rb : ra;
      assert.equal(lost.json.error.code, 'DUPLICATE_EXTERNAL_ID');
      assert.equal(lost.json.error.details.invoice_id, won.json.invoice_id);
      invoices.push(won.json);
    }
    // Each instance reads what the other created.
    for (const inv of invoices) {
      const got = await asMerchant(next(), 'GET', `/api/v1/invoices/${inv.invoice_id}`);
      assert.equal(got.status, 200);
      assert.deepEqual(got.json, { ...inv, paid_amount: null, status_detail: null });
    }

    // --- page opens: every page on both instances at once; more invoices than card capacity.
    await Promise.all(
      invoices.map(async (inv) => {
        const both = await Promise.all([send(a, 'GET', `/pay/${inv.invoice_id}`), send(b, 'GET', `/pay/${inv.invoice_id}`)]);
        for (const p of both) assert.equal(p.status, 200);
      }),
    );
    // A page that found every free card locked by another opening says "assigning" and the
    // customer reloads it: each round opens at least one deal while a card has room.
    for (let round = 0; round < 12; round++) {
      const open = Number((await query<{ n: string }>(`SELECT count(*) AS n FROM deals WHERE status IN ('awaiting_payment', 'customer_paid')`))[0]!.n);
      if (open >= CAPACITY) break;
      const without = await query<{ id: string }>('SELECT i.id FROM invoices i LEFT JOIN deals d ON d.invoice_id = i.id WHERE d.id IS NULL');
      await Promise.all(without.map(({ id }) => Promise.all([send(a, 'GET', `/pay/${id}`), send(b, 'GET', `/pay/${id}`)])));
    }

    const perInvoice = await query<{ invoice_id: string; n: string }>('SELECT invoice_id, count(*) AS n FROM deals GROUP BY invoice_id HAVING count(*) > 1');
    assert.deepEqual(perInvoice, [], 'no invoice got two deals');
    const deals = await query<{ id: string; invoice_id: string; requisite_id: string; amount: string; trader_id: string; trader_cost: string }>(
      'SELECT id, invoice_id, requisite_id, amount, trader_id, trader_cost FROM deals',
    );
    assert.equal(deals.length, CAPACITY, 'every card filled to its cap, no more');
    for (const r of requisites) {
      const on = deals.filter((d) => d.requisite_id === r.id);
      assert.equal(on.length, r.cap, `requisite ${r.id} has ${on.length} open deals, cap ${r.cap}`);
      assert.equal(new Set(on.map((d) => d.amount)).size, on.length, 'no two open deals of one amount on one card');
    }
    const locks = await query<{ ref: string; n: string }>(`SELECT ref, count(*) AS n FROM transfers WHERE kind = 'deal_lock' GROUP BY ref`);
    assert.equal(locks.length, deals.length);
    assert.ok(
      locks.every((l) => l.n === '1'),
      'one lock per deal',
    );
    // Both instances show the same deal: the card of the deal the invoice got, on both pages.
    await Promise.all(
      deals.map(async (d) => {
        const card = groupCard(requisites.find((r) => r.id === d.requisite_id)!.card);
        const both = await Promise.all([send(a, 'GET', `/pay/${d.invoice_id}`), send(b, 'GET', `/pay/${d.invoice_id}`)]);
        for (const p of both) assert.ok(p.text.includes(card), `both pages of ${d.invoice_id} show its deal's card`);
      }),
    );

    // --- confirms double-sent to both instances at once: one 200, one 409, one credit.
    const dealIds = deals.map((d) => d.id);
    // The last one stays open until it expires.
    const [confirmed, cancelled, raced] = [dealIds.slice(0, 4), dealIds.slice(4, 6), dealIds.slice(6, 9)];
    const traderOf = (dealId: string) => traders.findIndex((t) => t.id === deals.find((d) => d.id === dealId)!.trader_id);
    const invoiceOf = (dealId: string) => deals.find((d) => d.id === dealId)!.invoice_id;
    for (const dealId of confirmed) {
      const t = traderOf(dealId);
      const both = await Promise.all([
        asTrader(t, a, 'POST', `/api/v1/trader/deals/${dealId}/confirm`),
        asTrader(t, b, 'POST', `/api/v1/trader/deals/${dealId}/confirm`),
      ]);
      assert.deepEqual(both.map((r) => r.status).sort(), [200, 409], both.map((r) => r.text).join(' / '));
      assert.equal(both.find((r) => r.status === 409)!.json.error.code, 'DEAL_NOT_ACTIVE');
    }
    // --- merchant cancels sent to both at once: one 200, one 409.
    for (const dealId of cancelled) {
      const url = `/api/v1/invoices/${invoiceOf(dealId)}/cancel`;
      const both = await Promise.all([asMerchant(a, 'POST', url), asMerchant(b, 'POST', url)]);
      assert.deepEqual(both.map((r) => r.status).sort(), [200, 409], both.map((r) => r.text).join(' / '));
      assert.equal(both.find((r) => r.status === 409)!.json.error.code, 'INVOICE_NOT_PENDING');
    }
    // --- confirm on one instance against cancel on the other: exactly one wins.
    const racedWinners = new Map<string, string>();
    for (const [i, dealId] of raced.entries()) {
      const [confirmOn, cancelOn] = i % 2 ? [a, b] : [b, a];
      const [c, x] = await Promise.all([
        asTrader(traderOf(dealId), confirmOn, 'POST', `/api/v1/trader/deals/${dealId}/confirm`),
        asMerchant(cancelOn, 'POST', `/api/v1/invoices/${invoiceOf(dealId)}/cancel`),
      ]);
      assert.deepEqual([c.status, x.status].sort(), [200, 409], `confirm ${c.text} / cancel ${x.text}`);
      racedWinners.set(invoiceOf(dealId), c.status === 200 ? 'success' : 'cancelled');
    }

    // --- expiry: more pending invoices, some of them with a deal; all made due at once. Both
    // instances' sweepers run every second on the same rows.
    for (let i = 0; i < 60; i++) invoices.push(await createInvoice(next()));
    const pendingBefore = await query<{ id: string }>(`SELECT id FROM invoices WHERE status = 'pending'`);
    assert.equal(pendingBefore.length, invoices.length - confirmed.length - cancelled.length - raced.length, 'every other invoice is pending');
    await pool.query(`UPDATE invoices SET expires_at = greatest(now(), created_at + interval '1 millisecond') WHERE status = 'pending'`);
    await waitUntil(
      async () => Number((await query<{ n: string }>(`SELECT count(*) AS n FROM invoices WHERE status = 'pending'`))[0]!.n) === 0,
      'the expiry workers to expire every due invoice',
      () => new Promise((resolve) => setTimeout(resolve, 100)),
    );
    // Expired reads the same on both.
    for (const { id } of pendingBefore.slice(0, 6)) assert.equal((await asMerchant(next(), 'GET', `/api/v1/invoices/${id}`)).json.status, 'expired');

    // --- exactness in the database.
    const states = await query<{ id: string; status: string; deal_status: string | null; credits: string; releases: string; events: string; types: string[] }>(
      `SELECT i.id, i.status, d.status AS deal_status,
              (SELECT count(*) FROM transfers t WHERE t.ref = d.id AND t.kind = 'deal_credit') AS credits,
              (SELECT count(*) FROM transfers t WHERE t.ref = d.id AND t.kind = 'deal_release') AS releases,
              (SELECT count(*) FROM events e WHERE e.invoice_id = i.id) AS events,
              (SELECT coalesce(array_agg(e.type), '{}') FROM events e WHERE e.invoice_id = i.id) AS types
         FROM invoices i LEFT JOIN deals d ON d.invoice_id = i.id`,
    );
    assert.equal(states.length, invoices.length);
    const byId = new Map(states.map((s) => [s.id, s]));
    for (const dealId of confirmed) assert.equal(byId.get(invoiceOf(dealId))!.status, 'success');
    for (const dealId of cancelled) assert.equal(byId.get(invoiceOf(dealId))!.status, 'cancelled');
    for (const [invoiceId, status] of racedWinners) assert.equal(byId.get(invoiceId)!.status, status, 'the raced invoice ended as its winner said');
    for (const s of states) {
      assert.equal(s.events, '1', `${s.id} (${s.status}) has exactly one event: ${s.types.join(',')}`);
      assert.deepEqual(s.types, [`invoice.${s.status}`]);
      if (s.status === 'success') assert.deepEqual([s.deal_status, s.credits, s.releases], ['completed', '1', '0'], `success ${s.id}: one credit, no release`);
      else if (s.deal_status !== null)
        assert.deepEqual([s.deal_status, s.credits, s.releases], [s.status, '0', '1'], `${s.status} ${s.id}: one release, no credit`);
    }
    const expired = states.filter((s) => s.status === 'expired');
    assert.ok(expired.length >= 60 && expired.some((s) => s.deal_status === 'expired'), 'expiry covered invoices with and without a deal');

    // --- webhooks: every event delivered, validly signed, none sent twice.
    const events = await query<{ id: string; invoice_id: string; type: string }>('SELECT id::text, invoice_id::text, type FROM events');
    assert.equal(events.length, invoices.length);
    await waitUntil(
      async () => Number((await query<{ n: string }>(`SELECT count(*) AS n FROM deliveries WHERE status <> 'delivered'`))[0]!.n) === 0,
      'every delivery to be delivered',
      () => new Promise((resolve) => setTimeout(resolve, 100)),
    );
    const received = new Map(receiver.received.map((r) => [String(r.headers['webhook-id']), r]));
    for (const e of events) {
      const r = received.get(e.id);
      assert.ok(r, `event ${e.id} (${e.type}) reached the receiver`);
      const headers = Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, String(v)]));
      const body = new Webhook(merchant.secret).verify(r.body, headers) as { type: string; data: { invoice_id: string } };
      assert.equal(body.type, e.type);
      assert.equal(body.data.invoice_id, e.invoice_id);
    }
    assert.equal(receiver.received.length, events.length, 'each event sent once');
    assert.deepEqual(receiver.overlaps, [], 'no event was being sent by both instances at once');

    // --- the ledger, read through both instances.
    for (const k of [a, b]) {
      const report = await admin(k, 'GET', '/admin/v1/ledger/verify');
      assert.equal(report.json.ok, true, report.text);
    }
    const [sums] = await query<{ balance: string; owed: string }>(
      `SELECT (SELECT coalesce(sum(balance), 0) FROM accounts WHERE id = $1) AS balance,
              (SELECT coalesce(sum(merchant_usdt), 0) FROM invoices WHERE status = 'success') AS owed`,
      [`merchant:${merchant.id}`],
    );
    assert.equal(sums!.balance, sums!.owed, 'the merchant balance is the sum of merchant_usdt over success invoices');
    const locked = await query<{ id: string; balance: string }>(`SELECT id, balance FROM accounts WHERE id LIKE 'trader:%:locked'`);
    for (const l of locked) assert.equal(l.balance, '0', `${l.id}: no deal is open, nothing stays locked`);
  });

  test('customer limits hold exactly when one customer hits both instances at once', async () => {
    const burst = async (customer: string) => {
      const answers = await Promise.all(
        Array.from({ length: 12 }, () => asMerchant(next(), 'POST', '/api/v1/create-invoice', invoiceBody({ customer_id: customer }))),
      );
      for (const r of answers) if (r.status !== 200) assert.equal(r.json.error.code, 'CUSTOMER_RATE_LIMITED', r.text);
      return answers.filter((r) => r.status === 200).length;
    };
    // A setting change reaches the other instance within a second (its cache).
    assert.equal((await admin(next(), 'PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 10_000, customer_max_pending: 3 })).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    assert.equal(await burst('burst-pending'), 3, 'at most customer_max_pending pending invoices');
    assert.equal((await admin(next(), 'PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 4, customer_max_pending: 10_000 })).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    assert.equal(await burst('burst-rate'), 4, 'at most customer_invoices_per_minute in 60 s');
  });
});
