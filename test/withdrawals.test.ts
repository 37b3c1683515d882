// Withdrawals of merchants and traders through the real HTTP API: the states and their exact
// ledger transfers, the settings (minimum, fee, auto-approval), API key scopes, every owner
// seeing only its own, bad input refused with nothing changed, races settled by the database
// (20 requests for one balance, 50 transitions of one withdrawal), a chain transaction hash used
// once, signed webhooks to a local receiver, and the CLI.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { base58 } from '@scure/base';
import pino from 'pino';
import { Webhook } from 'standardwebhooks';
import { DeliveryWorker } from '../src/webhooks/delivery.ts';
import { ADMIN_TOKEN, startKasa, type TestKasa } from './helpers/kasa.ts';
import { assertEnvelope, assertValidation, UUID_V4 } from './helpers/http.ts';
import { kasaCommand } from './helpers/cli.ts';
import { Receiver, waitUntil } from './helpers/receiver.ts';
import { addTrader, trader } from './helpers/traders.ts';
import { balanceOf as accountBalance, transfersOf as transferRows } from './helpers/ledger.ts';

interface Shop {
  merchant_id: string;
  /** The key issued with the merchant: the invoices scope only. */
  api_key: string;
  webhook_secret: string;
  /** A key granted both scopes. */
  payout_key: string;
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest();

/** A valid TRON address: base58check of 0x41 and 20 random bytes. */
function tronAddress(): string {
  const payload = Buffer.concat([Buffer.from([0x41]), randomBytes(20)]);
  return base58.encode(Buffer.concat([payload, sha256(sha256(payload)).subarray(0, 4)]));
}

const txHash = () => randomBytes(32).toString('hex');

let t: TestKasa;
let seq = 0;

/** A merchant with a webhook URL (optional), its default key and a key with both scopes. */
async function shop(webhookUrl?: string): Promise<Shop> {
  const created = await t.createMerchant({ name: `Shop ${++seq}`, ...(webhookUrl ? { webhook_url: webhookUrl } : {}) });
  const key = await t.admin('POST', `/admin/v1/merchants/${created.merchant_id}/api-keys`, { scopes: ['invoices', 'withdrawals'] });
  assert.equal(key.statusCode, 201, key.body);
  return { ...(created as unknown as Shop), payout_key: key.json().api_key };
}

/** Pays `invoices` invoices of 1500.00 UAH (35.42 USDT each to the merchant) through the deals engine. */
async function fund(s: Shop, invoices: number): Promise<void> {
  for (let i = 0; i < invoices; i++) {
    const n = ++seq;
    const res = await t.createInvoice(s.api_key, { external_id: `w-${n}`, customer_id: `w-customer-${n}`, callback_url: undefined });
    assert.equal(res.statusCode, 200, res.body);
    const state = await t.kasa.deals.openForPage(res.json().invoice_id);
    assert.equal(state.kind, 'deal');
    if (state.kind !== 'deal') return;
    // The operator confirms: whichever trader's card the deal opened on.
    const confirmed = await t.admin('POST', `/admin/v1/deals/${state.deal.id}/confirm`);
    assert.equal(confirmed.statusCode, 200, confirmed.body);
  }
}

function api(key: string, method: 'GET' | 'POST', url: string, payload?: unknown) {
  return t.inject({ method, url, headers: { 'x-api-key': key }, ...(payload === undefined ? {} : { payload: payload as object }) });
}

const withdraw = (key: string, amount: string, extra: Record<string, unknown> = {}) =>
  api(key, 'POST', '/api/v1/withdrawals', { amount_usdt: amount, address: tronAddress(), network: 'TRC20', ...extra });

const balanceOf = (account: string) => accountBalance(t, account);

async function transfersOf(ref: string) {
  return (await transferRows(t, ref)).map((r) => `${r.kind} ${r.from_account} → ${r.to_account} ${r.amount}`);
}

async function count(table: 'transfers' | 'withdrawals' | 'chain_transactions'): Promise<number> {
  const row = await t.database.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

const admin = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: unknown) => t.admin(method, url, payload);

before(async () => {
  t = await startKasa();
  await addTrader(t, { deposit: '100000.00' }); // the liquidity that pays the merchants' invoices
});
after(() => t.close());

describe('merchant withdrawals: states and money', () => {
  test('request, approve, complete: the amount held, then the net paid out and the fee to platform revenue, to the micro-USDT', async () => {
    const s = await shop();
    await fund(s, 2); // 70.84
    const revenueBefore = await balanceOf('platform:revenue');
    const worldBefore = await balanceOf('world');

    const address = tronAddress();
    const res = await api(s.payout_key, 'POST', '/api/v1/withdrawals', { amount_usdt: '50.00', address, network: 'TRC20' });
    assert.equal(res.statusCode, 201, res.body);
    const w = res.json();
    assert.deepEqual(Object.keys(w).sort(), [
      'address',
      'amount_usdt',
      'created_at',
      'fee_usdt',
      'net_usdt',
      'network',
      'reason',
      'status',
      'tx_hash',
      'updated_at',
      'withdrawal_id',
    ]);
    assert.match(w.withdrawal_id, UUID_V4);
    assert.equal(w.status, 'requested');
    assert.equal(w.amount_usdt, '50.00');
    assert.equal(w.fee_usdt, '2.00');
    assert.equal(w.net_usdt, '48.00');
    assert.equal(w.address, address);
    assert.equal(w.network, 'TRC20');
    assert.equal(w.tx_hash, null);
    assert.equal(w.reason, null);
    assert.equal(w.created_at, '2026-02-25T12:00:00Z');

    const balance = (await api(s.api_key, 'GET', '/api/v1/balance')).json();
    assert.deepEqual(balance, { currency: 'USDT', available: '20.84', on_hold: '50.00' });
    assert.deepEqual(await transfersOf(w.withdrawal_id), [`withdrawal_hold merchant:${s.merchant_id} → merchant:${s.merchant_id}:withdrawal_hold 50000000`]);

    const approved = await admin('POST', `/admin/v1/withdrawals/${w.withdrawal_id}/approve`);
    assert.equal(approved.statusCode, 200, approved.body);
    assert.equal(approved.json().status, 'approved');
    assert.equal(approved.json().owner_kind, 'merchant');
    assert.equal(approved.json().owner_id, s.merchant_id);
    assert.equal((await transfersOf(w.withdrawal_id)).length, 1, 'approving moves no money');

    t.clock.advance(60_000);
    const hash = txHash();
    const completed = await admin('POST', `/admin/v1/withdrawals/${w.withdrawal_id}/complete`, { tx_hash: hash.toUpperCase() });
    assert.equal(completed.statusCode, 200, completed.body);
    assert.equal(completed.json().status, 'completed');
    assert.equal(completed.json().tx_hash, hash, 'hashes are kept in lower case');
    assert.equal(completed.json().updated_at, '2026-02-25T12:01:00Z');
    t.clock.advance(-60_000);

    assert.deepEqual(await transfersOf(w.withdrawal_id), [
      `withdrawal_hold merchant:${s.merchant_id} → merchant:${s.merchant_id}:withdrawal_hold 50000000`,
      `withdrawal_payout merchant:${s.merchant_id}:withdrawal_hold → world 48000000`,
      `withdrawal_fee merchant:${s.merchant_id}:withdrawal_hold → platform:revenue 2000000`,
    ]);
    assert.equal(await balanceOf(`merchant:${s.merchant_id}:withdrawal_hold`), 0n);
    assert.equal(await balanceOf('platform:revenue'), revenueBefore + 2_000_000n);
    assert.equal(await balanceOf('world'), worldBefore + 48_000_000n);
    assert.deepEqual((await api(s.api_key, 'GET', '/api/v1/balance')).json(), { currency: 'USDT', available: '20.84', on_hold: '0.00' });

    const got = (await api(s.payout_key, 'GET', `/api/v1/withdrawals/${w.withdrawal_id}`)).json();
    assert.equal(got.status, 'completed');
    assert.equal(got.tx_hash, hash);
    assert.equal(got.owner_kind, undefined, 'the owner view names no owner');
    // A final withdrawal moves no more.
    for (const action of ['approve', 'reject']) {
      const again = await admin('POST', `/admin/v1/withdrawals/${w.withdrawal_id}/${action}`, action === 'reject' ? { reason: 'late' } : undefined);
      assert.equal(assertEnvelope(again, 409, 'WITHDRAWAL_NOT_ALLOWED').error.details?.status, 'completed');
    }
    assertEnvelope(await admin('POST', `/admin/v1/withdrawals/${w.withdrawal_id}/complete`, { tx_hash: txHash() }), 409, 'WITHDRAWAL_NOT_ALLOWED');
  });

  test('rejected (with a reason) or cancelled: the hold returns to the balance; cancel only while requested', async () => {
    const s = await shop();
    await fund(s, 1); // 35.42
    const rejectedId = (await withdraw(s.payout_key, '20.00')).json().withdrawal_id;
    const rejected = await admin('POST', `/admin/v1/withdrawals/${rejectedId}/reject`, { reason: 'Address on a sanctions list' });
    assert.equal(rejected.statusCode, 200, rejected.body);
    assert.equal(rejected.json().status, 'rejected');
    assert.equal(rejected.json().reason, 'Address on a sanctions list');
    assert.deepEqual(await transfersOf(rejectedId), [
      `withdrawal_hold merchant:${s.merchant_id} → merchant:${s.merchant_id}:withdrawal_hold 20000000`,
      `withdrawal_release merchant:${s.merchant_id}:withdrawal_hold → merchant:${s.merchant_id} 20000000`,
    ]);
    assert.deepEqual((await api(s.api_key, 'GET', '/api/v1/balance')).json(), { currency: 'USDT', available: '35.42', on_hold: '0.00' });
    assert.equal((await api(s.payout_key, 'GET', `/api/v1/withdrawals/${rejectedId}`)).json().reason, 'Address on a sanctions list');

    const cancelledId = (await withdraw(s.payout_key, '35.42')).json().withdrawal_id;
    const cancelled = await api(s.payout_key, 'POST', `/api/v1/withdrawals/${cancelledId}/cancel`);
    assert.equal(cancelled.statusCode, 200, cancelled.body);
    assert.equal(cancelled.json().status, 'cancelled');
    assert.equal(cancelled.json().reason, null);
    assert.deepEqual((await api(s.api_key, 'GET', '/api/v1/balance')).json(), { currency: 'USDT', available: '35.42', on_hold: '0.00' });
    assert.equal(
      assertEnvelope(await api(s.payout_key, 'POST', `/api/v1/withdrawals/${cancelledId}/cancel`), 409, 'WITHDRAWAL_NOT_ALLOWED').error.details?.status,
      'cancelled',
    );

    const approvedId = (await withdraw(s.payout_key, '10.00')).json().withdrawal_id;
    assert.equal((await admin('POST', `/admin/v1/withdrawals/${approvedId}/approve`)).statusCode, 200);
    const late = assertEnvelope(await api(s.payout_key, 'POST', `/api/v1/withdrawals/${approvedId}/cancel`), 409, 'WITHDRAWAL_NOT_ALLOWED');
    assert.equal(late.error.details?.status, 'approved');
    assertEnvelope(await admin('POST', `/admin/v1/withdrawals/${approvedId}/approve`), 409, 'WITHDRAWAL_NOT_ALLOWED');
    // The operator may still reject an approved withdrawal that was not sent.
    assert.equal((await admin('POST', `/admin/v1/withdrawals/${approvedId}/reject`, { reason: 'Sent by mistake' })).json().status, 'rejected');
    // Completing needs approval first.
    const requestedId = (await withdraw(s.payout_key, '10.00')).json().withdrawal_id;
    assert.equal(
      assertEnvelope(await admin('POST', `/admin/v1/withdrawals/${requestedId}/complete`, { tx_hash: txHash() }), 409, 'WITHDRAWAL_NOT_ALLOWED').error.details
        ?.status,
      'requested',
    );
    assert.equal((await api(s.payout_key, 'POST', `/api/v1/withdrawals/${requestedId}/cancel`)).statusCode, 200);
  });

  test('below withdrawal_min_usdt → 400 AMOUNT_OUT_OF_RANGE with min_amount; more than available → 409 INSUFFICIENT_BALANCE with available', async () => {
    const s = await shop();
    await fund(s, 1);
    const low = assertEnvelope(await withdraw(s.payout_key, '9.99'), 400, 'AMOUNT_OUT_OF_RANGE');
    assert.equal(low.error.details?.min_amount, '10.00');
    const high = assertEnvelope(await withdraw(s.payout_key, '35.43'), 409, 'INSUFFICIENT_BALANCE');
    assert.equal(high.error.details?.available, '35.42');
    const empty = await shop();
    assert.equal(assertEnvelope(await withdraw(empty.payout_key, '10.00'), 409, 'INSUFFICIENT_BALANCE').error.details?.available, '0.00');
    assert.equal((await withdraw(s.payout_key, '10.00')).statusCode, 201, 'the minimum itself is allowed');
  });

  test('bad input → 422 in the Pydantic shape, and nothing changes in the ledger', async () => {
    const s = await shop();
    await fund(s, 1);
    const [transfers, withdrawals] = [await count('transfers'), await count('withdrawals')];
    const good = tronAddress();
    // One character changed: a valid base58 text whose checksum no longer matches.
    const typo = good.slice(0, -1) + (good.endsWith('a') ? 'b' : 'a');
    const cases: [Record<string, unknown>, string, string][] = [
      [{ address: typo }, 'value_error', 'body.address'],
      [{ address: 'T' + good.slice(1, -1) }, 'value_error', 'body.address'], // 33 characters
      [{ address: '0x' + randomBytes(20).toString('hex') }, 'value_error', 'body.address'],
      [{ address: good.replace(/.$/, '0') }, 'value_error', 'body.address'], // 0 is not base58
      [{ address: 12345 }, 'string_type', 'body.address'],
      [{ amount_usdt: '10.005' }, 'decimal_max_places', 'body.amount_usdt'],
      [{ amount_usdt: '-10.00' }, 'greater_than', 'body.amount_usdt'],
      [{ amount_usdt: '0' }, 'greater_than', 'body.amount_usdt'],
      [{ amount_usdt: '1000000000000000.00' }, 'decimal_max_digits', 'body.amount_usdt'],
      [{ amount_usdt: 'NaN' }, 'finite_number', 'body.amount_usdt'],
      [{ network: 'ERC20' }, 'enum', 'body.network'],
      [{ network: undefined }, 'missing', 'body.network'],
    ];
    for (const [change, type, loc] of cases) {
      const body = { amount_usdt: '10.00', address: good, network: 'TRC20', ...change };
      const res = await api(s.payout_key, 'POST', '/api/v1/withdrawals', body);
      assert.deepEqual(assertValidation(res), [[type, loc]], `${JSON.stringify(change)}: ${res.body}`);
    }
    const base58Typo = (await api(s.payout_key, 'POST', '/api/v1/withdrawals', { amount_usdt: '10.00', address: typo, network: 'TRC20' })).json();
    assert.match(base58Typo.detail[0].msg, /checksum/);
    assert.equal(await count('transfers'), transfers);
    assert.equal(await count('withdrawals'), withdrawals);
    assert.deepEqual((await api(s.api_key, 'GET', '/api/v1/balance')).json(), { currency: 'USDT', available: '35.42', on_hold: '0.00' });
    assert.deepEqual(assertValidation(await admin('POST', `/admin/v1/withdrawals/${randomBytes(16).toString('hex')}/complete`, { tx_hash: 'abc' })), [
      ['string_pattern_mismatch', 'body.tx_hash'],
    ]);
    assert.deepEqual(assertValidation(await admin('POST', `/admin/v1/withdrawals/${randomBytes(16).toString('hex')}/reject`, { reason: '' })), [
      ['string_too_short', 'body.reason'],
    ]);
  });
});

describe('API key scopes', () => {
  test('a key issued without scopes has invoices only: every withdrawal route is 403 API_KEY_SCOPE for it', async () => {
    const s = await shop();
    await fund(s, 1);
    const id = (await withdraw(s.payout_key, '10.00')).json().withdrawal_id;
    const routes: ['GET' | 'POST', string, unknown?][] = [
      ['POST', '/api/v1/withdrawals', { amount_usdt: '10.00', address: tronAddress(), network: 'TRC20' }],
      ['GET', '/api/v1/withdrawals'],
      ['GET', `/api/v1/withdrawals/${id}`],
      ['POST', `/api/v1/withdrawals/${id}/cancel`],
    ];
    for (const [method, url, body] of routes) {
      const refused = assertEnvelope(await api(s.api_key, method, url, body), 403, 'API_KEY_SCOPE', 'This API key may not manage withdrawals');
      assert.equal(refused.error.details?.required_scope, 'withdrawals');
    }
    assert.equal((await api(s.payout_key, 'GET', `/api/v1/withdrawals/${id}`)).json().status, 'requested', 'nothing was cancelled');
    assert.deepEqual((await api(s.api_key, 'GET', '/api/v1/balance')).json().on_hold, '10.00');
  });

  test('scopes are given at creation, listed, checked; a withdrawals-only key reads the balance but not invoices', async () => {
    const s = await shop();
    const only = await admin('POST', `/admin/v1/merchants/${s.merchant_id}/api-keys`, { scopes: ['withdrawals'] });
    assert.equal(only.statusCode, 201, only.body);
    assert.deepEqual(only.json().scopes, ['withdrawals']);
    const plain = await t.inject({ method: 'POST', url: `/admin/v1/merchants/${s.merchant_id}/api-keys`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(plain.statusCode, 201, plain.body);
    assert.deepEqual(plain.json().scopes, ['invoices'], 'no body: the default scope');
    const emptyJson = await t.inject({
      method: 'POST',
      url: `/admin/v1/merchants/${s.merchant_id}/api-keys`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      payload: '',
    });
    assert.equal(emptyJson.statusCode, 201, emptyJson.body);
    assert.deepEqual(emptyJson.json().scopes, ['invoices']);
    assert.deepEqual(assertValidation(await admin('POST', `/admin/v1/merchants/${s.merchant_id}/api-keys`, { scopes: ['refunds'] })), [
      ['enum', 'body.scopes.0'],
    ]);
    assert.deepEqual(assertValidation(await admin('POST', `/admin/v1/merchants/${s.merchant_id}/api-keys`, { scopes: [] })), [['too_short', 'body.scopes']]);

    const listed = (await admin('GET', `/admin/v1/merchants/${s.merchant_id}/api-keys`)).json().items;
    assert.deepEqual(
      listed.map((k: { scopes: string[] }) => k.scopes),
      [['invoices'], ['invoices', 'withdrawals'], ['withdrawals'], ['invoices'], ['invoices']],
    );

    const key = only.json().api_key;
    assert.equal((await api(key, 'GET', '/api/v1/balance')).statusCode, 200);
    assert.equal((await api(key, 'GET', '/api/v1/withdrawals')).statusCode, 200);
    assertEnvelope(await t.createInvoice(key, { external_id: `scope-${++seq}` }), 403, 'API_KEY_SCOPE', 'This API key may not manage invoices');
    assertEnvelope(await api(key, 'GET', '/api/v1/invoices'), 403, 'API_KEY_SCOPE');
    assertEnvelope(await api(key, 'GET', '/api/v1/webhooks/deliveries'), 403, 'API_KEY_SCOPE');
  });

  test('keys issued before scopes existed have the invoices scope (the migration default)', async () => {
    const s = await shop();
    const row = await t.database.db
      .selectFrom('api_keys')
      .select('scopes')
      .where('merchant_id', '=', s.merchant_id)
      .orderBy('created_at')
      .executeTakeFirstOrThrow();
    assert.deepEqual(row.scopes, ['invoices']);
  });
});

describe('only the owner sees and moves a withdrawal', () => {
  test("another merchant's or trader's id, and a malformed id, are 404 WITHDRAWAL_NOT_FOUND on every route", async () => {
    const a = await shop();
    const b = await shop();
    await fund(a, 1);
    const traderA = await addTrader(t, { deposit: '100.00' });
    const traderB = await addTrader(t, { deposit: '100.00' });
    const merchantW = (await withdraw(a.payout_key, '10.00')).json().withdrawal_id;
    const traderW = (
      await trader(t, traderA.api_key, 'POST', '/api/v1/trader/withdrawals', { amount_usdt: '10.00', address: tronAddress(), network: 'TRC20' })
    ).json().withdrawal_id;

    for (const id of [merchantW, traderW, 'not-a-uuid', '00000000-0000-4000-8000-000000000000']) {
      if (id !== merchantW) {
        assertEnvelope(await api(a.payout_key, 'GET', `/api/v1/withdrawals/${id}`), 404, 'WITHDRAWAL_NOT_FOUND');
        assertEnvelope(await api(a.payout_key, 'POST', `/api/v1/withdrawals/${id}/cancel`), 404, 'WITHDRAWAL_NOT_FOUND');
      }
      if (id !== traderW) {
        assertEnvelope(await trader(t, traderA.api_key, 'GET', `/api/v1/trader/withdrawals/${id}`), 404, 'WITHDRAWAL_NOT_FOUND');
        assertEnvelope(await trader(t, traderA.api_key, 'POST', `/api/v1/trader/withdrawals/${id}/cancel`), 404, 'WITHDRAWAL_NOT_FOUND');
      }
      assertEnvelope(await api(b.payout_key, 'GET', `/api/v1/withdrawals/${id}`), 404, 'WITHDRAWAL_NOT_FOUND');
      assertEnvelope(await api(b.payout_key, 'POST', `/api/v1/withdrawals/${id}/cancel`), 404, 'WITHDRAWAL_NOT_FOUND');
      assertEnvelope(await trader(t, traderB.api_key, 'GET', `/api/v1/trader/withdrawals/${id}`), 404, 'WITHDRAWAL_NOT_FOUND');
      assertEnvelope(await trader(t, traderB.api_key, 'POST', `/api/v1/trader/withdrawals/${id}/cancel`), 404, 'WITHDRAWAL_NOT_FOUND');
    }
    for (const id of ['not-a-uuid', '00000000-0000-4000-8000-000000000000']) {
      assertEnvelope(await admin('POST', `/admin/v1/withdrawals/${id}/approve`), 404, 'WITHDRAWAL_NOT_FOUND');
      assertEnvelope(await admin('POST', `/admin/v1/withdrawals/${id}/complete`, { tx_hash: txHash() }), 404, 'WITHDRAWAL_NOT_FOUND');
      assertEnvelope(await admin('POST', `/admin/v1/withdrawals/${id}/reject`, { reason: 'x' }), 404, 'WITHDRAWAL_NOT_FOUND');
    }
    // Lists hold only the owner's own.
    assert.deepEqual(
      (await api(a.payout_key, 'GET', '/api/v1/withdrawals')).json().items.map((w: { withdrawal_id: string }) => w.withdrawal_id),
      [merchantW],
    );
    assert.deepEqual((await api(b.payout_key, 'GET', '/api/v1/withdrawals')).json().items, []);
    assert.deepEqual(
      (await trader(t, traderA.api_key, 'GET', '/api/v1/trader/withdrawals')).json().items.map((w: { withdrawal_id: string }) => w.withdrawal_id),
      [traderW],
    );
    assert.deepEqual((await trader(t, traderB.api_key, 'GET', '/api/v1/trader/withdrawals')).json().items, []);
    // Both still requested: no refused call moved anything.
    assert.equal((await api(a.payout_key, 'GET', `/api/v1/withdrawals/${merchantW}`)).json().status, 'requested');
    assert.equal((await trader(t, traderA.api_key, 'GET', `/api/v1/trader/withdrawals/${traderW}`)).json().status, 'requested');
    // A merchant key on the trader routes, and a trader key on the merchant routes: 401.
    assertEnvelope(await trader(t, a.payout_key, 'GET', '/api/v1/trader/withdrawals'), 401, 'API_KEY_INVALID');
    assertEnvelope(await api(traderA.api_key, 'GET', '/api/v1/withdrawals'), 401, 'API_KEY_INVALID');
  });

  test('lists: newest first, by status, a page at a time; the operator filters by owner kind', async () => {
    const s = await shop();
    await fund(s, 2);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      t.clock.advance(1_000);
      ids.push((await withdraw(s.payout_key, '10.00')).json().withdrawal_id);
    }
    await api(s.payout_key, 'POST', `/api/v1/withdrawals/${ids[1]}/cancel`);
    const first = (await api(s.payout_key, 'GET', '/api/v1/withdrawals?limit=2')).json();
    assert.deepEqual(
      first.items.map((w: { withdrawal_id: string }) => w.withdrawal_id),
      [ids[2], ids[1]],
    );
    const second = (await api(s.payout_key, 'GET', `/api/v1/withdrawals?limit=2&cursor=${first.next_cursor}`)).json();
    assert.deepEqual(
      second.items.map((w: { withdrawal_id: string }) => w.withdrawal_id),
      [ids[0]],
    );
    assert.equal(second.next_cursor, null);
    const requested = (await api(s.payout_key, 'GET', '/api/v1/withdrawals?status=requested')).json().items;
    assert.deepEqual(
      requested.map((w: { withdrawal_id: string }) => w.withdrawal_id),
      [ids[2], ids[0]],
    );
    assertValidation(await api(s.payout_key, 'GET', '/api/v1/withdrawals?status=done'));
    assertEnvelope(await api(s.payout_key, 'GET', '/api/v1/withdrawals?cursor=nonsense'), 400, 'INVALID_CURSOR');

    const merchants = (await admin('GET', '/admin/v1/withdrawals?owner_kind=merchant&limit=100')).json().items;
    assert.ok(merchants.length >= 3 && merchants.every((w: { owner_kind: string }) => w.owner_kind === 'merchant'));
    const traders = (await admin('GET', '/admin/v1/withdrawals?owner_kind=trader&limit=100')).json().items;
    assert.ok(traders.every((w: { owner_kind: string }) => w.owner_kind === 'trader'));
    const cancelled = (await admin('GET', '/admin/v1/withdrawals?status=cancelled&limit=100')).json().items;
    assert.ok(cancelled.some((w: { withdrawal_id: string }) => w.withdrawal_id === ids[1]));
    assert.ok(cancelled.every((w: { status: string }) => w.status === 'cancelled'));
  });
});

describe('races, settled by the database', () => {
  test('20 parallel withdrawals of the whole balance: exactly one accepted, the others 409, the hold equal to it', async () => {
    const s = await shop();
    await fund(s, 1); // 35.42
    const results = await Promise.all(Array.from({ length: 20 }, () => withdraw(s.payout_key, '35.42')));
    const accepted = results.filter((r) => r.statusCode === 201);
    assert.equal(accepted.length, 1, results.map((r) => r.statusCode).join(' '));
    for (const r of results.filter((r) => r.statusCode !== 201)) assert.equal(assertEnvelope(r, 409, 'INSUFFICIENT_BALANCE').error.details?.available, '0.00');
    assert.equal(await balanceOf(`merchant:${s.merchant_id}:withdrawal_hold`), 35_420_000n);
    assert.equal(await balanceOf(`merchant:${s.merchant_id}`), 0n);
    assert.equal((await api(s.payout_key, 'GET', '/api/v1/withdrawals')).json().items.length, 1);
  });

  test('50 parallel approve/complete/reject/cancel on one withdrawal: one final state, and exactly its transfers', async () => {
    for (let round = 0; round < 3; round++) {
      const s = await shop();
      await fund(s, 1);
      const id = (await withdraw(s.payout_key, '30.00')).json().withdrawal_id;
      const actions = Array.from({ length: 50 }, (_, i) => {
        switch (i % 4) {
          case 0:
            return admin('POST', `/admin/v1/withdrawals/${id}/approve`);
          case 1:
            return admin('POST', `/admin/v1/withdrawals/${id}/complete`, { tx_hash: txHash() });
          case 2:
            return admin('POST', `/admin/v1/withdrawals/${id}/reject`, { reason: `race ${i}` });
          default:
            return api(s.payout_key, 'POST', `/api/v1/withdrawals/${id}/cancel`);
        }
      });
      const results = await Promise.all(actions);
      for (const r of results) if (r.statusCode !== 200) assertEnvelope(r, 409, 'WITHDRAWAL_NOT_ALLOWED');
      const final = (await api(s.payout_key, 'GET', `/api/v1/withdrawals/${id}`)).json();
      assert.ok(['completed', 'rejected', 'cancelled', 'approved'].includes(final.status), final.status);
      const hold = `merchant:${s.merchant_id}:withdrawal_hold`;
      const transfers = await transfersOf(id);
      const wins = results.filter((r) => r.statusCode === 200).length;
      if (final.status === 'completed') {
        assert.deepEqual(transfers, [
          `withdrawal_hold merchant:${s.merchant_id} → ${hold} 30000000`,
          `withdrawal_payout ${hold} → world 28000000`,
          `withdrawal_fee ${hold} → platform:revenue 2000000`,
        ]);
        assert.equal(wins, 2, 'one approve and one complete');
        const claimed = await t.database.db.selectFrom('chain_transactions').select('tx_hash').where('ref', '=', id).execute();
        assert.deepEqual(claimed, [{ tx_hash: final.tx_hash }]);
      } else if (final.status === 'approved') {
        assert.deepEqual(transfers, [`withdrawal_hold merchant:${s.merchant_id} → ${hold} 30000000`]);
        assert.equal(wins, 1);
      } else {
        assert.deepEqual(transfers, [
          `withdrawal_hold merchant:${s.merchant_id} → ${hold} 30000000`,
          `withdrawal_release ${hold} → merchant:${s.merchant_id} 30000000`,
        ]);
        assert.ok(wins === 1 || (final.status === 'rejected' && wins === 2), `${final.status} after ${wins} wins`);
      }
      assert.equal(await balanceOf(hold), final.status === 'approved' ? 30_000_000n : 0n);
      // Leave nothing held for the next round's ledger check.
      if (final.status === 'approved') await admin('POST', `/admin/v1/withdrawals/${id}/reject`, { reason: 'cleanup' });
    }
  });
});

describe('a chain transaction hash is used once', () => {
  test('a hash that completed one withdrawal, or recorded a top-up, refuses another with 409 TX_HASH_USED', async () => {
    const s = await shop();
    await fund(s, 2);
    const approved = async () => {
      const id = (await withdraw(s.payout_key, '10.00')).json().withdrawal_id;
      assert.equal((await admin('POST', `/admin/v1/withdrawals/${id}/approve`)).statusCode, 200);
      return id;
    };
    const [first, second] = [await approved(), await approved()];
    const hash = txHash();
    assert.equal((await admin('POST', `/admin/v1/withdrawals/${first}/complete`, { tx_hash: hash })).statusCode, 200);
    const transfers = await count('transfers');
    assertEnvelope(await admin('POST', `/admin/v1/withdrawals/${second}/complete`, { tx_hash: hash }), 409, 'TX_HASH_USED');
    assertEnvelope(await admin('POST', `/admin/v1/withdrawals/${second}/complete`, { tx_hash: hash.toUpperCase() }), 409, 'TX_HASH_USED');
    // A top-up recorded with a hash (as the top-ups module claims it).
    const topupHash = txHash();
    await t.database.db
      .insertInto('chain_transactions')
      .values({ tx_hash: topupHash, network: 'TRC20', kind: 'trader_topup', ref: '00000000-0000-4000-8000-000000000001', created_at: t.clock.now() })
      .execute();
    assertEnvelope(await admin('POST', `/admin/v1/withdrawals/${second}/complete`, { tx_hash: topupHash }), 409, 'TX_HASH_USED');
    assert.equal(await count('transfers'), transfers, 'a refused completion moves nothing');
    assert.equal((await api(s.payout_key, 'GET', `/api/v1/withdrawals/${second}`)).json().status, 'approved');
    assert.equal((await admin('POST', `/admin/v1/withdrawals/${second}/complete`, { tx_hash: txHash() })).json().status, 'completed');
  });
});

describe('settings: minimum, fee and auto-approval', () => {
  test('changed through the admin API; the fee of a request is the one in force when it was made', async () => {
    const s = await shop();
    await fund(s, 2);
    const settings = (await admin('GET', '/admin/v1/settings')).json();
    assert.equal(settings.withdrawal_min_usdt, '10.00');
    assert.equal(settings.withdrawal_fee_usdt, '2.00');
    assert.equal(settings.withdrawal_auto_approve_below_usdt, '0.00');
    try {
      const changed = await admin('PATCH', '/admin/v1/settings', {
        withdrawal_min_usdt: '5.00',
        withdrawal_fee_usdt: '1.50',
        withdrawal_auto_approve_below_usdt: '20.00',
      });
      assert.equal(changed.statusCode, 200, changed.body);
      assert.equal(changed.json().withdrawal_auto_approve_below_usdt, '20.00');
      const small = (await withdraw(s.payout_key, '19.99')).json();
      assert.equal(small.status, 'approved', 'below the threshold: approved at once');
      assert.equal(small.fee_usdt, '1.50');
      assert.equal(small.net_usdt, '18.49');
      assert.deepEqual(await transfersOf(small.withdrawal_id), [
        `withdrawal_hold merchant:${s.merchant_id} → merchant:${s.merchant_id}:withdrawal_hold 19990000`,
      ]);
      assert.equal((await withdraw(s.payout_key, '20.00')).json().status, 'requested', 'the threshold itself is not below it');
      assert.equal((await withdraw(s.payout_key, '5.00')).statusCode, 201);
      assert.equal(assertEnvelope(await withdraw(s.payout_key, '4.99'), 400, 'AMOUNT_OUT_OF_RANGE').error.details?.min_amount, '5.00');

      assert.equal((await admin('PATCH', '/admin/v1/settings', { withdrawal_fee_usdt: '3.00' })).statusCode, 200);
      const completed = await admin('POST', `/admin/v1/withdrawals/${small.withdrawal_id}/complete`, { tx_hash: txHash() });
      assert.equal(completed.json().fee_usdt, '1.50', 'the fee stays the one of the request');
      assert.deepEqual((await transfersOf(small.withdrawal_id)).slice(1), [
        `withdrawal_payout merchant:${s.merchant_id}:withdrawal_hold → world 18490000`,
        `withdrawal_fee merchant:${s.merchant_id}:withdrawal_hold → platform:revenue 1500000`,
      ]);

      // The minimum stays above the fee, so no withdrawal pays out nothing.
      assertEnvelope(await admin('PATCH', '/admin/v1/settings', { withdrawal_fee_usdt: '5.00' }), 400, 'SETTINGS_INVALID');
      assertValidation(await admin('PATCH', '/admin/v1/settings', { withdrawal_fee_usdt: '-1' }));
      assertValidation(await admin('PATCH', '/admin/v1/settings', { withdrawal_min_usdt: '1.001' }));
    } finally {
      const reset = await admin('PATCH', '/admin/v1/settings', {
        withdrawal_min_usdt: '10.00',
        withdrawal_fee_usdt: '2.00',
        withdrawal_auto_approve_below_usdt: '0',
      });
      assert.equal(reset.statusCode, 200, reset.body);
    }
  });
});

describe('trader withdrawals', () => {
  test('only available USDT: what open deals lock is never withdrawable; the same states, fee and transfers', async () => {
    const tr = await addTrader(t, { deposit: '100.00' });
    const s = await shop();
    // The deal opens on this trader's card: every other card is off for the moment.
    const others = await t.database.db
      .updateTable('requisites')
      .set({ active: false })
      .where('trader_id', '<>', tr.trader_id)
      .where('active', '=', true)
      .returning('id')
      .execute();
    const invoice = await t.createInvoice(s.api_key, { external_id: `tw-${++seq}`, customer_id: `tw-${seq}` });
    const state = await t.kasa.deals.openForPage(invoice.json().invoice_id);
    if (others.length)
      await t.database.db
        .updateTable('requisites')
        .set({ active: true })
        .where(
          'id',
          'in',
          others.map((r) => r.id),
        )
        .execute();
    assert.equal(state.kind, 'deal');
    if (state.kind !== 'deal') return;
    const deal = await t.database.db.selectFrom('deals').select('trader_id').where('id', '=', state.deal.id).executeTakeFirstOrThrow();
    assert.equal(deal.trader_id, tr.trader_id);
    const balance = (await trader(t, tr.api_key, 'GET', '/api/v1/trader/balance')).json();
    assert.notEqual(balance.locked, '0.00');
    assert.equal(balance.on_hold, '0.00');
    const available = balance.available as string;

    const tooMuch = await trader(t, tr.api_key, 'POST', '/api/v1/trader/withdrawals', { amount_usdt: '100.00', address: tronAddress(), network: 'TRC20' });
    assert.equal(assertEnvelope(tooMuch, 409, 'INSUFFICIENT_BALANCE').error.details?.available, available);

    const res = await trader(t, tr.api_key, 'POST', '/api/v1/trader/withdrawals', { amount_usdt: '40.00', address: tronAddress(), network: 'TRC20' });
    assert.equal(res.statusCode, 201, res.body);
    const w = res.json();
    assert.equal(w.status, 'requested');
    assert.equal(w.net_usdt, '38.00');
    const after = (await trader(t, tr.api_key, 'GET', '/api/v1/trader/balance')).json();
    assert.equal(after.on_hold, '40.00');
    assert.equal(after.locked, balance.locked, 'the deal lock is untouched');
    assert.equal((await admin('POST', `/admin/v1/withdrawals/${w.withdrawal_id}/approve`)).statusCode, 200);
    const done = await admin('POST', `/admin/v1/withdrawals/${w.withdrawal_id}/complete`, { tx_hash: txHash() });
    assert.equal(done.json().owner_kind, 'trader');
    assert.equal(done.json().owner_id, tr.trader_id);
    assert.deepEqual(await transfersOf(w.withdrawal_id), [
      `withdrawal_hold trader:${tr.trader_id}:available → trader:${tr.trader_id}:withdrawal_hold 40000000`,
      `withdrawal_payout trader:${tr.trader_id}:withdrawal_hold → world 38000000`,
      `withdrawal_fee trader:${tr.trader_id}:withdrawal_hold → platform:revenue 2000000`,
    ]);
    const claimed = await t.database.db.selectFrom('chain_transactions').select('kind').where('ref', '=', w.withdrawal_id).executeTakeFirstOrThrow();
    assert.equal(claimed.kind, 'trader_withdrawal');

    const cancelledId = (
      await trader(t, tr.api_key, 'POST', '/api/v1/trader/withdrawals', { amount_usdt: '10.00', address: tronAddress(), network: 'TRC20' })
    ).json().withdrawal_id;
    assert.equal((await trader(t, tr.api_key, 'POST', `/api/v1/trader/withdrawals/${cancelledId}/cancel`)).json().status, 'cancelled');
    assert.equal((await trader(t, tr.api_key, 'GET', `/api/v1/trader/withdrawals/${cancelledId}`)).json().status, 'cancelled');
    assert.equal(
      (await t.database.db.selectFrom('events').select('id').where('withdrawal_id', 'in', [w.withdrawal_id, cancelledId]).execute()).length,
      0,
      'traders have no webhooks',
    );
    // The admin trader view shows the hold as well.
    const view = (await admin('GET', `/admin/v1/traders/${tr.trader_id}`)).json();
    assert.equal(view.balance.on_hold, '0.00');
    assert.equal((await admin('POST', `/admin/v1/deals/${state.deal.id}/confirm`)).statusCode, 200);
  });
});

describe('webhooks: withdrawal.completed and withdrawal.rejected', () => {
  test("sent to the merchant's webhook_url through the outbox, signed as every webhook", async () => {
    const rx = await Receiver.start();
    try {
      t.clock.set(new Date().toISOString()); // standardwebhooks checks webhook-timestamp against the real time
      const s = await shop(rx.url);
      await fund(s, 2);
      await t.database.db.updateTable('deliveries').set({ status: 'failed' }).where('merchant_id', '=', s.merchant_id).execute(); // the invoice's own events
      const completedId = (await withdraw(s.payout_key, '20.00')).json().withdrawal_id;
      const rejectedId = (await withdraw(s.payout_key, '10.00')).json().withdrawal_id;
      const cancelledId = (await withdraw(s.payout_key, '10.00')).json().withdrawal_id;
      await api(s.payout_key, 'POST', `/api/v1/withdrawals/${cancelledId}/cancel`);
      await admin('POST', `/admin/v1/withdrawals/${completedId}/approve`);
      const hash = txHash();
      await admin('POST', `/admin/v1/withdrawals/${completedId}/complete`, { tx_hash: hash });
      await admin('POST', `/admin/v1/withdrawals/${rejectedId}/reject`, { reason: 'Unverified address' });

      const worker = new DeliveryWorker(t.kasa.db, t.kasa.clock, t.kasa.sender, pino({ level: 'silent' }), t.kasa.metrics, { random: () => 0.5 });
      await waitUntil(
        () => rx.received.length >= 2,
        'two withdrawal webhooks',
        () => worker.drain(),
      );
      const wh = new Webhook(s.webhook_secret);
      const bodies = rx.received.map((r) => {
        const headers = Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, String(v)]));
        wh.verify(r.body, headers); // throws on a bad signature
        return JSON.parse(r.body);
      });
      const byType = new Map(bodies.map((b) => [b.type, b]));
      assert.deepEqual([...byType.keys()].sort(), ['withdrawal.completed', 'withdrawal.rejected']);
      const completed = byType.get('withdrawal.completed');
      assert.equal(completed.data.withdrawal_id, completedId);
      assert.equal(completed.data.status, 'completed');
      assert.equal(completed.data.tx_hash, hash);
      assert.equal(completed.data.net_usdt, '18.00');
      assert.equal(completed.id, rx.received.find((r) => JSON.parse(r.body).type === 'withdrawal.completed')?.headers['webhook-id']);
      const rejected = byType.get('withdrawal.rejected');
      assert.equal(rejected.data.withdrawal_id, rejectedId);
      assert.equal(rejected.data.reason, 'Unverified address');
      assert.deepEqual(Object.keys(completed.data), Object.keys((await api(s.payout_key, 'GET', `/api/v1/withdrawals/${completedId}`)).json()));

      const deliveries = (await api(s.api_key, 'GET', '/api/v1/webhooks/deliveries')).json().items;
      const ofWithdrawals = deliveries.filter((d: { withdrawal_id: string | null }) => d.withdrawal_id !== null);
      assert.deepEqual(
        ofWithdrawals.map((d: { withdrawal_id: string; invoice_id: null; status: string }) => [d.withdrawal_id, d.invoice_id, d.status]).sort(),
        [
          [completedId, null, 'delivered'],
          [rejectedId, null, 'delivered'],
        ].sort(),
      );
      // An approval or a cancellation sends nothing.
      await worker.drain();
      assert.equal(rx.received.length, 2);
    } finally {
      await rx.close();
      t.clock.set('2026-02-25T12:00:00Z');
    }
  });
});

describe('kasa withdrawal list|approve|complete|reject', () => {
  test('the operator moves withdrawals from the CLI', async () => {
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const address = t.app.server.address();
    assert.ok(address && typeof address === 'object');
    const env = { KASA_URL: `http://127.0.0.1:${address.port}`, ADMIN_TOKEN };
    const kasa = (...args: string[]) => kasaCommand(args, env);

    const s = await shop();
    await fund(s, 1);
    const first = (await withdraw(s.payout_key, '20.00')).json().withdrawal_id;
    const second = (await withdraw(s.payout_key, '10.00')).json().withdrawal_id;

    const listed = await kasa('withdrawal', 'list', '--status', 'requested');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^WITHDRAWAL_ID\s+STATUS\s+OWNER_KIND\s+OWNER_ID\s+AMOUNT_USDT\s+NET_USDT\s+ADDRESS\s+CREATED_AT/);
    assert.match(listed.stdout, new RegExp(`${first}\\s+requested\\s+merchant\\s+${s.merchant_id}\\s+20\\.00\\s+18\\.00`));

    const approved = await kasa('withdrawal', 'approve', first, '--json');
    assert.equal(approved.code, 0, approved.stderr);
    assert.equal(JSON.parse(approved.stdout).status, 'approved');
    const hash = txHash();
    const completed = await kasa('withdrawal', 'complete', first, '--tx-hash', hash);
    assert.equal(completed.code, 0, completed.stderr);
    assert.match(completed.stdout, /status\s+completed/);
    assert.match(completed.stdout, new RegExp(`tx_hash\\s+${hash}`));
    const rejected = await kasa('withdrawal', 'reject', second, '--reason', 'Wrong network', '--json');
    assert.equal(JSON.parse(rejected.stdout).reason, 'Wrong network');

    const again = await kasa('withdrawal', 'approve', first);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /WITHDRAWAL_NOT_ALLOWED/);
    const missing = await kasa('withdrawal', 'complete', second);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing --tx-hash/);
    const json = JSON.parse((await kasa('withdrawal', 'list', '--owner', 'merchant', '--json')).stdout);
    assert.ok(json.items.some((w: { withdrawal_id: string; status: string }) => w.withdrawal_id === first && w.status === 'completed'));

    const key = await kasa('key', 'create', s.merchant_id, '--scopes', 'withdrawals', '--json');
    assert.deepEqual(JSON.parse(key.stdout).scopes, ['withdrawals']);
    const settings = await kasa('settings', '--withdrawal-fee', '2.00', '--json');
    assert.equal(JSON.parse(settings.stdout).withdrawal_fee_usdt, '2.00');
  });
});
