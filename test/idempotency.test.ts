import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { startKasa, type TestKasa } from './helpers/kasa.ts';
import { Receiver, waitUntil } from './helpers/receiver.ts';
import { addTrader } from './helpers/traders.ts';

const onServer = Boolean(process.env.DATABASE_URL);

describe('Idempotency-Key on the merchant and trader APIs', () => {
  let t: TestKasa;
  let merchant: { merchant_id: string; api_key: string };
  let other: { merchant_id: string; api_key: string };
  let seq = 0;
  const unique = (prefix = 'idem') => `${prefix}-${++seq}`;

  before(async () => {
    t = await startKasa();
    merchant = await t.createMerchant({ name: 'Idempotent Shop' });
    other = await t.createMerchant({ name: 'Other Shop' });
    await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 100000, customer_max_pending: 100000 });
  });
  after(() => t.close());

  const post = (apiKey: string, url: string, key: string | undefined, payload?: Record<string, unknown>) =>
    t.inject({
      method: 'POST',
      url,
      headers: { 'x-api-key': apiKey, ...(key === undefined ? {} : { 'idempotency-key': key }) },
      ...(payload === undefined ? {} : { payload }),
    });
  const create = (key: string | undefined, body: Record<string, unknown>, apiKey = merchant.api_key) =>
    post(apiKey, '/api/v1/create-invoice', key, { amount: '1500.00', currency_code: 'UAH', customer_id: 'cust-idem', ...body });
  const invoicesWith = async (externalId: string) =>
    Number(
      (
        await t.database.db
          .selectFrom('invoices')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('external_id', '=', externalId)
          .executeTakeFirstOrThrow()
      ).n,
    );

  test('a repeat gets the first answer byte for byte, marked as replayed, and creates nothing more', async () => {
    const key = unique('key');
    const body = { external_id: unique() };
    const first = await create(key, body);
    assert.equal(first.statusCode, 200, first.body);
    assert.equal(first.headers['idempotent-replayed'], undefined);
    t.clock.advance(5_000);
    const again = await create(key, body);
    assert.equal(again.statusCode, 200);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(again.body, first.body);
    assert.match(String(again.headers['content-type']), /^application\/json/);
    assert.equal(await invoicesWith(body.external_id), 1);
    // The kept answer was written with the invoice.
    const kept = await t.database.db.selectFrom('idempotency_keys').selectAll().where('key', '=', key).executeTakeFirstOrThrow();
    assert.equal(kept.owner_id, merchant.merchant_id);
    assert.equal(kept.status_code, 200);
    assert.equal(kept.body, first.body);
  });

  test('the same key with another body → 422 IDEMPOTENCY_KEY_REUSED, nothing created', async () => {
    const key = unique('key');
    const first = await create(key, { external_id: unique() });
    assert.equal(first.statusCode, 200, first.body);
    const externalId = unique();
    const reused = await create(key, { external_id: externalId });
    assert.equal(reused.statusCode, 422, reused.body);
    assert.equal(reused.json().error.code, 'IDEMPOTENCY_KEY_REUSED');
    assert.equal(await invoicesWith(externalId), 0);
    // Another path with the same key is another request too.
    const elsewhere = await post(merchant.api_key, `/api/v1/invoices/${first.json().invoice_id}/cancel`, key);
    assert.equal(elsewhere.statusCode, 422);
    assert.equal(elsewhere.json().error.code, 'IDEMPOTENCY_KEY_REUSED');
    const still = await t.inject({ method: 'GET', url: `/api/v1/invoices/${first.json().invoice_id}`, headers: { 'x-api-key': merchant.api_key } });
    assert.equal(still.json().status, 'pending');
  });

  test('keys belong to their owner: another merchant may use the same key', async () => {
    const key = unique('shared');
    const mine = await create(key, { external_id: unique() });
    const theirs = await create(key, { external_id: unique() }, other.api_key);
    assert.equal(mine.statusCode, 200);
    assert.equal(theirs.statusCode, 200, theirs.body);
    assert.equal(theirs.headers['idempotent-replayed'], undefined);
    assert.notEqual(theirs.json().invoice_id, mine.json().invoice_id);
  });

  test('a refusal is kept (4xx in the envelope) and replayed; a validation 422 is not kept', async () => {
    const externalId = unique();
    assert.equal((await create(undefined, { external_id: externalId })).statusCode, 200);
    const key = unique('key');
    const duplicate = await create(key, { external_id: externalId });
    assert.equal(duplicate.statusCode, 409);
    const replay = await create(key, { external_id: externalId });
    assert.equal(replay.statusCode, 409);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(replay.body, duplicate.body);

    const fresh = unique('key');
    const invalid = await create(fresh, { external_id: unique(), amount: '-1' });
    assert.equal(invalid.statusCode, 422);
    assert.ok(Array.isArray(invalid.json().detail));
    // Nothing was kept for it: the key is still free for a corrected request.
    const corrected = await create(fresh, { external_id: unique() });
    assert.equal(corrected.statusCode, 200, corrected.body);
    assert.equal(corrected.headers['idempotent-replayed'], undefined);
  });

  test('a bad Idempotency-Key header → 422 in the validation shape, nothing created', async () => {
    for (const [key, type] of [
      ['k'.repeat(256), 'string_too_long'],
      ['', 'string_too_short'],
      ['клю\u0447', 'string_pattern_mismatch'],
      ['tab\there', 'string_pattern_mismatch'],
    ] as const) {
      const externalId = unique();
      const res = await t.inject({
        method: 'POST',
        url: '/api/v1/create-invoice',
        headers: { 'x-api-key': merchant.api_key, 'idempotency-key': Buffer.from(key, 'utf8').toString('latin1') },
        payload: { amount: '1500.00', currency_code: 'UAH', customer_id: 'c', external_id: externalId },
      });
      assert.equal(res.statusCode, 422, `${JSON.stringify(key)}: ${res.body}`);
      const [issue] = res.json().detail;
      assert.equal(issue.type, type);
      assert.deepEqual(issue.loc, ['header', 'idempotency-key']);
      assert.equal(await invoicesWith(externalId), 0);
    }
    assert.equal((await create('k'.repeat(255), { external_id: unique() })).statusCode, 200);
  });

  test('cancel, trader confirm and requisite creation replay their first answers', async () => {
    const inv = (await create(undefined, { external_id: unique() })).json();
    const key = unique('cancel');
    const cancel = await post(merchant.api_key, `/api/v1/invoices/${inv.invoice_id}/cancel`, key);
    assert.equal(cancel.statusCode, 200, cancel.body);
    const repeat = await post(merchant.api_key, `/api/v1/invoices/${inv.invoice_id}/cancel`, key);
    assert.equal(repeat.statusCode, 200, 'without the key a second cancel would be 409 INVOICE_NOT_PENDING');
    assert.equal(repeat.body, cancel.body);

    const tr = await addTrader(t, { deposit: '1000.00', requisites: [] });
    const cardKey = unique('card');
    const card = { currency: 'UAH', bank_name: 'Monobank', card_number: '4149499912341235', holder_name: 'Ivan Petrenko' };
    const added = await post(tr.api_key, '/api/v1/trader/requisites', cardKey, card);
    assert.equal(added.statusCode, 201, added.body);
    const addedAgain = await post(tr.api_key, '/api/v1/trader/requisites', cardKey, card);
    assert.equal(addedAgain.statusCode, 201);
    assert.equal(addedAgain.headers['idempotent-replayed'], 'true');
    assert.equal(addedAgain.body, added.body);
    const cards = await t.inject({ method: 'GET', url: '/api/v1/trader/requisites', headers: { 'x-api-key': tr.api_key } });
    assert.equal(cards.json().items.length, 1);

    const paying = (await create(undefined, { external_id: unique() })).json();
    assert.equal((await t.inject({ method: 'GET', url: `/pay/${paying.invoice_id}` })).statusCode, 200);
    const deals = await t.inject({ method: 'GET', url: '/api/v1/trader/deals', headers: { 'x-api-key': tr.api_key } });
    const deal = deals.json().items.find((d: { invoice_id: string }) => d.invoice_id === paying.invoice_id);
    assert.ok(deal, deals.body);
    const confirmKey = unique('confirm');
    const confirmed = await post(tr.api_key, `/api/v1/trader/deals/${deal.deal_id}/confirm`, confirmKey);
    assert.equal(confirmed.statusCode, 200, confirmed.body);
    const confirmedAgain = await post(tr.api_key, `/api/v1/trader/deals/${deal.deal_id}/confirm`, confirmKey);
    assert.equal(confirmedAgain.statusCode, 200);
    assert.equal(confirmedAgain.body, confirmed.body);
    const credited = await t.database.db
      .selectFrom('transfers')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('ref', '=', deal.deal_id)
      .where('kind', '=', 'deal_credit')
      .executeTakeFirstOrThrow();
    assert.equal(Number(credited.n), 1, 'the merchant is credited once');
  });

  test('a test ping runs once per key; its answer is replayed without a second request', async () => {
    const receiver = await Receiver.start();
    try {
      const shop = await t.createMerchant({ name: 'Ping Shop', webhook_url: `${receiver.url}/hooks` });
      const key = unique('ping');
      const first = await post(shop.api_key, '/api/v1/webhooks/test', key);
      assert.equal(first.statusCode, 200, first.body);
      const again = await post(shop.api_key, '/api/v1/webhooks/test', key);
      assert.equal(again.statusCode, 200);
      assert.equal(again.body, first.body);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal(receiver.received.length, 1);
    } finally {
      await receiver.close();
    }
  });

  test('kept answers expire after 24 h and are purged; the key is then free', async () => {
    const key = unique('old');
    assert.equal((await create(key, { external_id: unique() })).statusCode, 200);
    t.clock.advance(24 * 60 * 60_000 + 1_000);
    await t.kasa.idempotencyKeys.purgeExpired();
    const left = await t.database.db.selectFrom('idempotency_keys').select('key').where('key', '=', key).executeTakeFirst();
    assert.equal(left, undefined);
    const reused = await create(key, { external_id: unique() });
    assert.equal(reused.statusCode, 200, reused.body);
    assert.equal(reused.headers['idempotent-replayed'], undefined);
  });

  test(
    'a repeat while the first still runs → 409 IDEMPOTENCY_KEY_IN_USE, then the first answer',
    { skip: !onServer && 'PGlite runs one transaction at a time' },
    async () => {
      const inv = (await create(undefined, { external_id: unique() })).json();
      // Hold the invoice's row, so the keyed cancel waits inside its effect with its key held.
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      const holder = t.database.db.transaction().execute(async (trx) => {
        await sql`SELECT id FROM invoices WHERE id = ${inv.invoice_id}::uuid FOR UPDATE`.execute(trx);
        locked();
        await released;
      });
      await isLocked;
      const key = unique('inflight');
      const url = `/api/v1/invoices/${inv.invoice_id}/cancel`;
      const first = post(merchant.api_key, url, key);
      await waitUntil(async () => {
        const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND granted`.execute(t.database.db);
        return Number(rows[0]?.n) > 0;
      }, 'the first request holds its key');
      const second = await post(merchant.api_key, url, key);
      assert.equal(second.statusCode, 409, second.body);
      assert.equal(second.json().error.code, 'IDEMPOTENCY_KEY_IN_USE');
      release();
      await holder;
      const answered = await first;
      assert.equal(answered.statusCode, 200, answered.body);
      const third = await post(merchant.api_key, url, key);
      assert.equal(third.statusCode, 200);
      assert.equal(third.body, answered.body);
    },
  );

  test('50 parallel requests with one key: one effect; each answer is the first one or IN_USE', async () => {
    const key = unique('burst');
    const body = { external_id: unique() };
    const answers = await Promise.all(Array.from({ length: 50 }, () => create(key, body)));
    const ok = answers.filter((a) => a.statusCode === 200);
    const busy = answers.filter((a) => a.statusCode === 409);
    assert.equal(ok.length + busy.length, 50, answers.map((a) => a.statusCode).join(','));
    for (const b of busy) assert.equal(b.json().error.code, 'IDEMPOTENCY_KEY_IN_USE');
    assert.ok(ok.length >= 1);
    assert.equal(new Set(ok.map((a) => a.body)).size, 1, 'every 200 carries the same invoice');
    assert.equal(ok.filter((a) => a.headers['idempotent-replayed'] === undefined).length, 1, 'exactly one request ran the effect');
    assert.equal(await invoicesWith(body.external_id), 1);
  });
});
