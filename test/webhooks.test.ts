// Webhook delivery against real local HTTP receivers: Standard Webhooks content and signatures
// (checked with the official `standardwebhooks` package and node:crypto), the retry schedule
// on an injected clock, the worker's concurrency (per-target isolation), the SSRF guard, and the
// merchant and operator endpoints.
import assert from 'node:assert/strict';
import { createPublicKey, verify as verifySignature } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import pino from 'pino';
import { Webhook } from 'standardwebhooks';
import {
  ATTEMPTS_MAX,
  CLAIM_SCAN_MAX,
  DeliveryWorker,
  LEASE_MS,
  nextStep,
  PER_TARGET_IN_FLIGHT_MAX,
  RETRY_AFTER_MS_MAX,
  RETRY_JITTER_RATIO,
  RETRY_SCHEDULE_MS,
  type DeliveryOptions,
} from '../src/webhooks/delivery.ts';
import { connect } from '../src/db/connect.ts';
import { loadMigrations, migrate } from '../src/db/migrate.ts';
import { answerView, RESPONSE_BODY_BYTES_MAX } from '../src/webhooks/answer.ts';
import { DELIVERY_TIMEOUT_MS, WebhookSender, type AttemptResult } from '../src/webhooks/sender.ts';
import { TEST_PINGS_IN_FLIGHT_MAX, TEST_PINGS_PER_TARGET_IN_FLIGHT_MAX } from '../src/webhooks/test-pings.ts';
import { isBlockedAddress } from '../src/webhooks/ssrf.ts';
import { createPostgresDatabase } from './helpers/database.ts';
import { assertEnvelope } from './helpers/http.ts';
import { startKasa, type TestKasa } from './helpers/kasa.ts';
import { Receiver, waitUntil, type Received } from './helpers/receiver.ts';
import { addTrader, trader, type TestTrader } from './helpers/traders.ts';

interface Shop {
  merchant_id: string;
  api_key: string;
  webhook_secret: string;
}

/** A Kasa (startKasa) with the helpers every block uses: merchants, invoices, transitions, workers, receivers. */
class Harness {
  t!: TestKasa;
  private receivers: Receiver[] = [];
  private seq = 0;
  private tr: TestTrader | null = null;

  async start(overrides: Parameters<typeof startKasa>[0] = {}): Promise<void> {
    this.t = await startKasa(overrides);
  }

  async stop(): Promise<void> {
    await this.closeReceivers();
    await this.t.kasa.sender.close();
    await this.t.close();
  }

  worker(options: DeliveryOptions = {}): DeliveryWorker {
    return new DeliveryWorker(this.t.kasa.db, this.t.kasa.clock, this.t.kasa.sender, pino({ level: 'silent' }), this.t.kasa.metrics, {
      random: () => 0.5,
      ...options,
    });
  }

  async receiver(host = '127.0.0.1'): Promise<Receiver> {
    const receiver = await Receiver.start(host);
    this.receivers.push(receiver);
    return receiver;
  }

  async closeReceivers(): Promise<void> {
    await Promise.all(this.receivers.splice(0).map((r) => r.close()));
  }

  /** Ends whatever a test left pending, so the next test's drain sends only its own deliveries. */
  async settle(): Promise<void> {
    await this.t.database.db
      .updateTable('deliveries')
      .set({ status: 'failed', failure_reason: 'test_cleanup', lease_token: null, lease_until: null })
      .where('status', '=', 'pending')
      .execute();
    await this.closeReceivers();
  }

  async shop(webhookUrl: string | null = null): Promise<Shop> {
    return this.t.createMerchant({ name: `Shop ${++this.seq}`, ...(webhookUrl ? { webhook_url: webhookUrl } : {}) }) as Promise<Shop & { key_id: string }>;
  }

  /** A pending invoice; no callback_url unless given (the merchant's webhook_url then applies). */
  async invoice(shop: Shop, body: Record<string, unknown> = {}): Promise<string> {
    const n = ++this.seq;
    const res = await this.t.createInvoice(shop.api_key, { external_id: `wh-${n}`, customer_id: `wh-customer-${n}`, callback_url: undefined, ...body });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().invoice_id;
  }

  async cancel(shop: Shop, invoiceId: string): Promise<void> {
    const res = await this.t.inject({ method: 'POST', url: `/api/v1/invoices/${invoiceId}/cancel`, headers: { 'x-api-key': shop.api_key } });
    assert.equal(res.statusCode, 200, res.body);
  }

  /** Opens the invoice's deal and has its trader confirm it: invoice.success. */
  async pay(invoiceId: string): Promise<void> {
    this.tr ??= await addTrader(this.t, { deposit: '100000.00' });
    const state = await this.t.kasa.deals.openForPage(invoiceId);
    assert.equal(state.kind, 'deal');
    if (state.kind !== 'deal') return;
    const res = await trader(this.t, this.tr.api_key, 'POST', `/api/v1/trader/deals/${state.deal.id}/confirm`);
    assert.equal(res.statusCode, 200, res.body);
  }

  /** A cancelled invoice; returns its event id. */
  async cancelledEvent(shop: Shop, body: Record<string, unknown> = {}): Promise<string> {
    const invoiceId = await this.invoice(shop, body);
    await this.cancel(shop, invoiceId);
    return this.eventOf(invoiceId, 'invoice.cancelled');
  }

  async eventOf(invoiceId: string, type: string): Promise<string> {
    const rows = await this.t.database.db.selectFrom('events').select('id').where('invoice_id', '=', invoiceId).where('type', '=', type).execute();
    assert.equal(rows.length, 1, `one ${type} event for the invoice`);
    return rows[0]!.id;
  }

  async delivery(eventId: string) {
    return this.t.database.db.selectFrom('deliveries').selectAll().where('event_id', '=', eventId).executeTakeFirstOrThrow();
  }

  api(shop: Shop, method: 'GET' | 'POST', url: string) {
    return this.t.inject({ method, url, headers: { 'x-api-key': shop.api_key } });
  }
}

function headersOf(r: Received): Record<string, string> {
  return Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
}

function signatures(r: Received): string[] {
  return String(r.headers['webhook-signature']).split(' ');
}

/** The v1 signature standardwebhooks computes with this secret for the message (any timestamp). */
function expectedV1(secret: string, r: Received): string {
  return new Webhook(secret).sign(String(r.headers['webhook-id']), new Date(Number(r.headers['webhook-timestamp']) * 1000), r.body);
}

const realNow = () => new Date().toISOString();

// One Kasa (private targets allowed, as in local development) for every block but the SSRF one:
// each test uses its own merchants and receivers, and settle() ends what a test left pending.
const h = new Harness();
before(() => h.start());
after(() => h.stop());

// ---------------------------------------------------------------------------------------------

describe('webhook messages: content, signatures, targets, merchant endpoints', () => {
  let worker: DeliveryWorker;

  before(() => {
    worker = h.worker();
  });
  afterEach(() => h.settle());

  test('every attempt of an event has the same webhook-id and byte-identical body, accepted by standardwebhooks', async () => {
    h.t.clock.set(realNow()); // standardwebhooks checks webhook-timestamp against the real time
    const rx = await h.receiver();
    rx.reply = (_r, n) => ({ status: n === 0 ? 500 : 200 });
    const shop = await h.shop(rx.url);
    const invoiceId = await h.invoice(shop);
    await h.pay(invoiceId);
    const eventId = await h.eventOf(invoiceId, 'invoice.success');
    const invoice = (await h.api(shop, 'GET', `/api/v1/invoices/${invoiceId}`)).json();

    await worker.drain(); // attempt 1: 500
    h.t.clock.advance(5_000);
    await worker.drain(); // attempt 2: 200
    assert.equal((await h.api(shop, 'POST', `/api/v1/webhooks/deliveries/${eventId}/resend`)).statusCode, 200);
    await worker.drain(); // attempt 3, a resend
    assert.equal(rx.received.length, 3);
    assert.equal((await h.delivery(eventId)).status, 'delivered');

    const first = rx.received[0]!;
    for (const r of rx.received) {
      assert.equal(r.method, 'POST');
      assert.equal(r.headers['webhook-id'], eventId);
      assert.equal(r.body, first.body, 'byte-identical body on every attempt');
      assert.equal(r.headers['content-type'], 'application/json');
      assert.match(String(r.headers['user-agent']), /^Kasa-Webhooks\/\d+\.\d+\.\d+$/);
      assert.match(String(r.headers['webhook-timestamp']), /^\d{10}$/);
      assert.match(String(r.headers['webhook-signature']), /^v1,[A-Za-z0-9+/]{43}=$/);
      assert.deepEqual(new Webhook(shop.webhook_secret).verify(r.body, headersOf(r)), JSON.parse(first.body));
    }
    // The attempt's time, not the event's: the second attempt was 5 s later.
    assert.equal(Number(rx.received[1]!.headers['webhook-timestamp']) - Number(first.headers['webhook-timestamp']), 5);

    const body = JSON.parse(first.body);
    assert.equal(first.body, JSON.stringify(body), 'minified JSON');
    assert.deepEqual(Object.keys(body), ['id', 'type', 'timestamp', 'data']);
    assert.equal(body.id, eventId);
    assert.equal(body.type, 'invoice.success');
    assert.match(body.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(body.data, invoice, 'data is the invoice of the merchant API');
    assert.equal(body.data.status, 'success');
    assert.match(body.data.paid_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    // A tampered body is rejected; so is a correctly signed message with an old timestamp.
    const wh = new Webhook(shop.webhook_secret);
    assert.throws(() => wh.verify(first.body.replace('"success"', '"expired"'), headersOf(first)), /No matching signature/);
    assert.throws(() => wh.verify(first.body, { ...headersOf(first), 'webhook-id': 'another-id' }), /No matching signature/);
    h.t.clock.set(new Date(Date.now() - 10 * 60_000).toISOString());
    await h.api(shop, 'POST', `/api/v1/webhooks/deliveries/${eventId}/resend`);
    await worker.drain();
    const old = rx.received[3]!;
    assert.equal(old.body, first.body);
    assert.ok(signatures(old).includes(expectedV1(shop.webhook_secret, old)), 'the old message is correctly signed');
    assert.throws(() => wh.verify(old.body, headersOf(old)), /too old/);
  });

  test('success, expired and cancelled each produce exactly one event and one delivery', async () => {
    h.t.clock.set(realNow());
    const rx = await h.receiver();
    const shop = await h.shop(rx.url);
    const paid = await h.invoice(shop);
    const cancelled = await h.invoice(shop);
    const expiring = await h.invoice(shop);
    await h.pay(paid);
    await h.cancel(shop, cancelled);
    const expiresAt = (await h.api(shop, 'GET', `/api/v1/invoices/${expiring}`)).json().expires_at;
    h.t.clock.set(new Date(Date.parse(expiresAt) + 1_000).toISOString());
    assert.equal(await h.t.kasa.deals.expireDue(), 1);
    // Nothing more happens to final invoices.
    assert.equal((await h.api(shop, 'POST', `/api/v1/invoices/${paid}/cancel`)).statusCode, 409);
    assert.equal(await h.t.kasa.deals.expireDue(), 0);
    await worker.drain();

    const expected: [string, string, string][] = [
      [paid, 'invoice.success', 'success'],
      [cancelled, 'invoice.cancelled', 'cancelled'],
      [expiring, 'invoice.expired', 'expired'],
    ];
    for (const [invoiceId, type, status] of expected) {
      const events = await h.t.database.db.selectFrom('events').select(['id', 'type']).where('invoice_id', '=', invoiceId).execute();
      assert.deepEqual(
        events.map((e) => e.type),
        [type],
      );
      const deliveries = await h.t.database.db.selectFrom('deliveries').select(['status', 'target_url']).where('invoice_id', '=', invoiceId).execute();
      assert.deepEqual(deliveries, [{ status: 'delivered', target_url: rx.url }]);
      const got = rx.forId(events[0]!.id);
      assert.equal(got.length, 1);
      const body = JSON.parse(got[0]!.body);
      assert.equal(body.type, type);
      assert.equal(body.data.invoice_id, invoiceId);
      assert.equal(body.data.status, status);
      assert.equal(body.data.paid_at === null, status !== 'success');
    }
    assert.equal(rx.received.length, 3);
  });

  test("the invoice's callback_url wins over the merchant's webhook_url; no target: event recorded, no delivery", async () => {
    const merchantRx = await h.receiver();
    const callbackRx = await h.receiver();
    const shop = await h.shop(merchantRx.url);
    const viaCallback = await h.cancelledEvent(shop, { callback_url: `${callbackRx.url}?order=1` });
    const viaMerchant = await h.cancelledEvent(shop);
    await worker.drain();
    assert.equal((await h.delivery(viaCallback)).target_url, `${callbackRx.url}?order=1`);
    assert.deepEqual(
      callbackRx.received.map((r) => [r.path, r.headers['webhook-id']]),
      [['/hook?order=1', viaCallback]],
    );
    assert.deepEqual(
      merchantRx.received.map((r) => r.headers['webhook-id']),
      [viaMerchant],
    );

    const silent = await h.shop(null);
    const invoiceId = await h.invoice(silent);
    await h.cancel(silent, invoiceId);
    await h.eventOf(invoiceId, 'invoice.cancelled');
    const deliveries = await h.t.database.db.selectFrom('deliveries').select('event_id').where('invoice_id', '=', invoiceId).execute();
    assert.deepEqual(deliveries, []);
    assert.deepEqual((await h.api(silent, 'GET', '/api/v1/webhooks/deliveries')).json(), { items: [], next_cursor: null });
  });

  test('Ed25519: webhook-keys returns a whpk_ key, and later messages carry a v1a signature node:crypto verifies', async () => {
    h.t.clock.set(realNow());
    const rx = await h.receiver();
    const shop = await h.shop(rx.url);
    const before = await h.cancelledEvent(shop);
    await worker.drain();
    assert.equal(signatures(rx.forId(before)[0]!).length, 1, 'no v1a before a key pair exists');

    const created = await h.t.admin('POST', `/admin/v1/merchants/${shop.merchant_id}/webhook-keys`);
    assert.equal(created.statusCode, 201, created.body);
    const publicKey: string = created.json().public_key;
    assert.match(publicKey, /^whpk_[A-Za-z0-9+/]{43}=$/);
    const raw = Buffer.from(publicKey.slice('whpk_'.length), 'base64');
    assert.equal(raw.length, 32);
    const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), format: 'der', type: 'spki' });

    const eventId = await h.cancelledEvent(shop);
    await worker.drain();
    const r = rx.forId(eventId)[0]!;
    const entries = signatures(r);
    assert.equal(entries.length, 2);
    assert.match(entries[0]!, /^v1,/);
    assert.match(entries[1]!, /^v1a,/);
    const signature = Buffer.from(entries[1]!.slice('v1a,'.length), 'base64');
    const content = Buffer.from(`${r.headers['webhook-id']}.${r.headers['webhook-timestamp']}.${r.body}`, 'utf8');
    assert.equal(verifySignature(null, content, key, signature), true);
    assert.equal(verifySignature(null, Buffer.from(`${r.headers['webhook-id']}.${r.headers['webhook-timestamp']}.${r.body} `), key, signature), false);
    // The HMAC signature still verifies next to it.
    new Webhook(shop.webhook_secret).verify(r.body, headersOf(r));

    assertEnvelope(await h.t.admin('POST', '/admin/v1/merchants/00000000-0000-4000-8000-000000000000/webhook-keys'), 404, 'MERCHANT_NOT_FOUND');
  });

  test('rotation: both secrets sign for 24 h, then only the new one', async () => {
    h.t.clock.set(realNow());
    const rx = await h.receiver();
    const shop = await h.shop(rx.url);
    const rotated = await h.t.admin('POST', `/admin/v1/merchants/${shop.merchant_id}/webhook-secret`);
    assert.equal(rotated.statusCode, 200, rotated.body);
    const secret: string = rotated.json().webhook_secret;
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.notEqual(secret, shop.webhook_secret);

    const during = await h.cancelledEvent(shop);
    await worker.drain();
    const r = rx.forId(during)[0]!;
    const entries = signatures(r);
    assert.equal(entries.length, 2);
    assert.ok(entries.every((e) => e.startsWith('v1,')));
    for (const s of [secret, shop.webhook_secret]) {
      new Webhook(s).verify(r.body, headersOf(r));
      assert.ok(entries.includes(expectedV1(s, r)));
    }

    h.t.clock.advance(24 * 3600_000);
    const later = await h.cancelledEvent(shop);
    await worker.drain();
    const l = rx.forId(later)[0]!;
    // 24 h ahead of the real time, so standardwebhooks' timestamp check would refuse it: compare
    // with the signature its signer computes instead.
    assert.deepEqual(signatures(l), [expectedV1(secret, l)]);
    assert.notEqual(expectedV1(shop.webhook_secret, l), expectedV1(secret, l));
  });

  test('merchant endpoints: list, get with attempts, resend (also failed), other merchants 404, test ping', async () => {
    h.t.clock.set(realNow());
    const rx = await h.receiver();
    let status = 200;
    rx.reply = () => ({ status, body: status === 410 ? 'gone for good' : 'ok' });
    const shop = await h.shop(rx.url);
    const other = await h.shop(rx.url);
    const eventId = await h.cancelledEvent(shop);
    const delivered = await h.cancelledEvent(shop);
    await worker.drain();

    // One that fails with 410: failed, reason gone.
    status = 410;
    const goneInvoice = await h.invoice(shop);
    await h.cancel(shop, goneInvoice);
    const gone = await h.eventOf(goneInvoice, 'invoice.cancelled');
    await worker.drain();

    const list = (await h.api(shop, 'GET', `/api/v1/webhooks/deliveries?invoice_id=${goneInvoice}`)).json();
    assert.equal(list.items.length, 1);
    assert.deepEqual(
      { ...list.items[0], created_at: undefined },
      {
        event_id: gone,
        type: 'invoice.cancelled',
        invoice_id: goneInvoice,
        withdrawal_id: null,
        target_url: rx.url,
        status: 'failed',
        failure_reason: 'gone',
        attempts: 1,
        next_attempt_at: null,
        last_status: 410,
        last_error: null,
        created_at: undefined,
        delivered_at: null,
      },
    );
    const failed = (await h.api(shop, 'GET', '/api/v1/webhooks/deliveries?status=failed')).json();
    assert.deepEqual(
      failed.items.map((i: { event_id: string }) => i.event_id),
      [gone],
    );
    const ok = (await h.api(shop, 'GET', '/api/v1/webhooks/deliveries?status=delivered')).json();
    assert.deepEqual(new Set(ok.items.map((i: { event_id: string }) => i.event_id)), new Set([eventId, delivered]));
    assert.deepEqual((await h.api(shop, 'GET', `/api/v1/webhooks/deliveries?invoice_id=${goneInvoice}&status=delivered`)).json(), {
      items: [],
      next_cursor: null,
    });
    assert.deepEqual((await h.api(other, 'GET', `/api/v1/webhooks/deliveries?invoice_id=${goneInvoice}`)).json(), { items: [], next_cursor: null });

    const detail = (await h.api(shop, 'GET', `/api/v1/webhooks/deliveries/${gone}`)).json();
    assert.equal(detail.status, 'failed');
    assert.equal(detail.attempts.length, 1);
    assert.equal(detail.attempts[0].status_code, 410);
    assert.equal(detail.attempts[0].response_body, 'gone for good');
    assert.equal(typeof detail.attempts[0].duration_ms, 'number');
    assert.equal(detail.attempts[0].error, null);

    // Only the merchant's own.
    assertEnvelope(await h.api(other, 'GET', `/api/v1/webhooks/deliveries/${gone}`), 404, 'DELIVERY_NOT_FOUND');
    assertEnvelope(await h.api(other, 'POST', `/api/v1/webhooks/deliveries/${gone}/resend`), 404, 'DELIVERY_NOT_FOUND');
    assertEnvelope(await h.api(shop, 'GET', '/api/v1/webhooks/deliveries/not-a-uuid'), 404, 'DELIVERY_NOT_FOUND');
    assert.equal((await h.delivery(gone)).status, 'failed', "another merchant's resend changed nothing");

    // A failed delivery is sent again on resend and can succeed.
    status = 200;
    const resent = await h.api(shop, 'POST', `/api/v1/webhooks/deliveries/${gone}/resend`);
    assert.equal(resent.statusCode, 200, resent.body);
    assert.equal(resent.json().status, 'pending');
    await worker.drain();
    const after = (await h.api(shop, 'GET', `/api/v1/webhooks/deliveries/${gone}`)).json();
    assert.equal(after.status, 'delivered');
    assert.equal(after.failure_reason, null);
    assert.deepEqual(
      after.attempts.map((a: { status_code: number }) => a.status_code),
      [410, 200],
    );
    assert.equal(rx.forId(gone).length, 2);
    assert.equal(rx.forId(gone)[1]!.body, rx.forId(gone)[0]!.body);

    // The test ping: signed, type "ping", answered synchronously with the attempt.
    const before = rx.received.length;
    const ping = await h.api(shop, 'POST', '/api/v1/webhooks/test');
    assert.equal(ping.statusCode, 200, ping.body);
    const attempt = ping.json();
    assert.equal(attempt.delivered, true);
    assert.equal(attempt.status_code, 200);
    assert.equal(attempt.error, null);
    assert.equal(typeof attempt.duration_ms, 'number');
    assert.equal(rx.received.length, before + 1);
    const p = rx.received[before]!;
    assert.equal(p.headers['webhook-id'], attempt.event_id);
    const body = new Webhook(shop.webhook_secret).verify(p.body, headersOf(p)) as { type: string; id: string };
    assert.equal(body.type, 'ping');
    assert.equal(body.id, attempt.event_id);
    status = 500;
    const failing = (await h.api(shop, 'POST', '/api/v1/webhooks/test')).json();
    assert.equal(failing.delivered, false);
    assert.equal(failing.status_code, 500);

    const none = await h.shop(null);
    assertEnvelope(await h.api(none, 'POST', '/api/v1/webhooks/test'), 400, 'WEBHOOK_URL_MISSING');
  });

  test('admin stats count deliveries by status with the oldest pending age; /metrics counts attempts', async () => {
    const rx = await h.receiver();
    const shop = await h.shop(rx.url);
    await h.cancelledEvent(shop);
    h.t.clock.advance(42_000);
    await h.cancelledEvent(shop);
    const counts = async () => {
      const rows = await h.t.database.db
        .selectFrom('deliveries')
        .select(['status', (eb) => eb.fn.countAll<string>().as('n')])
        .groupBy('status')
        .execute();
      const c: Record<string, number> = { pending: 0, delivered: 0, failed: 0 };
      for (const row of rows) c[row.status] = Number(row.n);
      return c;
    };

    const stats = await h.t.admin('GET', '/admin/v1/webhooks/stats');
    assert.equal(stats.statusCode, 200, stats.body);
    assert.deepEqual(stats.json(), { counts: await counts(), oldest_pending_age_seconds: 42 });
    assert.equal(stats.json().counts.pending, 2);
    assert.equal((await h.t.inject({ method: 'GET', url: '/admin/v1/webhooks/stats' })).statusCode, 401);

    await worker.drain();
    const drained = (await h.t.admin('GET', '/admin/v1/webhooks/stats')).json();
    assert.deepEqual(drained, { counts: await counts(), oldest_pending_age_seconds: null });
    assert.equal(drained.counts.pending, 0);

    const metrics = await h.t.inject({ method: 'GET', url: '/metrics' });
    assert.equal(metrics.statusCode, 200);
    assert.match(metrics.body, /^kasa_webhook_attempts_total\{outcome="delivered"\} [1-9]\d*$/m);
    assert.match(metrics.body, /^kasa_webhook_attempts_total\{outcome="retry"\} [1-9]\d*$/m);
    assert.match(metrics.body, /^kasa_webhook_attempt_duration_seconds_count [1-9]\d*$/m);
  });
});

// ---------------------------------------------------------------------------------------------

describe('webhook retries', () => {
  let worker: DeliveryWorker;

  before(() => {
    worker = h.worker();
  });
  afterEach(() => h.settle());

  /** Moves the clock to the delivery's next attempt (minus `early` ms) and drains. */
  async function atNextAttempt(eventId: string, early = 0): Promise<void> {
    const d = await h.delivery(eventId);
    h.t.clock.set(new Date(d.next_attempt_at.getTime() - early).toISOString());
    await worker.drain();
  }

  async function delay(eventId: string): Promise<number> {
    return (await h.delivery(eventId)).next_attempt_at.getTime() - h.t.clock.now().getTime();
  }

  test('a receiver that fails 5 times then succeeds: 5 s, 5 min, 30 min, 2 h, 5 h, then delivered once', async () => {
    const rx = await h.receiver();
    rx.reply = (_r, n) => (n < 5 ? { status: 500, body: `failure ${n + 1}` } : { status: 200 });
    const shop = await h.shop(rx.url);
    const eventId = await h.cancelledEvent(shop);
    await worker.drain();
    assert.equal(rx.received.length, 1, 'the first attempt is at once');

    const delays: number[] = [];
    for (let attempt = 1; attempt <= 5; attempt++) {
      const d = await h.delivery(eventId);
      assert.equal(d.status, 'pending');
      assert.equal(d.attempts, attempt);
      assert.equal(d.last_status, 500);
      delays.push(await delay(eventId));
      await atNextAttempt(eventId, 1);
      assert.equal(rx.received.length, attempt, 'nothing is sent before the attempt is due');
      await atNextAttempt(eventId);
      assert.equal(rx.received.length, attempt + 1);
    }
    assert.deepEqual(delays, [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000]);
    assert.deepEqual(delays, RETRY_SCHEDULE_MS.slice(0, 5));

    const done = await h.delivery(eventId);
    assert.equal(done.status, 'delivered');
    assert.equal(done.attempts, 6);
    assert.deepEqual(done.delivered_at, h.t.clock.now());
    h.t.clock.advance(3 * 24 * 3600_000);
    await worker.drain();
    assert.equal(rx.received.length, 6, 'delivered once: nothing after the success');
    assert.ok(rx.received.every((r) => r.headers['webhook-id'] === eventId && r.body === rx.received[0]!.body));

    const log = (await h.api(shop, 'GET', `/api/v1/webhooks/deliveries/${eventId}`)).json();
    assert.equal(log.status, 'delivered');
    assert.deepEqual(
      log.attempts.map((a: { status_code: number }) => a.status_code),
      [500, 500, 500, 500, 500, 200],
    );
    assert.deepEqual(
      log.attempts.slice(0, 5).map((a: { response_body: string }) => a.response_body),
      [1, 2, 3, 4, 5].map((n) => `failure ${n}`),
    );
    for (const a of log.attempts) {
      assert.ok(Number.isInteger(a.duration_ms) && a.duration_ms >= 0);
      assert.equal(a.error, null);
    }
    const times = log.attempts.map((a: { attempted_at: string }) => Date.parse(a.attempted_at));
    assert.deepEqual(
      times.slice(1).map((t: number, i: number) => t - times[i]),
      RETRY_SCHEDULE_MS.slice(0, 5),
    );
  });

  test('after the 10th failed attempt the delivery is failed (attempts_exhausted)', async () => {
    const rx = await h.receiver();
    rx.reply = () => ({ status: 500 });
    const shop = await h.shop(rx.url);
    const eventId = await h.cancelledEvent(shop);
    await worker.drain();
    const delays: number[] = [];
    for (let attempt = 2; attempt <= ATTEMPTS_MAX; attempt++) {
      delays.push(await delay(eventId));
      await atNextAttempt(eventId);
      assert.equal(rx.received.length, attempt);
    }
    assert.deepEqual(delays, RETRY_SCHEDULE_MS);
    assert.equal(ATTEMPTS_MAX, 10);
    const d = await h.delivery(eventId);
    assert.equal(d.status, 'failed');
    assert.equal(d.failure_reason, 'attempts_exhausted');
    assert.equal(d.attempts, 10);
    h.t.clock.advance(7 * 24 * 3600_000);
    await worker.drain();
    assert.equal(rx.received.length, 10);
    const log = (await h.api(shop, 'GET', `/api/v1/webhooks/deliveries/${eventId}`)).json();
    assert.equal(log.attempts.length, 10);
    assert.equal(log.next_attempt_at, null);
  });

  test('410 Gone ends retries at once', async () => {
    const rx = await h.receiver();
    rx.reply = () => ({ status: 410 });
    const shop = await h.shop(rx.url);
    const eventId = await h.cancelledEvent(shop);
    await worker.drain();
    const d = await h.delivery(eventId);
    assert.deepEqual([d.status, d.failure_reason, d.attempts, d.last_status], ['failed', 'gone', 1, 410]);
    h.t.clock.advance(7 * 24 * 3600_000);
    await worker.drain();
    assert.equal(rx.received.length, 1);
  });

  test('a 3xx is a failed attempt and its Location is never requested', async () => {
    const rx = await h.receiver();
    const trap = await h.receiver();
    rx.reply = (_r, n) => ({
      status: n === 0 ? 302 : 301,
      headers: { location: n === 0 ? 'http://169.254.169.254/latest/meta-data/' : `${trap.url}/followed` },
    });
    const shop = await h.shop(rx.url);
    const eventId = await h.cancelledEvent(shop);
    await worker.drain();
    let d = await h.delivery(eventId);
    assert.deepEqual([d.status, d.attempts, d.last_status, d.last_error], ['pending', 1, 302, null]);
    assert.equal(await delay(eventId), 5_000);
    await atNextAttempt(eventId);
    d = await h.delivery(eventId);
    assert.deepEqual([d.status, d.attempts, d.last_status], ['pending', 2, 301]);
    assert.equal(rx.received.length, 2);
    assert.equal(trap.received.length, 0, 'the redirect target got nothing');
  });

  test('Retry-After on 429 and 503 is honoured, capped at 12 h; elsewhere the schedule applies', async () => {
    const rx = await h.receiver();
    const answers = [
      { status: 429, headers: { 'retry-after': '120' } },
      { status: 503, headers: { 'retry-after': '86400' } },
      { status: 503, headers: { 'retry-after': '7' } },
      { status: 500, headers: { 'retry-after': '3600' } },
      { status: 429 },
    ];
    rx.reply = (_r, n) => answers[n] ?? { status: 200 };
    const shop = await h.shop(rx.url);
    const eventId = await h.cancelledEvent(shop);
    await worker.drain();
    const delays: number[] = [];
    for (let i = 0; i < answers.length; i++) {
      delays.push(await delay(eventId));
      await atNextAttempt(eventId);
    }
    // attempts 1-5: Retry-After 120 s; 24 h capped to 12 h; 7 s; ignored on a 500 (schedule: 30 min);
    // a 429 without Retry-After follows the schedule (2 h after the 4th attempt).
    assert.deepEqual(delays, [120_000, RETRY_AFTER_MS_MAX, 7_000, RETRY_SCHEDULE_MS[3], RETRY_SCHEDULE_MS[4]]);
    assert.equal(RETRY_AFTER_MS_MAX, 12 * 3600_000);
    assert.equal((await h.delivery(eventId)).status, 'delivered');
  });

  test('jitter stays within ±10 % of the schedule', async () => {
    const failed: AttemptResult = { statusCode: 500, durationMs: 1, responseBody: null, error: null, retryAfterSeconds: null };
    for (let attempt = 1; attempt < ATTEMPTS_MAX; attempt++) {
      const base = RETRY_SCHEDULE_MS[attempt - 1]!;
      assert.deepEqual(
        nextStep(attempt, failed, () => 0.5),
        { status: 'pending', retryInMs: base },
      );
      for (const r of [0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999999]) {
        const step = nextStep(attempt, failed, () => r);
        assert.equal(step.status, 'pending');
        if (step.status !== 'pending') continue;
        assert.ok(Math.abs(step.retryInMs - base) <= base * RETRY_JITTER_RATIO, `attempt ${attempt}, random ${r}: ${step.retryInMs}`);
      }
      assert.deepEqual(
        nextStep(attempt, failed, () => 0),
        { status: 'pending', retryInMs: Math.round(base * 0.9) },
      );
    }
    assert.deepEqual(
      nextStep(ATTEMPTS_MAX, failed, () => 0.5),
      { status: 'failed', reason: 'attempts_exhausted' },
    );
    assert.deepEqual(
      nextStep(3, { ...failed, statusCode: 204 }, () => 0.5),
      { status: 'delivered' },
    );
    assert.deepEqual(
      nextStep(3, { ...failed, statusCode: 410 }, () => 0.5),
      { status: 'failed', reason: 'gone' },
    );
    assert.deepEqual(
      nextStep(1, { ...failed, statusCode: 302 }, () => 0.5),
      { status: 'pending', retryInMs: 5_000 },
    );
    assert.deepEqual(
      nextStep(1, { ...failed, statusCode: null, error: 'ECONNREFUSED' }, () => 0.5),
      { status: 'pending', retryInMs: 5_000 },
    );
    assert.deepEqual(
      nextStep(1, { ...failed, statusCode: 429, retryAfterSeconds: 10 ** 9 }, () => 0.5),
      { status: 'pending', retryInMs: RETRY_AFTER_MS_MAX },
    );

    // Through the worker: the lowest and highest jitter.
    const rx = await h.receiver();
    rx.reply = () => ({ status: 500 });
    const shop = await h.shop(rx.url);
    for (const [random, expected] of [
      [() => 0, 4_500],
      [() => 0.999, 5_499],
    ] as const) {
      const eventId = await h.cancelledEvent(shop);
      await h.worker({ random }).drain();
      assert.equal(await delay(eventId), expected);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('webhook answers of any bytes: NUL, invalid UTF-8, 1 MiB, endless', () => {
  let worker: DeliveryWorker;

  before(() => {
    worker = h.worker();
  });
  afterEach(() => h.settle());

  // A NUL is valid UTF-8 (shown as text) but was refused by a text column; 0xff and a broken
  // two-byte sequence are not UTF-8 at all.
  const NUL_ANSWER = Buffer.from('{"ok":true}\0trailer', 'utf8');
  const INVALID_UTF8 = Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0xc3, 0x28, 0x7d]);
  // 1 MiB + 1 byte of text whose 1 KiB cut falls inside a two-byte character.
  const MIB_ANSWER = Buffer.from(`x${'я'.repeat(512 * 1024)}`, 'utf8');
  const MIB_KEPT = `x${'я'.repeat(511)}`;

  async function attempts(shop: Shop, eventId: string) {
    const res = await h.api(shop, 'GET', `/api/v1/webhooks/deliveries/${eventId}`);
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as {
      status: string;
      failure_reason: string | null;
      attempts: { status_code: number | null; response_body: string | null; response_body_encoding: string | null; error: string | null }[];
    };
  }

  async function storedAnswers(eventId: string): Promise<Buffer[]> {
    const rows = await h.t.database.db.selectFrom('delivery_attempts').select('response_body').where('event_id', '=', eventId).orderBy('id').execute();
    return rows.map((r) => Buffer.from(r.response_body!));
  }

  /** Moves the clock to the delivery's next attempt and drains. */
  async function atNextAttempt(eventId: string): Promise<void> {
    h.t.clock.set((await h.delivery(eventId)).next_attempt_at.toISOString());
    await worker.drain();
  }

  test('a NUL in the answer: the attempt is logged, retried on the schedule, and a 200 delivers it once', async () => {
    const rx = await h.receiver();
    rx.reply = (_r, n) => ({ status: n === 0 ? 500 : 200, body: NUL_ANSWER });
    const shop = await h.shop(rx.url);
    const eventId = await h.cancelledEvent(shop);
    await worker.drain();
    let d = await h.delivery(eventId);
    assert.deepEqual([d.status, d.attempts, d.last_status, d.lease_token], ['pending', 1, 500, null], 'the outcome was written');
    assert.equal(d.next_attempt_at.getTime() - h.t.clock.now().getTime(), RETRY_SCHEDULE_MS[0]);

    await atNextAttempt(eventId);
    d = await h.delivery(eventId);
    assert.deepEqual([d.status, d.attempts, d.last_status], ['delivered', 2, 200]);
    // Past any lease: a delivered event is not sent again.
    h.t.clock.advance(10 * LEASE_MS);
    await worker.drain();
    assert.equal(rx.received.length, 2);

    const log = await attempts(shop, eventId);
    assert.deepEqual(
      log.attempts.map((a) => [a.status_code, a.response_body, a.response_body_encoding]),
      [
        [500, '{"ok":true}\u0000trailer', 'utf8'],
        [200, '{"ok":true}\u0000trailer', 'utf8'],
      ],
    );
    assert.deepEqual(await storedAnswers(eventId), [NUL_ANSWER, NUL_ANSWER], 'the exact bytes are stored');
  });

  test('invalid UTF-8 in the answer: shown as base64 of the exact bytes; 410 still ends the retries', async () => {
    const rx = await h.receiver();
    rx.reply = (_r, n) => ({ status: n === 0 ? 503 : 410, body: INVALID_UTF8 });
    const shop = await h.shop(rx.url);
    const eventId = await h.cancelledEvent(shop);
    await worker.drain();
    assert.equal((await h.delivery(eventId)).status, 'pending');
    await atNextAttempt(eventId);
    const d = await h.delivery(eventId);
    assert.deepEqual([d.status, d.failure_reason, d.attempts], ['failed', 'gone', 2]);

    const log = await attempts(shop, eventId);
    assert.deepEqual(
      log.attempts.map((a) => [a.status_code, a.response_body, a.response_body_encoding]),
      [
        [503, INVALID_UTF8.toString('base64'), 'base64'],
        [410, INVALID_UTF8.toString('base64'), 'base64'],
      ],
    );
    assert.deepEqual(Buffer.from(log.attempts[0]!.response_body!, 'base64'), INVALID_UTF8);
    assert.deepEqual(await storedAnswers(eventId), [INVALID_UTF8, INVALID_UTF8]);
  });

  test('a 1 MiB answer every time: the first KiB is kept (whole characters), the schedule runs to failed', async () => {
    const rx = await h.receiver();
    rx.reply = () => ({ status: 500, body: MIB_ANSWER });
    const shop = await h.shop(rx.url);
    const eventId = await h.cancelledEvent(shop);
    await worker.drain();
    const delays: number[] = [];
    for (let attempt = 1; attempt < ATTEMPTS_MAX; attempt++) {
      const d = await h.delivery(eventId);
      assert.deepEqual([d.status, d.attempts], ['pending', attempt]);
      delays.push(d.next_attempt_at.getTime() - h.t.clock.now().getTime());
      await atNextAttempt(eventId);
    }
    assert.deepEqual(delays, RETRY_SCHEDULE_MS);
    const d = await h.delivery(eventId);
    assert.deepEqual([d.status, d.failure_reason, d.attempts], ['failed', 'attempts_exhausted', ATTEMPTS_MAX]);
    assert.equal(rx.received.length, ATTEMPTS_MAX);

    const log = await attempts(shop, eventId);
    assert.equal(log.attempts.length, ATTEMPTS_MAX);
    for (const a of log.attempts) assert.deepEqual([a.status_code, a.response_body, a.response_body_encoding], [500, MIB_KEPT, 'utf8']);
    for (const stored of await storedAnswers(eventId)) {
      assert.equal(stored.length, RESPONSE_BODY_BYTES_MAX - 1, 'the cut inside "я" ends before it');
      assert.deepEqual(stored, MIB_ANSWER.subarray(0, RESPONSE_BODY_BYTES_MAX - 1));
    }
  });

  test('an endless answer: read only as far as the kept KiB, then the connection is dropped; a 200 delivers', async () => {
    const rx = await h.receiver();
    rx.reply = () => ({ status: 200, body: 'streaming:', endless: true });
    const shop = await h.shop(rx.url);
    const eventId = await h.cancelledEvent(shop);
    await worker.drain();
    assert.equal((await h.delivery(eventId)).status, 'delivered');
    const log = await attempts(shop, eventId);
    assert.deepEqual(
      log.attempts.map((a) => [a.status_code, a.response_body, a.response_body_encoding]),
      [[200, `streaming:${'x'.repeat(RESPONSE_BODY_BYTES_MAX - 10)}`, 'utf8']],
    );
    await waitUntil(() => rx.endlessBytesWritten.length === 1, 'the receiver to see the connection dropped');
  });

  test('the OpenAPI document says how an answer is shown, on the attempt and on the ping', async () => {
    const spec = (await h.t.inject({ method: 'GET', url: '/openapi.json' })).json();
    const detail = spec.paths['/api/v1/webhooks/deliveries/{event_id}'].get.responses['200'].content['application/json'].schema;
    const ping = spec.paths['/api/v1/webhooks/test'].post.responses['200'].content['application/json'].schema;
    for (const shown of [detail.properties.attempts.items, ping]) {
      assert.deepEqual(shown.properties.response_body_encoding.enum, ['utf8', 'base64', null]);
      assert.match(shown.properties.response_body.description, /base64/);
      assert.ok(shown.required.includes('response_body_encoding'));
    }
  });

  test("the test ping answers 200 with the receiver's answer whatever its bytes", async () => {
    const rx = await h.receiver();
    const answers: { body: Buffer | string; endless?: boolean; shown: [string, string] }[] = [
      { body: NUL_ANSWER, shown: ['{"ok":true}\u0000trailer', 'utf8'] },
      { body: INVALID_UTF8, shown: [INVALID_UTF8.toString('base64'), 'base64'] },
      { body: MIB_ANSWER, shown: [MIB_KEPT, 'utf8'] },
      // Not text at all: cut at exactly the limit.
      { body: Buffer.alloc(1024 * 1024, 0xff), shown: [Buffer.alloc(RESPONSE_BODY_BYTES_MAX, 0xff).toString('base64'), 'base64'] },
      { body: 'streaming:', endless: true, shown: [`streaming:${'x'.repeat(RESPONSE_BODY_BYTES_MAX - 10)}`, 'utf8'] },
    ];
    rx.reply = (_r, n) => ({ status: 200, body: answers[n]!.body, endless: answers[n]!.endless ?? false });
    const shop = await h.shop(rx.url);
    for (const answer of answers) {
      const ping = await h.api(shop, 'POST', '/api/v1/webhooks/test');
      assert.equal(ping.statusCode, 200, ping.body);
      const body = ping.json();
      assert.deepEqual([body.delivered, body.status_code, body.response_body, body.response_body_encoding, body.error], [true, 200, ...answer.shown, null]);
      const log = await attempts(shop, body.event_id);
      assert.deepEqual(
        log.attempts.map((a) => [a.response_body, a.response_body_encoding]),
        [answer.shown],
      );
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('test pings in flight are bounded per merchant and per target host', () => {
  afterEach(() => h.settle());

  type Answer = Awaited<ReturnType<Harness['api']>>;

  /** Starts `n` pings at once; resolves when all but the ones the receiver holds have answered. */
  async function burst(shops: Shop[], rx: Receiver, held: number) {
    const answered: Answer[] = [];
    const all = Promise.all(shops.map((shop) => h.api(shop, 'POST', '/api/v1/webhooks/test').then((res) => (answered.push(res), res))));
    await waitUntil(() => answered.length === shops.length - held && rx.heldCount === held, `${held} pings held, the rest answered`);
    return { refused: [...answered], all };
  }

  function assertBusy(res: Answer, reason: string, inFlightMax: number, retryAfterSeconds: number): void {
    const body = assertEnvelope(res, 429, 'WEBHOOK_TEST_BUSY');
    assert.deepEqual(body.error.details, { reason, in_flight_max: inFlightMax, retry_after_seconds: retryAfterSeconds });
    assert.equal(res.headers['retry-after'], String(retryAfterSeconds));
  }

  test(`60 parallel pings from one merchant: ${TEST_PINGS_IN_FLIGHT_MAX} reach a slow receiver, the rest are 429 with Retry-After`, async () => {
    const rx = await h.receiver();
    rx.reply = () => 'hold';
    const shop = await h.shop(rx.url);
    const { refused, all } = await burst(
      Array.from({ length: 60 }, () => shop),
      rx,
      TEST_PINGS_IN_FLIGHT_MAX,
    );
    assert.equal(refused.length, 60 - TEST_PINGS_IN_FLIGHT_MAX);
    // A held ping ends within the delivery timeout: that is when a slot is sure to be free.
    for (const res of refused) assertBusy(res, 'merchant', TEST_PINGS_IN_FLIGHT_MAX, DELIVERY_TIMEOUT_MS / 1000);
    h.t.clock.advance(4_000);
    assertBusy(await h.api(shop, 'POST', '/api/v1/webhooks/test'), 'merchant', TEST_PINGS_IN_FLIGHT_MAX, DELIVERY_TIMEOUT_MS / 1000 - 4);
    assert.equal(rx.received.length, TEST_PINGS_IN_FLIGHT_MAX);
    assert.equal(rx.maxOpenPerHost, TEST_PINGS_IN_FLIGHT_MAX);
    assert.ok(rx.maxOpenSockets <= TEST_PINGS_IN_FLIGHT_MAX, `${rx.maxOpenSockets} connections at once`);
    const documented = (await h.t.inject({ method: 'GET', url: '/openapi.json' })).json().paths['/api/v1/webhooks/test'].post.responses['429'];
    assert.match(documented.description, /^WEBHOOK_TEST_BUSY: .*Retry-After/);
    const refusedEvents = await h.t.database.db.selectFrom('events').select('id').where('merchant_id', '=', shop.merchant_id).execute();
    assert.equal(refusedEvents.length, 0, 'a refused ping records nothing (the held ones record when answered)');

    rx.release(200);
    const answers = await all;
    assert.deepEqual(
      answers.filter((r) => r.statusCode === 200).map((r) => r.json().delivered),
      Array(TEST_PINGS_IN_FLIGHT_MAX).fill(true),
    );
    // The slots are free again.
    rx.reply = () => ({ status: 200 });
    const again = await h.api(shop, 'POST', '/api/v1/webhooks/test');
    assert.equal(again.statusCode, 200, again.body);
  });

  test(`pings of several merchants to one host: at most ${TEST_PINGS_PER_TARGET_IN_FLIGHT_MAX} in flight there; another host is not held up`, async () => {
    assert.equal(TEST_PINGS_PER_TARGET_IN_FLIGHT_MAX, PER_TARGET_IN_FLIGHT_MAX, "the delivery worker's per-target bound");
    const rx = await h.receiver('127.0.0.1');
    const elsewhere = await h.receiver('127.0.0.2');
    rx.reply = () => 'hold';
    const shops = [await h.shop(rx.url), await h.shop(rx.url), await h.shop(rx.url)];
    const pings = shops.flatMap((shop) => Array.from({ length: TEST_PINGS_IN_FLIGHT_MAX }, () => shop));
    assert.ok(pings.length > TEST_PINGS_PER_TARGET_IN_FLIGHT_MAX);
    const { refused, all } = await burst(pings, rx, TEST_PINGS_PER_TARGET_IN_FLIGHT_MAX);
    assert.equal(refused.length, pings.length - TEST_PINGS_PER_TARGET_IN_FLIGHT_MAX);
    for (const res of refused) assertBusy(res, 'target_host', TEST_PINGS_PER_TARGET_IN_FLIGHT_MAX, DELIVERY_TIMEOUT_MS / 1000);
    assert.equal(rx.maxOpenPerHost, TEST_PINGS_PER_TARGET_IN_FLIGHT_MAX);
    assert.ok(rx.maxOpenSockets <= TEST_PINGS_PER_TARGET_IN_FLIGHT_MAX, `${rx.maxOpenSockets} connections at once`);

    const other = await h.shop(elsewhere.url);
    const ping = await h.api(other, 'POST', '/api/v1/webhooks/test');
    assert.equal(ping.statusCode, 200, ping.body);
    assert.equal(ping.json().delivered, true);

    rx.release(200);
    assert.equal((await all).filter((r) => r.statusCode === 200).length, TEST_PINGS_PER_TARGET_IN_FLIGHT_MAX);
  });
});

// ---------------------------------------------------------------------------------------------

describe('webhook worker concurrency', () => {
  afterEach(() => h.settle());

  test('a receiver that hangs does not delay deliveries to a healthy one', async () => {
    const hanging = await h.receiver('127.0.0.1');
    const healthy = await h.receiver('127.0.0.2'); // another host: the cap groups targets by host
    hanging.reply = () => 'hold';
    const slow = await h.shop(hanging.url);
    const fast = await h.shop(healthy.url);
    const slowEvents: string[] = [];
    const fastEvents: string[] = [];
    // The hanging target's events are older: first in line.
    for (let i = 0; i < 6; i++) slowEvents.push(await h.cancelledEvent(slow));
    h.t.clock.advance(1_000);
    for (let i = 0; i < 12; i++) fastEvents.push(await h.cancelledEvent(fast));

    const worker = h.worker({ inFlightMax: 4, perTargetMax: 2 });
    let maxHeld = 0;
    await waitUntil(
      async () => {
        maxHeld = Math.max(maxHeld, hanging.heldCount);
        const rows = await h.t.database.db.selectFrom('deliveries').select('status').where('event_id', 'in', fastEvents).execute();
        return rows.every((r) => r.status === 'delivered');
      },
      "the healthy receiver's deliveries",
      () => worker.claimAndSend(),
    );
    assert.equal(healthy.received.length, 12);
    assert.deepEqual(new Set(healthy.received.map((r) => r.headers['webhook-id'])), new Set(fastEvents));
    assert.equal(hanging.heldCount, 2, 'the hanging target holds exactly its 2 slots');
    assert.equal(maxHeld, 2);
    const slowRows = await h.t.database.db.selectFrom('deliveries').select('status').where('event_id', 'in', slowEvents).execute();
    assert.ok(slowRows.every((r) => r.status === 'pending'));

    hanging.reply = () => ({ status: 200 });
    hanging.release(200);
    await worker.drain();
    const done = await h.t.database.db.selectFrom('deliveries').select('status').where('event_id', 'in', slowEvents).execute();
    assert.ok(done.every((r) => r.status === 'delivered'));
    assert.deepEqual(new Set(hanging.received.map((r) => r.headers['webhook-id'])), new Set(slowEvents));
  });

  test('the per-target cap counts deliveries already in flight to that target', async () => {
    const hanging = await h.receiver('127.0.0.1');
    hanging.reply = () => 'hold';
    const shop = await h.shop(hanging.url);
    await h.cancelledEvent(shop);
    const worker = h.worker({ inFlightMax: 10, perTargetMax: 2 });
    assert.equal(await worker.claimAndSend(), 1);
    await waitUntil(() => hanging.heldCount === 1, 'the first request');
    for (let i = 0; i < 3; i++) await h.cancelledEvent(shop);
    await worker.claimAndSend();
    await worker.claimAndSend();
    await waitUntil(async () => {
      const leased = await h.t.database.db.selectFrom('deliveries').select('event_id').where('lease_until', 'is not', null).execute();
      return hanging.heldCount === leased.length;
    }, 'the claimed requests to arrive');
    assert.equal(hanging.heldCount, 2, 'at most perTargetMax in flight to one target');

    hanging.reply = () => ({ status: 200 });
    hanging.release(200);
    await worker.drain();
    assert.equal(hanging.received.length, 4);
  });
  test('a backlog on one target longer than a claim scans does not hold up another target', async () => {
    const hanging = await h.receiver('127.0.0.1');
    const healthy = await h.receiver('127.0.0.2');
    hanging.reply = () => 'hold';
    const slow = await h.shop(hanging.url);
    const fast = await h.shop(healthy.url);
    // Older than anything else due: the head of the due index is all the hanging target's.
    const at = new Date(h.t.clock.now().getTime() - 60_000);
    await sql`
      WITH new_events AS (
        INSERT INTO events (id, merchant_id, invoice_id, type, payload, created_at)
        SELECT gen_random_uuid(), ${slow.merchant_id}::uuid, NULL, 'invoice.success', json_build_object('n', g), ${at}::timestamptz
          FROM generate_series(1, ${CLAIM_SCAN_MAX + 20}::integer) AS g
        RETURNING id, merchant_id, created_at
      )
      INSERT INTO deliveries (event_id, merchant_id, invoice_id, target_url, target_host, next_attempt_at, created_at, updated_at)
      SELECT id, merchant_id, NULL, ${hanging.url}, '127.0.0.1', created_at, created_at, created_at FROM new_events`.execute(h.t.database.db);
    const fastEvents = [await h.cancelledEvent(fast), await h.cancelledEvent(fast), await h.cancelledEvent(fast)];

    const worker = h.worker({ inFlightMax: 8, perTargetMax: 2 });
    await waitUntil(
      async () =>
        (await h.t.database.db.selectFrom('deliveries').select('status').where('event_id', 'in', fastEvents).execute()).every((r) => r.status === 'delivered'),
      "the healthy target's deliveries",
      () => worker.claimAndSend(),
    );
    assert.equal(healthy.received.length, 3);
    assert.equal(hanging.heldCount, 2);
    hanging.release(200);
    await worker.stop(); // waits for the released sends; the backlog is settled after the test
  });

  test('concurrent claims never take more than inFlightMax', async () => {
    const rx = await h.receiver();
    rx.reply = () => 'hold';
    const shop = await h.shop(rx.url);
    for (let i = 0; i < 8; i++) await h.cancelledEvent(shop);
    const worker = h.worker({ inFlightMax: 3, perTargetMax: 10 });
    const claimed = await Promise.all([1, 2, 3, 4].map(() => worker.claimAndSend()));
    assert.equal(
      claimed.reduce((a, b) => a + b, 0),
      3,
    );
    await waitUntil(() => rx.heldCount === 3, 'three requests');
    rx.reply = () => ({ status: 200 });
    rx.release(200);
    await worker.drain();
    assert.equal(rx.received.length, 8);
  });

  test('drain() returns only when nothing due is left', async () => {
    const rx = await h.receiver();
    const shop = await h.shop(rx.url);
    const events: string[] = [];
    for (let i = 0; i < 25; i++) events.push(await h.cancelledEvent(shop));
    await h.worker({ perTargetMax: 1 }).drain();
    const rows = await h.t.database.db.selectFrom('deliveries').select('status').where('event_id', 'in', events).execute();
    assert.deepEqual(
      rows.map((r) => r.status),
      events.map(() => 'delivered'),
    );
    assert.equal(rx.received.length, 25);
  });

  test('a resend while a worker is sending does not let another worker send the same event at once', async () => {
    const rx = await h.receiver();
    rx.reply = () => 'hold';
    const shop = await h.shop(rx.url);
    const eventId = await h.cancelledEvent(shop);
    const first = h.worker();
    assert.equal(await first.claimAndSend(), 1);
    await waitUntil(() => rx.heldCount === 1, 'the first request');
    const resent = await h.api(shop, 'POST', `/api/v1/webhooks/deliveries/${eventId}/resend`);
    assert.equal(resent.statusCode, 200, resent.body);
    const second = h.worker();
    assert.equal(await second.claimAndSend(), 0, 'still leased to the worker sending it');
    rx.reply = () => ({ status: 200 });
    rx.release(200);
    await first.drain();
    await second.drain();
    assert.deepEqual(rx.overlaps, []);
    assert.equal(rx.received.length, 1);
    assert.equal((await h.delivery(eventId)).status, 'delivered');
  });
});

// ---------------------------------------------------------------------------------------------

describe('webhook SSRF guard (private targets not allowed)', () => {
  const h = new Harness(); // its own Kasa, with private targets refused

  before(() => h.start({ webhookAllowPrivate: false }));
  after(() => h.stop());
  afterEach(() => h.settle());

  test('a hostname resolving to 127.0.0.1 is refused at delivery: a failed attempt saying blocked, nothing received', async () => {
    const rx = await h.receiver('127.0.0.1');
    const target = rx.url.replace('127.0.0.1', 'localhost');
    // The API refuses it at creation (http, and a local host); set it through SQL as if it had been allowed.
    const refused = await h.t.admin('POST', '/admin/v1/merchants', { name: 'Local', webhook_url: target });
    assert.equal(refused.statusCode, 422, refused.body);
    const shop = await h.shop(null);
    await h.t.database.db.updateTable('merchants').set({ webhook_url: target }).where('id', '=', shop.merchant_id).execute();
    const invoiceId = await h.invoice(shop);
    await h.cancel(shop, invoiceId);
    const eventId = await h.eventOf(invoiceId, 'invoice.cancelled');
    assert.equal((await h.delivery(eventId)).target_url, target);

    await h.worker().drain();
    const d = await h.delivery(eventId);
    assert.equal(d.status, 'pending', 'a refused target is a failed attempt, retried on the schedule');
    assert.equal(d.attempts, 1);
    assert.equal(d.last_status, null);
    assert.match(d.last_error ?? '', /^blocked: .*localhost.*127\.0\.0\.1/);
    const log = (await h.api(shop, 'GET', `/api/v1/webhooks/deliveries/${eventId}`)).json();
    assert.equal(log.attempts.length, 1);
    assert.match(log.attempts[0].error, /blocked/);
    assert.equal(log.attempts[0].status_code, null);
    assert.equal(rx.received.length, 0);

    // The test ping goes through the same guard.
    const ping = (await h.api(shop, 'POST', '/api/v1/webhooks/test')).json();
    assert.equal(ping.delivered, false);
    assert.match(ping.error, /blocked/);
    assert.equal(rx.received.length, 0);
  });

  test('IP-literal targets are refused without any network', async () => {
    const sender = new WebhookSender(false);
    try {
      for (const url of [
        'http://127.0.0.1:1/',
        'http://2130706433:1/',
        'http://0x7f.1:1/',
        'http://[::1]:1/',
        'http://[::ffff:7f00:1]:1/',
        'https://169.254.169.254/latest',
        'http://10.0.0.1:1/',
        'http://[fd00::1]:1/',
      ]) {
        const result = await sender.send(url, { 'content-type': 'application/json' }, '{}');
        assert.equal(result.statusCode, null, url);
        assert.match(result.error ?? '', /^blocked: target address .* is blocked$/, url);
      }
    } finally {
      await sender.close();
    }
  });

  test('every blocked address class is refused; public addresses are allowed', () => {
    const blocked = [
      '127.0.0.1',
      '127.255.255.254',
      '10.0.0.1',
      '10.255.255.255',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.0.1',
      '192.168.255.255',
      '169.254.169.254',
      '169.254.0.1',
      '100.64.0.1',
      '100.127.255.255',
      '0.0.0.0',
      '0.1.2.3',
      '224.0.0.1',
      '239.255.255.255',
      '240.0.0.1',
      '255.255.255.255',
      '192.0.2.1',
      '198.18.0.1',
      '::1',
      '::',
      'fc00::1',
      'fd12:3456::1',
      'fe80::1',
      'febf::1',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:10.0.0.1',
      '::ffff:a9fe:a9fe',
      '::127.0.0.1',
      '64:ff9b::7f00:1',
      '2002:7f00:1::',
      'not-an-address',
    ];
    for (const address of blocked) assert.equal(isBlockedAddress(address), true, address);
    for (const address of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '169.253.255.255', '2606:4700::1111', '2001:4860:4860::8888']) {
      assert.equal(isBlockedAddress(address), false, address);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('migration 007: the answers already logged are kept', () => {
  test('text answers become their UTF-8 bytes and show as before', async () => {
    const serverUrl = process.env.DATABASE_URL;
    const scratch = serverUrl ? await createPostgresDatabase(serverUrl) : null;
    const database = await connect({ databaseUrl: scratch?.url ?? null, dataDir: null });
    try {
      const db = database.db;
      // The schema as it was before 007, with an attempt logged by then.
      await sql`CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`.execute(db);
      for (const m of (await loadMigrations()).filter((m) => m.version < 7)) {
        await sql.raw(m.sql).execute(db);
        await sql`INSERT INTO schema_migrations (version, name) VALUES (${m.version}, ${m.name})`.execute(db);
      }
      const merchant = '00000000-0000-4000-8000-000000000001';
      const event = '00000000-0000-4000-8000-000000000002';
      const answers = ['ok', 'Дякую, отримано ✓', '', null];
      await sql`INSERT INTO merchants (id, name, webhook_secret) VALUES (${merchant}::uuid, 'Old shop', 'whsec_x')`.execute(db);
      await sql`INSERT INTO events (id, merchant_id, invoice_id, type, payload, created_at) VALUES (${event}::uuid, ${merchant}::uuid, NULL, 'ping', '{}', now())`.execute(
        db,
      );
      await sql`INSERT INTO deliveries (event_id, merchant_id, target_url, target_host, next_attempt_at, created_at, updated_at)
                VALUES (${event}::uuid, ${merchant}::uuid, 'https://shop.example/hook', 'shop.example', now(), now(), now())`.execute(db);
      for (const answer of answers) {
        await sql`INSERT INTO delivery_attempts (event_id, merchant_id, attempted_at, status_code, duration_ms, response_body)
                  VALUES (${event}::uuid, ${merchant}::uuid, now(), 200, 1, ${answer})`.execute(db);
      }

      assert.deepEqual(
        await migrate(db),
        (await loadMigrations()).filter((m) => m.version >= 7).map((m) => m.name),
      );
      const rows = await db.selectFrom('delivery_attempts').select('response_body').orderBy('id').execute();
      assert.deepEqual(
        rows.map((r) => (r.response_body === null ? null : Buffer.from(r.response_body))),
        answers.map((a) => (a === null ? null : Buffer.from(a, 'utf8'))),
      );
      assert.deepEqual(
        rows.map((r) => answerView(r.response_body)),
        answers.map((a) => ({ response_body: a, response_body_encoding: a === null ? null : 'utf8' })),
      );
    } finally {
      await database.close();
      await scratch?.drop();
    }
  });
});
