// Statements from the ledger: the merchant's and the trader's movements with the balance after
// each, and every transfer one invoice caused with what makes up its merchant_usdt.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { startKasa, type TestKasa } from './helpers/kasa.ts';
import { assertEnvelope, assertValidation } from './helpers/http.ts';
import { addTrader, trader, type TestTrader } from './helpers/traders.ts';
import { microUsdt } from '../src/money.ts';

interface Entry {
  transfer_id: string;
  created_at: string;
  kind: string;
  amount_usdt: string;
  balance_after_usdt: string;
  invoice_id?: string | null;
  withdrawal_id?: string | null;
  account?: string;
  deal_id?: string | null;
  topup_id?: string | null;
  deposit_id?: string | null;
}

/** "+35.42" / "-100.000001" → micro-USDT. */
const signed = (amount: string) => {
  assert.match(amount, /^[+-]\d+\.\d{2,6}$/, amount);
  return microUsdt(amount);
};

describe('statements from the ledger', () => {
  let t: TestKasa;
  let merchant: { merchant_id: string; api_key: string };
  let tr: TestTrader;
  const paid: { invoice_id: string; merchant_usdt: string }[] = [];
  let seq = 0;

  const asMerchant = (url: string, apiKey = merchant.api_key) => t.inject({ method: 'GET', url, headers: { 'x-api-key': apiKey } });
  /** Every page of a statement, following next_cursor. */
  async function walk(
    get: (url: string) => Promise<{ statusCode: number; body: string; json(): { items: Entry[]; next_cursor: string | null } }>,
    base: string,
  ) {
    const entries: Entry[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const separator = base.includes('?') ? '&' : '?';
      const res = await get(`${base}${separator}limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(res.statusCode, 200, res.body);
      const page = res.json();
      assert.ok(page.items.length <= 2);
      entries.push(...page.items);
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor);
    return { entries, pages };
  }
  /** Newest first, and each entry's balance_after is the next older one's plus its amount. */
  function assertChained(entries: Entry[]) {
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      const older = entries[i + 1];
      if (older) assert.ok(BigInt(entry.transfer_id) > BigInt(older.transfer_id), 'newest first');
      const before = older ? microUsdt(older.balance_after_usdt) : 0n;
      assert.equal(microUsdt(entry.balance_after_usdt), before + signed(entry.amount_usdt), `balance after transfer ${entry.transfer_id}`);
    }
  }
  async function pay(amount: string): Promise<string> {
    const invoice = (await t.createInvoice(merchant.api_key, { external_id: `statement-${++seq}`, amount })).json();
    assert.equal((await t.inject({ method: 'GET', url: `/pay/${invoice.invoice_id}` })).statusCode, 200);
    const deal = await t.database.db.selectFrom('deals').select('id').where('invoice_id', '=', invoice.invoice_id).executeTakeFirstOrThrow();
    const confirmed = await trader(t, tr.api_key, 'POST', `/api/v1/trader/deals/${deal.id}/confirm`);
    assert.equal(confirmed.statusCode, 200, confirmed.body);
    paid.push({ invoice_id: invoice.invoice_id, merchant_usdt: invoice.merchant_usdt });
    return invoice.invoice_id;
  }

  before(async () => {
    t = await startKasa();
    merchant = await t.createMerchant();
    tr = await addTrader(t, { deposit: '1000.00', reward_percent: '1.00' });
    for (const amount of ['1500.00', '830.00', '415.00', '2075.50', '99.99']) await pay(amount);
  });
  after(() => t.close());

  test('the merchant statement, walked through every page, sums to available; signed amounts, chained balances', async () => {
    const { entries, pages } = await walk(asMerchant, '/api/v1/balance/transactions');
    assert.equal(entries.length, paid.length);
    assert.ok(pages >= 3, `${pages} pages`);
    const sum = entries.reduce((total, e) => total + signed(e.amount_usdt), 0n);
    const available = (await asMerchant('/api/v1/balance')).json().available;
    assert.equal(sum, microUsdt(available));
    assert.equal(entries[0]!.balance_after_usdt, available, "the newest entry's balance_after is the balance");
    assertChained(entries);
    assert.deepEqual(
      entries.map((e) => [e.kind, e.amount_usdt, e.invoice_id, e.withdrawal_id]),
      [...paid].reverse().map((p) => ['deal_credit', `+${p.merchant_usdt}`, p.invoice_id, null]),
    );
    assert.deepEqual(Object.keys(entries[0]!).sort(), [
      'amount_usdt',
      'balance_after_usdt',
      'created_at',
      'invoice_id',
      'kind',
      'transfer_id',
      'withdrawal_id',
    ]);
  });

  test('from (inclusive) and to (exclusive) select movements by when they were posted', async () => {
    const all = (await asMerchant('/api/v1/balance/transactions?limit=100')).json().items as Entry[];
    // Move the two oldest credits a day back, as if posted yesterday.
    const oldest = all.slice(-2).map((e) => e.transfer_id);
    await sql`UPDATE transfers SET created_at = created_at - interval '1 day' WHERE id = ANY(${oldest}::bigint[])`.execute(t.database.db);
    const yesterday = new Date(Date.parse(all[0]!.created_at) - 12 * 3600_000).toISOString();
    const before = (await asMerchant(`/api/v1/balance/transactions?to=${yesterday}`)).json().items as Entry[];
    assert.deepEqual(
      before.map((e) => e.transfer_id),
      [...oldest],
    );
    const since = await walk(asMerchant, `/api/v1/balance/transactions?from=${yesterday}`);
    assert.deepEqual(
      since.entries.map((e) => e.transfer_id),
      all.slice(0, -2).map((e) => e.transfer_id),
    );
    const at = all[0]!.created_at;
    const exclusive = (await asMerchant(`/api/v1/balance/transactions?from=${yesterday}&to=${new Date(Date.parse(at) - 60_000).toISOString()}`)).json();
    assert.deepEqual(exclusive.items, []);
    const future = (await asMerchant('/api/v1/balance/transactions?from=2100-01-01T00:00:00Z')).json();
    assert.deepEqual(future, { items: [], next_cursor: null });
  });

  test('the per-invoice transfers: every account, nets that sum to zero, a breakdown that makes up merchant_usdt', async () => {
    const invoiceId = paid[0]!.invoice_id;
    const res = await asMerchant(`/api/v1/invoices/${invoiceId}/transfers`);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.invoice_id, invoiceId);
    assert.deepEqual(
      body.transfers.map((x: { from_account: string; to_account: string; amount_usdt: string; kind: string }) => [
        x.kind,
        x.from_account,
        x.to_account,
        x.amount_usdt,
      ]),
      [
        ['deal_lock', 'trader:available', 'trader:locked', '35.783133'],
        ['deal_credit', 'trader:locked', `merchant:${merchant.merchant_id}`, '35.42'],
        ['deal_revenue', 'trader:locked', 'platform:revenue', '0.363133'],
      ],
    );
    assert.ok(!res.body.includes(tr.trader_id), "the merchant does not learn which trader's accounts moved");
    assert.deepEqual(body.accounts, [
      { account: `merchant:${merchant.merchant_id}`, net_usdt: '+35.42' },
      { account: 'platform:revenue', net_usdt: '+0.363133' },
      { account: 'trader:available', net_usdt: '-35.783133' },
      { account: 'trader:locked', net_usdt: '0.00' },
    ]);
    const nets = body.accounts.reduce((total: bigint, a: { net_usdt: string }) => total + (a.net_usdt === '0.00' ? 0n : signed(a.net_usdt)), 0n);
    assert.equal(nets, 0n, 'the per-invoice transfers sum to zero across accounts');
    assert.deepEqual(body.breakdown, { gross_usdt: '36.144578', trader_reward_usdt: '0.361445', platform_revenue_usdt: '0.363133', merchant_usdt: '35.42' });
    const { gross_usdt, trader_reward_usdt, platform_revenue_usdt, merchant_usdt } = body.breakdown;
    assert.equal(microUsdt(gross_usdt), microUsdt(trader_reward_usdt) + microUsdt(platform_revenue_usdt) + microUsdt(merchant_usdt));
    assert.equal(merchant_usdt, paid[0]!.merchant_usdt);

    for (const p of paid) {
      const other = (await asMerchant(`/api/v1/invoices/${p.invoice_id}/transfers`)).json();
      const merchantNet = other.accounts.find((a: { account: string }) => a.account.startsWith('merchant:'));
      assert.equal(merchantNet.net_usdt, `+${p.merchant_usdt}`);
      const b = other.breakdown;
      assert.equal(microUsdt(b.gross_usdt), microUsdt(b.trader_reward_usdt) + microUsdt(b.platform_revenue_usdt) + microUsdt(b.merchant_usdt));
    }

    // A pending invoice without a deal: nothing moved yet, no reward or revenue yet.
    const pending = (await t.createInvoice(merchant.api_key, { external_id: `statement-pending-${++seq}` })).json();
    const none = (await asMerchant(`/api/v1/invoices/${pending.invoice_id}/transfers`)).json();
    assert.deepEqual(none, {
      invoice_id: pending.invoice_id,
      transfers: [],
      accounts: [],
      breakdown: { gross_usdt: '36.144578', trader_reward_usdt: null, platform_revenue_usdt: null, merchant_usdt: '35.42' },
    });
  });

  test("BOLA: another merchant's invoice transfers are INVOICE_NOT_FOUND, its statement holds none of ours; trader keys are refused", async () => {
    const other = await t.createMerchant();
    assertEnvelope(await asMerchant(`/api/v1/invoices/${paid[0]!.invoice_id}/transfers`, other.api_key), 404, 'INVOICE_NOT_FOUND');
    assertEnvelope(await asMerchant(`/api/v1/invoices/${randomUUID()}/transfers`), 404, 'INVOICE_NOT_FOUND');
    assertEnvelope(await asMerchant('/api/v1/invoices/not-a-uuid/transfers'), 404, 'INVOICE_NOT_FOUND');
    assert.deepEqual((await asMerchant('/api/v1/balance/transactions', other.api_key)).json(), { items: [], next_cursor: null });
    assertEnvelope(await asMerchant('/api/v1/balance/transactions', tr.api_key), 401, 'API_KEY_INVALID');
    assertEnvelope(await asMerchant(`/api/v1/invoices/${paid[0]!.invoice_id}/transfers`, tr.api_key), 401, 'API_KEY_INVALID');
    assertEnvelope(await trader(t, merchant.api_key, 'GET', '/api/v1/trader/balance/transactions'), 401, 'API_KEY_INVALID');
    assertEnvelope(await t.inject({ method: 'GET', url: '/api/v1/balance/transactions' }), 401, 'API_KEY_MISSING');
    const stranger = await addTrader(t);
    assert.deepEqual((await trader(t, stranger.api_key, 'GET', '/api/v1/trader/balance/transactions')).json(), { items: [], next_cursor: null });
  });

  test("the trader's statements: available (the default), locked and insurance, each summing to its balance", async () => {
    assert.equal((await t.admin('POST', `/admin/v1/traders/${tr.trader_id}/insurance`, { amount_usdt: '50.00' })).statusCode, 200);
    const balance = (await trader(t, tr.api_key, 'GET', '/api/v1/trader/balance')).json();
    const get = (url: string) => trader(t, tr.api_key, 'GET', url);

    const available = await walk(get, '/api/v1/trader/balance/transactions');
    assertChained(available.entries);
    assert.equal(
      available.entries.reduce((total, e) => total + signed(e.amount_usdt), 0n),
      microUsdt(balance.available),
    );
    assert.ok(available.entries.every((e) => e.account === 'available'));
    const kinds = available.entries.map((e) => e.kind);
    assert.deepEqual(kinds, ['insurance_lock', ...paid.map(() => 'deal_lock'), 'deposit']);
    const deposit = available.entries.at(-1)!;
    assert.equal(deposit.amount_usdt, '+1000.00');
    assert.ok(deposit.deposit_id);
    const lock = available.entries[1]!;
    assert.equal(lock.invoice_id, paid.at(-1)!.invoice_id);
    assert.ok(lock.deal_id);
    assert.equal(lock.topup_id, null);

    const locked = await walk(get, '/api/v1/trader/balance/transactions?account=locked');
    assert.equal(locked.entries.length, paid.length * 3);
    assert.equal(
      locked.entries.reduce((total, e) => total + signed(e.amount_usdt), 0n),
      microUsdt(balance.locked),
    );
    assertChained(locked.entries);

    const insurance = (await get('/api/v1/trader/balance/transactions?account=insurance')).json();
    assert.deepEqual(
      insurance.items.map((e: Entry) => [e.account, e.kind, e.amount_usdt, e.balance_after_usdt]),
      [['insurance', 'insurance_lock', '+50.00', '50.00']],
    );
  });

  test('every stored balance_after is the running sum of its account, as the migration computes it for older rows', async () => {
    const { rows } = await sql<{ wrong: string }>`
      WITH legs AS (
        SELECT id, from_account AS account, -amount AS delta, from_balance_after AS stored FROM transfers
        UNION ALL SELECT id, to_account, amount, to_balance_after FROM transfers
      )
      SELECT count(*) AS wrong FROM (SELECT stored, sum(delta) OVER (PARTITION BY account ORDER BY id) AS running FROM legs) r
       WHERE stored <> running`.execute(t.database.db);
    assert.equal(Number(rows[0]!.wrong), 0);
    const { rows: latest } = await sql<{ wrong: string }>`
      SELECT count(*) AS wrong FROM accounts a
       WHERE a.balance <> coalesce((SELECT CASE WHEN t.from_account = a.id THEN t.from_balance_after ELSE t.to_balance_after END
                                      FROM transfers t WHERE t.from_account = a.id OR t.to_account = a.id ORDER BY t.id DESC LIMIT 1), 0)`.execute(
      t.database.db,
    );
    assert.equal(Number(latest[0]!.wrong), 0, "each account's last balance_after is its balance");
  });

  test('bad statement queries are a clear 4xx', async () => {
    assertEnvelope(await asMerchant('/api/v1/balance/transactions?cursor=bm9wZQ'), 400, 'INVALID_CURSOR');
    assert.deepEqual(assertValidation(await asMerchant('/api/v1/balance/transactions?from=yesterday')), [['datetime_from_date_parsing', 'query.from']]);
    assertValidation(await asMerchant('/api/v1/balance/transactions?limit=0'));
    assertValidation(await asMerchant('/api/v1/balance/transactions?limit=101'));
    assertValidation(await trader(t, tr.api_key, 'GET', '/api/v1/trader/balance/transactions?account=platform'));
  });
});
