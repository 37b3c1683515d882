// Traders' money: top-ups reported by the trader and confirmed or rejected by an operator, a
// transaction hash used once across Kasa, and the insurance deposit that decides who gets deals.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { ADMIN_TOKEN, startKasa, type TestKasa } from './helpers/kasa.ts';
import { assertEnvelope, assertValidation, UUID_V4 } from './helpers/http.ts';
import { addTrader, ledgerClean, trader } from './helpers/traders.ts';
import { kasaCommand } from './helpers/cli.ts';

const hash = () => randomBytes(32).toString('hex');

describe('trader top-ups and insurance', () => {
  let t: TestKasa;
  let seq = 0;
  const unique = () => `topup-${++seq}`;

  const balance = async (account: string) => {
    const row = await t.database.db.selectFrom('accounts').select('balance').where('id', '=', account).executeTakeFirst();
    return row?.balance ?? 0n;
  };
  const transfersOf = (ref: string) =>
    t.database.db.selectFrom('transfers').select(['from_account', 'to_account', 'amount', 'kind']).where('ref', '=', ref).orderBy('id').execute();
  const counts = async () => {
    const { rows } = await sql<{ topups: string; hashes: string; transfers: string }>`
      SELECT (SELECT count(*) FROM trader_topups) AS topups, (SELECT count(*) FROM chain_transactions) AS hashes,
             (SELECT count(*) FROM transfers) AS transfers`.execute(t.database.db);
    return rows[0];
  };
  const submit = (apiKey: string, body: Record<string, unknown>) =>
    trader(t, apiKey, 'POST', '/api/v1/trader/topups', { amount_usdt: '500.00', network: 'TRC20', tx_hash: hash(), ...body });

  before(async () => {
    t = await startKasa();
  });
  after(() => t.close());

  test('a confirmed top-up credits exactly its amount from world; the answer has the documented fields', async () => {
    const tr = await addTrader(t);
    const txHash = hash().toUpperCase();
    const res = await submit(tr.api_key, { amount_usdt: '500.25', tx_hash: txHash });
    assert.equal(res.statusCode, 201, res.body);
    const topup = res.json();
    assert.deepEqual(Object.keys(topup).sort(), ['amount_usdt', 'created_at', 'network', 'reason', 'status', 'topup_id', 'trader_id', 'tx_hash', 'updated_at']);
    assert.match(topup.topup_id, UUID_V4);
    assert.equal(topup.status, 'pending');
    assert.equal(topup.amount_usdt, '500.25');
    assert.equal(topup.network, 'TRC20');
    assert.equal(topup.tx_hash, txHash.toLowerCase(), 'stored and shown in lower case');
    assert.equal(topup.reason, null);
    assert.equal(topup.created_at, '2026-02-25T12:00:00Z');
    assert.equal(await balance(`trader:${tr.trader_id}:available`), 0n, 'nothing is credited before the operator confirms');

    t.clock.advance(60_000);
    const confirmed = await t.admin('POST', `/admin/v1/topups/${topup.topup_id}/confirm`);
    assert.equal(confirmed.statusCode, 200, confirmed.body);
    assert.equal(confirmed.json().status, 'confirmed');
    assert.equal(confirmed.json().updated_at, '2026-02-25T12:01:00Z');
    assert.deepEqual(await transfersOf(topup.topup_id), [
      { from_account: 'world', to_account: `trader:${tr.trader_id}:available`, amount: 500_250_000n, kind: 'topup' },
    ]);
    assert.equal(await balance(`trader:${tr.trader_id}:available`), 500_250_000n);

    const again = assertEnvelope(await t.admin('POST', `/admin/v1/topups/${topup.topup_id}/confirm`), 409, 'TOPUP_NOT_ALLOWED');
    assert.equal(again.error.details?.status, 'confirmed');
    assertEnvelope(await t.admin('POST', `/admin/v1/topups/${topup.topup_id}/reject`, { reason: 'late' }), 409, 'TOPUP_NOT_ALLOWED');
    assert.equal((await transfersOf(topup.topup_id)).length, 1, 'a second confirm never credits twice');

    const read = await trader(t, tr.api_key, 'GET', `/api/v1/trader/topups/${topup.topup_id}`);
    assert.equal(read.json().status, 'confirmed');
    assert.ok((await ledgerClean(t)).ok);
  });

  test('a rejected top-up moves no money, shows its reason, and keeps its hash: resubmitting it is TX_HASH_USED', async () => {
    const tr = await addTrader(t);
    const txHash = hash();
    const topup = (await submit(tr.api_key, { tx_hash: txHash })).json();
    const rejected = await t.admin('POST', `/admin/v1/topups/${topup.topup_id}/reject`, { reason: 'no such transfer on chain' });
    assert.equal(rejected.statusCode, 200, rejected.body);
    assert.equal(rejected.json().status, 'rejected');
    assert.equal(rejected.json().reason, 'no such transfer on chain');
    assert.deepEqual(await transfersOf(topup.topup_id), []);
    assert.equal(await balance(`trader:${tr.trader_id}:available`), 0n);
    assertEnvelope(await t.admin('POST', `/admin/v1/topups/${topup.topup_id}/confirm`), 409, 'TOPUP_NOT_ALLOWED');
    assertEnvelope(await submit(tr.api_key, { tx_hash: txHash }), 409, 'TX_HASH_USED');
    assertValidation(await t.admin('POST', `/admin/v1/topups/${topup.topup_id}/reject`, { reason: '' }));
  });

  test('a transaction hash is used once across Kasa: by another top-up (any trader, any case) or a withdrawal', async () => {
    const first = await addTrader(t);
    const second = await addTrader(t);
    const txHash = hash();
    assert.equal((await submit(first.api_key, { tx_hash: txHash })).statusCode, 201);
    const before = await counts();
    assertEnvelope(await submit(second.api_key, { tx_hash: txHash }), 409, 'TX_HASH_USED');
    assertEnvelope(await submit(first.api_key, { tx_hash: txHash.toUpperCase() }), 409, 'TX_HASH_USED');

    // A withdrawal completed with a hash records it as a withdrawal would.
    const withdrawn = hash();
    await t.database.db
      .insertInto('chain_transactions')
      .values({ tx_hash: withdrawn, network: 'TRC20', kind: 'merchant_withdrawal', ref: randomUUID(), created_at: t.clock.now() })
      .execute();
    assertEnvelope(await submit(second.api_key, { tx_hash: withdrawn }), 409, 'TX_HASH_USED');
    const afterRefusals = await counts();
    assert.equal(afterRefusals!.topups, before!.topups, 'no top-up recorded by a refused claim');
    assert.equal(Number(afterRefusals!.hashes), Number(before!.hashes) + 1, 'only the withdrawal hash was added');
  });

  test('50 parallel confirms and rejects of one top-up: exactly one outcome, and its transfer at most once', async () => {
    const tr = await addTrader(t);
    const topup = (await submit(tr.api_key, { amount_usdt: '77.00' })).json();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        i % 2 === 0
          ? t.admin('POST', `/admin/v1/topups/${topup.topup_id}/confirm`)
          : t.admin('POST', `/admin/v1/topups/${topup.topup_id}/reject`, { reason: `race ${i}` }),
      ),
    );
    const won = results.filter((r) => r.statusCode === 200);
    assert.equal(won.length, 1, results.map((r) => r.statusCode).join(','));
    for (const r of results.filter((x) => x.statusCode !== 200)) assertEnvelope(r, 409, 'TOPUP_NOT_ALLOWED');
    const outcome = won[0]!.json().status;
    const stored = await t.database.db.selectFrom('trader_topups').select('status').where('id', '=', topup.topup_id).executeTakeFirstOrThrow();
    assert.equal(stored.status, outcome);
    assert.equal((await transfersOf(topup.topup_id)).length, outcome === 'confirmed' ? 1 : 0);
    assert.equal(await balance(`trader:${tr.trader_id}:available`), outcome === 'confirmed' ? 77_000_000n : 0n);
  });

  test('lists: the trader sees only its own top-ups, the operator all of them by status; newest first, in cursor pages', async () => {
    const mine = await addTrader(t);
    const other = await addTrader(t);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      t.clock.advance(1_000);
      ids.push((await submit(mine.api_key, { amount_usdt: `${i + 1}.00` })).json().topup_id);
    }
    const foreign = (await submit(other.api_key, {})).json().topup_id;
    await t.admin('POST', `/admin/v1/topups/${ids[1]}/confirm`);

    const walked: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/api/v1/trader/topups?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = (await trader(t, mine.api_key, 'GET', url)).json();
      assert.ok(page.items.length <= 2);
      walked.push(...page.items.map((u: { topup_id: string }) => u.topup_id));
      cursor = page.next_cursor;
    } while (cursor);
    assert.deepEqual(walked, [...ids].reverse(), 'all of mine, newest first, none of the other trader');

    const pending = (await t.admin('GET', '/admin/v1/topups?status=pending&limit=100')).json();
    const pendingIds = pending.items.map((u: { topup_id: string }) => u.topup_id);
    assert.ok(pendingIds.includes(foreign) && pendingIds.includes(ids[0]) && !pendingIds.includes(ids[1]));
    assert.ok(pending.items.every((u: { status: string }) => u.status === 'pending'));
    const confirmed = (await t.admin('GET', '/admin/v1/topups?status=confirmed')).json();
    assert.ok(confirmed.items.some((u: { topup_id: string }) => u.topup_id === ids[1]));
    assertValidation(await t.admin('GET', '/admin/v1/topups?status=done'));
    assertEnvelope(await t.admin('GET', '/admin/v1/topups?cursor=bm9wZQ'), 400, 'INVALID_CURSOR');
  });

  test("BOLA: another trader's top-up is TOPUP_NOT_FOUND; merchant keys, no key and a wrong admin token are refused", async () => {
    const owner = await addTrader(t);
    const other = await addTrader(t);
    const topup = (await submit(owner.api_key, {})).json();
    assertEnvelope(await trader(t, other.api_key, 'GET', `/api/v1/trader/topups/${topup.topup_id}`), 404, 'TOPUP_NOT_FOUND');
    assertEnvelope(await trader(t, other.api_key, 'GET', '/api/v1/trader/topups/not-a-uuid'), 404, 'TOPUP_NOT_FOUND');
    assertEnvelope(await t.admin('POST', `/admin/v1/topups/${randomUUID()}/confirm`), 404, 'TOPUP_NOT_FOUND');
    const merchant = await t.createMerchant();
    assertEnvelope(await trader(t, merchant.api_key, 'GET', '/api/v1/trader/topups'), 401, 'API_KEY_INVALID');
    assertEnvelope(
      await trader(t, merchant.api_key, 'POST', '/api/v1/trader/topups', { amount_usdt: '1.00', network: 'TRC20', tx_hash: hash() }),
      401,
      'API_KEY_INVALID',
    );
    assertEnvelope(await t.inject({ method: 'GET', url: '/api/v1/trader/topups' }), 401, 'API_KEY_MISSING');
    for (const [method, url] of [
      ['GET', '/admin/v1/topups'],
      ['POST', `/admin/v1/topups/${topup.topup_id}/confirm`],
      ['POST', `/admin/v1/topups/${topup.topup_id}/reject`],
      ['POST', `/admin/v1/traders/${owner.trader_id}/insurance`],
    ] as const) {
      assertEnvelope(await t.inject({ method, url, headers: { authorization: 'Bearer wrong-token-0123456789' }, payload: {} }), 401, 'UNAUTHORIZED');
      assertEnvelope(await t.inject({ method, url, headers: { 'x-api-key': owner.api_key }, payload: {} }), 401, 'UNAUTHORIZED');
    }
    assert.equal((await trader(t, owner.api_key, 'GET', `/api/v1/trader/topups/${topup.topup_id}`)).json().status, 'pending', 'still pending');
  });

  test('bad top-up input is a 422 and records nothing', async () => {
    const tr = await addTrader(t);
    const before = await counts();
    const cases: [Record<string, unknown>, string, string][] = [
      [{ amount_usdt: '1.005' }, 'decimal_max_places', 'body.amount_usdt'],
      [{ amount_usdt: '-5.00' }, 'greater_than', 'body.amount_usdt'],
      [{ amount_usdt: '0' }, 'greater_than', 'body.amount_usdt'],
      [{ amount_usdt: '1e20' }, 'decimal_max_digits', 'body.amount_usdt'],
      [{ amount_usdt: '12345678901234' }, 'decimal_whole_digits', 'body.amount_usdt'],
      [{ network: 'ERC20' }, 'enum', 'body.network'],
      [{ network: undefined }, 'missing', 'body.network'],
      [{ tx_hash: 'abc' }, 'string_pattern_mismatch', 'body.tx_hash'],
      [{ tx_hash: 'g'.repeat(64) }, 'string_pattern_mismatch', 'body.tx_hash'],
      [{ tx_hash: `${hash()}0` }, 'string_pattern_mismatch', 'body.tx_hash'],
    ];
    for (const [body, type, loc] of cases) {
      const detail = assertValidation(await submit(tr.api_key, body));
      assert.ok(
        detail.some(([ty, l]) => ty === type && l === loc),
        `${JSON.stringify(body)}: ${JSON.stringify(detail)}`,
      );
    }
    assert.deepEqual(await counts(), before);
  });

  test('insurance: available → insurance and back, exact transfers; refused beyond either balance, and while deals are open', async () => {
    const tr = await addTrader(t, { deposit: '1000.00' });
    const available = `trader:${tr.trader_id}:available`;
    const insurance = `trader:${tr.trader_id}:insurance`;
    const locked = await t.admin('POST', `/admin/v1/traders/${tr.trader_id}/insurance`, { amount_usdt: '300.00' });
    assert.equal(locked.statusCode, 200, locked.body);
    assert.equal(locked.json().amount_usdt, '300.00');
    assert.equal(locked.json().balance.available, '700.00');
    assert.equal(locked.json().balance.insurance, '300.00');
    assert.equal(await balance(available), 700_000_000n);
    assert.equal(await balance(insurance), 300_000_000n);

    const released = await t.admin('POST', `/admin/v1/traders/${tr.trader_id}/insurance`, { amount_usdt: '-100.50' });
    assert.equal(released.statusCode, 200, released.body);
    assert.equal(released.json().amount_usdt, '-100.50');
    assert.equal(await balance(insurance), 199_500_000n);
    assert.equal(await balance(available), 800_500_000n);
    const moves = await transfersOf(tr.trader_id);
    assert.deepEqual(moves, [
      { from_account: available, to_account: insurance, amount: 300_000_000n, kind: 'insurance_lock' },
      { from_account: insurance, to_account: available, amount: 100_500_000n, kind: 'insurance_release' },
    ]);

    assertEnvelope(await t.admin('POST', `/admin/v1/traders/${tr.trader_id}/insurance`, { amount_usdt: '800.51' }), 409, 'INSUFFICIENT_FUNDS');
    const beyond = assertEnvelope(
      await t.admin('POST', `/admin/v1/traders/${tr.trader_id}/insurance`, { amount_usdt: '-199.51' }),
      409,
      'INSURANCE_INSUFFICIENT',
    );
    assert.equal(beyond.error.details?.insurance, '199.50');

    // An open deal: the insurance stands behind it and cannot be released. (A minimum only this
    // trader meets keeps the other funded traders of this file from taking the deal.)
    assert.equal((await t.admin('PATCH', '/admin/v1/settings', { trader_min_insurance_usdt: '1.00' })).statusCode, 200);
    const merchant = await t.createMerchant();
    const invoice = (await t.createInvoice(merchant.api_key, { external_id: unique() })).json();
    assert.equal((await t.inject({ method: 'GET', url: `/pay/${invoice.invoice_id}` })).statusCode, 200);
    await t.admin('PATCH', '/admin/v1/settings', { trader_min_insurance_usdt: '0' });
    const deal = await t.database.db.selectFrom('deals').select(['id', 'trader_id']).where('invoice_id', '=', invoice.invoice_id).executeTakeFirstOrThrow();
    assert.equal(deal.trader_id, tr.trader_id);
    const inUse = assertEnvelope(await t.admin('POST', `/admin/v1/traders/${tr.trader_id}/insurance`, { amount_usdt: '-1.00' }), 409, 'INSURANCE_IN_USE');
    assert.equal(inUse.error.details?.open_deals, 1);
    // Adding to it is always allowed.
    assert.equal((await t.admin('POST', `/admin/v1/traders/${tr.trader_id}/insurance`, { amount_usdt: '0.50' })).statusCode, 200);
    assert.equal((await t.admin('POST', `/admin/v1/deals/${deal.id}/confirm`)).statusCode, 200);
    assert.equal(
      (await t.admin('POST', `/admin/v1/traders/${tr.trader_id}/insurance`, { amount_usdt: '-200.00' })).statusCode,
      200,
      'released once the deal closed',
    );
    assert.equal(await balance(insurance), 0n);

    const before = await counts();
    for (const amount of ['0', '0.00', '1.005', 'abc', '1e20']) {
      assertValidation(await t.admin('POST', `/admin/v1/traders/${tr.trader_id}/insurance`, { amount_usdt: amount }));
    }
    assertValidation(await t.admin('POST', `/admin/v1/traders/${tr.trader_id}/insurance`, {}));
    assertEnvelope(await t.admin('POST', `/admin/v1/traders/${randomUUID()}/insurance`, { amount_usdt: '1.00' }), 404, 'TRADER_NOT_FOUND');
    assert.deepEqual(await counts(), before);
  });

  test('trader_min_insurance_usdt: a trader below it gets no new deal, and its balance says why', async () => {
    const merchant = await t.createMerchant();
    const insured = await addTrader(t, { deposit: '1000.00' });
    const bare = await addTrader(t, { deposit: '1000.00' });
    assert.equal((await t.admin('POST', `/admin/v1/traders/${insured.trader_id}/insurance`, { amount_usdt: '100.00' })).statusCode, 200);

    const settings = await t.admin('PATCH', '/admin/v1/settings', { trader_min_insurance_usdt: '100.00' });
    assert.equal(settings.statusCode, 200, settings.body);
    assert.equal(settings.json().trader_min_insurance_usdt, '100.00');
    assertValidation(await t.admin('PATCH', '/admin/v1/settings', { trader_min_insurance_usdt: '-1.00' }));

    const bareBalance = (await trader(t, bare.api_key, 'GET', '/api/v1/trader/balance')).json();
    assert.deepEqual(bareBalance, {
      currency: 'USDT',
      available: '1000.00',
      locked: '0.00',
      insurance: '0.00',
      on_hold: '0.00',
      eligible: false,
      reason: 'insurance_below_minimum',
    });
    const insuredBalance = (await trader(t, insured.api_key, 'GET', '/api/v1/trader/balance')).json();
    assert.equal(insuredBalance.eligible, true);
    assert.equal(insuredBalance.reason, null);
    assert.equal(insuredBalance.insurance, '100.00');
    const adminView = (await t.admin('GET', `/admin/v1/traders/${bare.trader_id}`)).json();
    assert.equal(adminView.balance.reason, 'insurance_below_minimum');

    // Every other trader of this file has no insurance: each page open goes to the insured one,
    // until its one card is busy, and then to nobody.
    const opened: string[] = [];
    for (let i = 0; i < 2; i++) {
      const invoice = (await t.createInvoice(merchant.api_key, { external_id: unique(), amount: `${1500 + i}.00` })).json();
      await t.inject({ method: 'GET', url: `/pay/${invoice.invoice_id}` });
      const deal = await t.database.db
        .selectFrom('deals')
        .select(['trader_id', 'requisite_id'])
        .where('invoice_id', '=', invoice.invoice_id)
        .executeTakeFirst();
      opened.push(deal ? deal.trader_id : 'none');
    }
    assert.deepEqual(opened, [insured.trader_id, 'none']);
    const bareDeals = await t.database.db.selectFrom('deals').select('id').where('requisite_id', '=', bare.requisites[0]!).execute();
    assert.equal(bareDeals.length, 0, "no deal on the uninsured trader's card");

    // A disabled trader: the operator sees why.
    await t.admin('PATCH', `/admin/v1/traders/${insured.trader_id}`, { status: 'disabled' });
    assert.equal((await t.admin('GET', `/admin/v1/traders/${insured.trader_id}`)).json().balance.reason, 'disabled');
    await t.admin('PATCH', `/admin/v1/traders/${insured.trader_id}`, { status: 'active' });
    await t.admin('PATCH', '/admin/v1/settings', { trader_min_insurance_usdt: '0' });
    assert.equal((await trader(t, bare.api_key, 'GET', '/api/v1/trader/balance')).json().eligible, true);
  });

  test('CLI: topup list, confirm, reject and trader insurance (a negative amount releases)', async () => {
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const address = t.app.server.address();
    assert.ok(address && typeof address === 'object');
    const env = { KASA_URL: `http://127.0.0.1:${address.port}`, ADMIN_TOKEN };
    const kasa = (...args: string[]) => kasaCommand(args, env);

    const tr = await addTrader(t);
    const a = (await submit(tr.api_key, { amount_usdt: '40.00' })).json();
    const b = (await submit(tr.api_key, { amount_usdt: '2.00' })).json();
    const list = await kasa('topup', 'list', '--status', 'pending');
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^TOPUP_ID\s+TRADER_ID\s+STATUS\s+AMOUNT_USDT\s+NETWORK\s+TX_HASH\s+CREATED_AT$/m);
    assert.ok(list.stdout.includes(a.topup_id) && list.stdout.includes(b.topup_id));

    const confirmed = await kasa('topup', 'confirm', a.topup_id, '--json');
    assert.equal(confirmed.code, 0, confirmed.stderr);
    assert.equal(JSON.parse(confirmed.stdout).status, 'confirmed');
    const rejected = await kasa('topup', 'reject', b.topup_id, '--reason', 'not on chain');
    assert.equal(rejected.code, 0, rejected.stderr);
    assert.match(rejected.stdout, /reason\s+not on chain/);
    const twice = await kasa('topup', 'confirm', a.topup_id);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /TOPUP_NOT_ALLOWED|no longer change/);
    assert.equal((await kasa('topup', 'reject', b.topup_id)).code, 2, 'a missing --reason is a usage error');

    const lock = await kasa('trader', 'insurance', tr.trader_id, '30.00', '--json');
    assert.equal(lock.code, 0, lock.stderr);
    assert.equal(JSON.parse(lock.stdout).balance.insurance, '30.00');
    const release = await kasa('trader', 'insurance', tr.trader_id, '-12.50');
    assert.equal(release.code, 0, release.stderr);
    assert.match(release.stdout, /insurance\s+17\.50/);
    assert.match(release.stdout, /available\s+22\.50/);
    assert.equal(await balance(`trader:${tr.trader_id}:insurance`), 17_500_000n);
  });
});
