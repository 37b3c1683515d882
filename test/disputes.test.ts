// Receipts and disputes (issue #12 §4): opened by a receipt, by the merchant, by a trader's reject
// of a paid deal; decided by the trader, an operator, the respond_by timer, or cancelled by the
// merchant. Through HTTP on a real database; money to the micro-USDT on the seed example (1500.00
// UAH at 41.50, 2 % fee, 1 % reward: trader cost 35.783133, merchant 35.42, revenue 0.363133).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import { kasaCommand } from './helpers/cli.ts';
import { ADMIN_TOKEN, startKasa, type TestKasa } from './helpers/kasa.ts';
import { addTrader, ledgerClean, trader, type TestTrader } from './helpers/traders.ts';
import { multipart, pageForm as pageFormOf, pressPaid as pressPaidOn } from './helpers/payment-page.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const COST = 35_783_133n;

/** The smallest files each type is told apart by. */
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('IHDR receipt')]);
const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n', 'latin1');
const PDF_WITH_JS = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >> endobj\n%%EOF\n', 'latin1');
const PDF_WITH_HIDDEN_JS = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog /Names << /J#61vaScript 2 0 R >> >> endobj\n%%EOF\n', 'latin1');
const HTML = Buffer.from('<!doctype html><script>alert(document.cookie)</script>');

describe('receipts and disputes', () => {
  let t: TestKasa;
  let merchant: { merchant_id: string; api_key: string };
  let other: { merchant_id: string; api_key: string };
  let seq = 0;

  before(async () => {
    t = await startKasa();
    merchant = await t.createMerchant({ name: 'Dispute Shop', webhook_url: 'https://hooks.example/kasa' });
    other = await t.createMerchant({ name: 'Other Shop' });
    await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 100000, customer_max_pending: 100000, customer_unpaid_max: 100000 });
  });
  after(() => t.close());
  beforeEach(async () => {
    await t.database.db.updateTable('traders').set({ status: 'disabled' }).execute();
  });

  async function invoice(body: Record<string, unknown> = {}) {
    seq += 1;
    const res = await t.createInvoice(merchant.api_key, { external_id: `dispute-${seq}`, customer_id: `dc-${seq}`, ...body });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { invoice_id: string; amount: string; expires_at: string };
  }

  async function openDeal(invoiceId: string) {
    const state = await t.kasa.deals.openForPage(invoiceId);
    assert.equal(state.kind, 'deal');
    if (state.kind !== 'deal') throw new Error('no deal');
    return t.database.db.selectFrom('deals').selectAll().where('id', '=', state.deal.id).executeTakeFirstOrThrow();
  }

  const pageForm = (invoiceId: string) => pageFormOf(t, invoiceId);
  const pressPaid = (invoiceId: string) => pressPaidOn(t, invoiceId);

  /** The page's receipt form, sent as a browser without JavaScript sends it. */
  async function uploadReceipt(
    invoiceId: string,
    file: Buffer,
    filename = 'receipt.png',
    fields: Record<string, string> = {},
    form?: { cookie: string; token: string },
  ) {
    const { cookie, token } = form ?? ((await pageForm(invoiceId)) as { cookie: string; token: string });
    assert.ok(token, 'the page offers the receipt form');
    const body = multipart([
      { name: '_csrf', value: token },
      { name: 'lang', value: 'en' },
      ...Object.entries(fields).map(([name, value]) => ({ name, value })),
      { name: 'file', value: file, filename, type: filename.endsWith('.pdf') ? 'application/pdf' : 'image/png' },
    ]);
    return t.inject({ method: 'POST', url: `/pay/${invoiceId}/receipt`, headers: { ...body.headers, cookie }, payload: body.payload });
  }

  function merchantApi(method: 'GET' | 'POST', url: string, payload?: unknown, apiKey = merchant.api_key, headers: Record<string, string> = {}) {
    return t.inject({ method, url, headers: { 'x-api-key': apiKey, ...headers }, ...(payload === undefined ? {} : { payload: payload as object }) });
  }

  function openDispute(invoiceId: string, body: Record<string, unknown> = { reason: 'not_credited' }, apiKey = merchant.api_key, key?: string) {
    return merchantApi('POST', `/api/v1/invoices/${invoiceId}/disputes`, body, apiKey, key ? { 'idempotency-key': key } : {});
  }

  async function balance(account: string): Promise<bigint> {
    const row = await t.database.db.selectFrom('accounts').select('balance').where('id', '=', account).executeTakeFirst();
    return row?.balance ?? 0n;
  }

  async function transfersOf(...refs: string[]) {
    const rows = await t.database.db
      .selectFrom('transfers')
      .select(['from_account', 'to_account', 'amount', 'kind'])
      .where('ref', 'in', refs)
      .orderBy('id')
      .execute();
    return rows.map((r) => [r.kind, r.amount]);
  }

  /** The invoice's webhooks, in delivery order: its own events and its disputes'. */
  async function webhooksOf(invoiceId: string) {
    const rows = await t.database.db
      .selectFrom('deliveries as d')
      .innerJoin('events as e', 'e.id', 'd.event_id')
      .select(['e.type'])
      .where('d.invoice_id', '=', invoiceId)
      .orderBy('d.seq')
      .execute();
    return rows.map((r) => r.type);
  }

  async function history(invoiceId: string) {
    const res = await merchantApi('GET', `/api/v1/invoices/${invoiceId}/history`);
    assert.equal(res.statusCode, 200, res.body);
    return (res.json().items as { from_status: string | null; status: string; status_detail: string | null }[]).map((i) => [
      i.from_status,
      i.status,
      i.status_detail,
    ]);
  }

  async function getDispute(disputeId: string, apiKey = merchant.api_key) {
    return merchantApi('GET', `/api/v1/disputes/${disputeId}`, undefined, apiKey);
  }

  async function done(...traders: TestTrader[]) {
    for (const tr of traders) await t.admin('PATCH', `/admin/v1/traders/${tr.trader_id}`, { status: 'disabled' });
    const clean = await ledgerClean(t);
    assert.ok(clean.ok, clean.body);
  }

  /** An invoice whose deal expired unpaid: its lock is back with the trader. */
  async function expiredDeal(tr: TestTrader) {
    const inv = await invoice();
    const deal = await openDeal(inv.invoice_id);
    t.clock.advance(21 * MINUTE);
    await t.kasa.deals.expireDue();
    assert.equal(await balance(`trader:${tr.trader_id}:locked`), 0n);
    return { inv, deal };
  }

  test('merchant claim on an expired deal: the cost held from available, the trader accepts, the hold pays as a completed deal', async () => {
    const tr = await addTrader(t, { deposit: '100.00', reward_percent: '1.00' });
    const { inv, deal } = await expiredDeal(tr);
    const key = randomUUID();
    const res = await openDispute(inv.invoice_id, { reason: 'not_credited', comment: 'customer sent a bank receipt by mail' }, merchant.api_key, key);
    assert.equal(res.statusCode, 201, res.body);
    const dispute = res.json();
    assert.deepEqual(
      [dispute.status, dispute.reason, dispute.opened_by, dispute.claimed_amount, dispute.covered, dispute.held_usdt, dispute.invoice_id],
      ['awaiting_trader', 'not_credited', 'merchant', '1500.00', true, '35.783133', inv.invoice_id],
    );
    assert.equal(dispute.respond_by, new Date(t.clock.now().getTime() + 24 * HOUR).toISOString().replace('.000', ''));
    const replay = await openDispute(inv.invoice_id, { reason: 'not_credited', comment: 'customer sent a bank receipt by mail' }, merchant.api_key, key);
    assert.deepEqual([replay.statusCode, replay.headers['idempotent-replayed'], replay.json().dispute_id], [201, 'true', dispute.dispute_id]);
    const again = await openDispute(inv.invoice_id);
    assert.deepEqual([again.statusCode, again.json().error.code, again.json().error.details.dispute_id], [409, 'DISPUTE_EXISTS', dispute.dispute_id]);
    assert.equal(await balance(`trader:${tr.trader_id}:dispute_hold`), COST);
    assert.equal(await balance(`trader:${tr.trader_id}:available`), 100_000_000n - COST);

    const listed = await trader(t, tr.api_key, 'GET', '/api/v1/trader/disputes?status=awaiting_trader');
    assert.deepEqual(
      listed.json().items.map((d: { dispute_id: string; deal_id: string }) => [d.dispute_id, d.deal_id]),
      [[dispute.dispute_id, deal.id]],
    );
    const accepted = await trader(t, tr.api_key, 'POST', `/api/v1/trader/disputes/${dispute.dispute_id}/accept`, { received_amount: '1500.00' });
    assert.equal(accepted.statusCode, 200, accepted.body);
    assert.deepEqual([accepted.json().status, accepted.json().decided_amount], ['trader_accepted', '1500.00']);
    const paid = (await merchantApi('GET', `/api/v1/invoices/${inv.invoice_id}`)).json();
    assert.deepEqual([paid.status, paid.status_detail, paid.paid_amount, paid.merchant_usdt], ['success', 'dispute_resolved', '1500.00', '35.42']);
    assert.deepEqual(await transfersOf(deal.id, dispute.dispute_id), [
      ['deal_lock', COST],
      ['deal_release', COST],
      ['dispute_hold', COST],
      ['deal_credit', 35_420_000n],
      ['deal_revenue', 363_133n],
    ]);
    assert.equal(await balance(`trader:${tr.trader_id}:dispute_hold`), 0n);
    assert.equal((await balance(`merchant:${merchant.merchant_id}`)) >= 35_420_000n, true);
    assert.deepEqual(await webhooksOf(inv.invoice_id), ['invoice.expired', 'dispute.opened', 'dispute.resolved', 'invoice.success']);
    assert.deepEqual(await history(inv.invoice_id), [
      [null, 'pending', null],
      ['pending', 'expired', 'customer_timeout'],
      ['expired', 'success', 'dispute_resolved'],
    ]);
    const detail = (await getDispute(dispute.dispute_id)).json();
    assert.deepEqual(
      detail.timeline.map((s: { from_status: string | null; status: string; actor: string }) => [s.from_status, s.status, s.actor]),
      [
        [null, 'awaiting_trader', 'merchant'],
        ['awaiting_trader', 'trader_accepted', 'trader'],
      ],
    );
    const late = await trader(t, tr.api_key, 'POST', `/api/v1/trader/disputes/${dispute.dispute_id}/reject`, { statement: 'changed my mind' });
    assert.deepEqual([late.statusCode, late.json().error.code, late.json().error.details.status], [409, 'DISPUTE_NOT_ALLOWED', 'trader_accepted']);
    await done(tr);
  });

  test('receipt on a paid deal: the lock backs it, the trader disagrees, the operator decides for the merchant at 1450.00', async () => {
    const tr = await addTrader(t, { deposit: '100.00', reward_percent: '1.00' });
    const inv = await invoice();
    const deal = await openDeal(inv.invoice_id);
    const before = await pageForm(inv.invoice_id);
    assert.ok(!before.page.body.includes('/receipt"'), 'no receipt form before "I have paid"');
    await pressPaid(inv.invoice_id);
    const form = await pageForm(inv.invoice_id);
    assert.ok(form.page.body.includes('/receipt"'), 'the receipt form after "I have paid"');
    const res = await uploadReceipt(inv.invoice_id, PNG, 'receipt.png', { card_last4: '4242', payer_name: 'Olena <b>K</b>', paid_amount: '1450.00' });
    assert.equal(res.statusCode, 303, res.body);
    assert.equal(res.headers.location, `/pay/${inv.invoice_id}?lang=en&after=receipt`);
    const review = await t.inject({ method: 'GET', url: res.headers.location as string });
    assert.ok(review.body.includes('Your payment is under review'), review.body);
    const ukReview = await t.inject({ method: 'GET', url: `/pay/${inv.invoice_id}?lang=uk` });
    assert.ok(ukReview.body.includes('Ваш платіж на перевірці'));

    const [listed] = (await merchantApi('GET', '/api/v1/disputes?status=awaiting_trader')).json().items as { dispute_id: string; invoice_id: string }[];
    assert.equal(listed?.invoice_id, inv.invoice_id);
    const id = listed!.dispute_id;
    const opened = (await getDispute(id)).json();
    assert.deepEqual(
      [opened.opened_by, opened.reason, opened.claimed_amount, opened.covered, opened.held_usdt],
      ['customer', 'wrong_amount', '1450.00', true, '35.783133'],
    );
    assert.equal(opened.files.length, 1);
    assert.deepEqual(
      [opened.files[0].content_type, opened.files[0].card_last4, opened.files[0].payer_name, opened.files[0].paid_amount],
      ['image/png', '4242', 'Olena <b>K</b>', '1450.00'],
    );
    // The deal's own lock is the hold: nothing moved at the opening.
    assert.deepEqual(await transfersOf(deal.id, id), [['deal_lock', COST]]);
    // While disputed, the merchant cannot cancel the invoice.
    const cancelInvoice = await merchantApi('POST', `/api/v1/invoices/${inv.invoice_id}/cancel`);
    assert.deepEqual([cancelInvoice.statusCode, cancelInvoice.json().error.code], [409, 'PAYMENT_IN_PROGRESS']);

    const rejected = await trader(t, tr.api_key, 'POST', `/api/v1/trader/disputes/${id}/reject`, { statement: 'Nothing arrived on the card' });
    assert.deepEqual([rejected.statusCode, rejected.json().status, rejected.json().statement], [200, 'awaiting_operator', 'Nothing arrived on the card']);
    const statementFile = multipart([{ name: 'file', value: PDF, filename: 'statement.pdf', type: 'application/pdf' }]);
    const added = await t.inject({
      method: 'POST',
      url: `/api/v1/trader/disputes/${id}/files`,
      headers: { ...statementFile.headers, 'x-api-key': tr.api_key },
      payload: statementFile.payload,
    });
    assert.equal(added.statusCode, 201, added.body);
    assert.equal(added.json().uploaded_by, 'trader');
    const message = await merchantApi('POST', `/api/v1/disputes/${id}/messages`, { body: 'The customer insists; see the receipt.' });
    assert.equal(message.statusCode, 201, message.body);

    const operatorList = (await t.admin('GET', '/admin/v1/disputes?status=awaiting_operator')).json().items as { dispute_id: string }[];
    assert.ok(operatorList.some((d) => d.dispute_id === id));
    const resolved = await t.admin('POST', `/admin/v1/disputes/${id}/resolve`, { outcome: 'merchant', amount: '1450.00' });
    assert.equal(resolved.statusCode, 200, resolved.body);
    assert.deepEqual([resolved.json().status, resolved.json().decided_amount], ['resolved_merchant', '1450.00']);
    const paid = (await merchantApi('GET', `/api/v1/invoices/${inv.invoice_id}`)).json();
    assert.deepEqual([paid.status, paid.status_detail, paid.paid_amount, paid.merchant_usdt], ['success', 'dispute_resolved', '1450.00', '34.24']);
    // Settled as section 1: gross 34.939759, cost 34.590362; the rest of the lock goes back.
    assert.deepEqual(await transfersOf(deal.id, id), [
      ['deal_lock', COST],
      ['deal_credit', 34_240_000n],
      ['deal_revenue', 350_362n],
      ['deal_release', COST - 34_590_362n],
    ]);
    assert.equal(await balance(`trader:${tr.trader_id}:locked`), 0n);
    assert.deepEqual(await webhooksOf(inv.invoice_id), ['invoice.processing', 'dispute.opened', 'dispute.updated', 'dispute.resolved', 'invoice.success']);
    assert.deepEqual(await history(inv.invoice_id), [
      [null, 'pending', null],
      ['pending', 'success', 'dispute_resolved'],
    ]);
    const detail = (await getDispute(id)).json();
    assert.deepEqual(
      detail.timeline.map((s: { status: string; actor: string }) => [s.status, s.actor]),
      [
        ['awaiting_trader', 'customer'],
        ['awaiting_operator', 'trader'],
        ['resolved_merchant', 'operator'],
      ],
    );
    assert.deepEqual(
      detail.messages.map((m: { author: string; body: string }) => [m.author, m.body]),
      [['merchant', 'The customer insists; see the receipt.']],
    );
    const twice = await t.admin('POST', `/admin/v1/disputes/${id}/resolve`, { outcome: 'trader' });
    assert.deepEqual([twice.statusCode, twice.json().error.code, twice.json().error.details.status], [409, 'DISPUTE_NOT_ALLOWED', 'resolved_merchant']);
    await done(tr);
  });

  test('decided for the trader: the dispute hold goes back to available, the invoice stays expired', async () => {
    const tr = await addTrader(t, { deposit: '100.00', reward_percent: '1.00' });
    const { inv, deal } = await expiredDeal(tr);
    const id = (await openDispute(inv.invoice_id)).json().dispute_id as string;
    assert.ok((await trader(t, tr.api_key, 'POST', `/api/v1/trader/disputes/${id}/reject`, { statement: 'no such transfer' })).statusCode === 200);
    const resolved = await t.admin('POST', `/admin/v1/disputes/${id}/resolve`, { outcome: 'trader' });
    assert.equal(resolved.statusCode, 200, resolved.body);
    assert.equal(resolved.json().status, 'resolved_trader');
    assert.deepEqual(await transfersOf(id), [
      ['dispute_hold', COST],
      ['dispute_release', COST],
    ]);
    assert.equal(await balance(`trader:${tr.trader_id}:available`), 100_000_000n);
    const inv2 = (await merchantApi('GET', `/api/v1/invoices/${inv.invoice_id}`)).json();
    assert.deepEqual([inv2.status, inv2.status_detail, inv2.paid_amount], ['expired', 'customer_timeout', null]);
    const dealRow = await t.database.db.selectFrom('deals').select('status').where('id', '=', deal.id).executeTakeFirstOrThrow();
    assert.equal(dealRow.status, 'expired');
    assert.deepEqual(await webhooksOf(inv.invoice_id), ['invoice.expired', 'dispute.opened', 'dispute.updated', 'dispute.resolved']);
    assert.deepEqual(await history(inv.invoice_id), [
      [null, 'pending', null],
      ['pending', 'expired', 'customer_timeout'],
    ]);
    // Closed: another claim may be made on the invoice.
    const reopened = await openDispute(inv.invoice_id);
    assert.equal(reopened.statusCode, 201, reopened.body);
    assert.equal((await merchantApi('POST', `/api/v1/disputes/${reopened.json().dispute_id}/cancel`)).statusCode, 200);
    await done(tr);
  });

  test('cancelled by the merchant: the lock of a paid deal goes back and the pending invoice gets another card', async () => {
    const tr = await addTrader(t, { deposit: '100.00', reward_percent: '1.00', requisites: [{}, {}] });
    const inv = await invoice();
    const deal = await openDeal(inv.invoice_id);
    await pressPaid(inv.invoice_id);
    const res = await openDispute(inv.invoice_id, { reason: 'not_credited' });
    assert.equal(res.statusCode, 201, res.body);
    const id = res.json().dispute_id as string;
    assert.equal((await merchantApi('POST', `/api/v1/disputes/${id}/cancel`, undefined, other.api_key)).statusCode, 404);
    const cancelled = await merchantApi('POST', `/api/v1/disputes/${id}/cancel`);
    assert.deepEqual([cancelled.statusCode, cancelled.json().status], [200, 'cancelled']);
    assert.deepEqual(await transfersOf(deal.id, id), [
      ['deal_lock', COST],
      ['deal_release', COST],
    ]);
    const dealRow = await t.database.db.selectFrom('deals').select('status').where('id', '=', deal.id).executeTakeFirstOrThrow();
    assert.equal(dealRow.status, 'rejected');
    const next = await openDeal(inv.invoice_id);
    assert.notEqual(next.requisite_id, deal.requisite_id);
    const again = await merchantApi('POST', `/api/v1/disputes/${id}/cancel`);
    assert.deepEqual([again.statusCode, again.json().error.code, again.json().error.details.status], [409, 'DISPUTE_NOT_ALLOWED', 'cancelled']);
    assert.deepEqual(await webhooksOf(inv.invoice_id), ['invoice.processing', 'dispute.opened', 'dispute.resolved']);
    await done(tr);
  });

  test('the trader silent past respond_by: the timer hands it to an operator once, across two workers', async () => {
    const tr = await addTrader(t, { deposit: '100.00', reward_percent: '1.00' });
    const { inv } = await expiredDeal(tr);
    const id = (await openDispute(inv.invoice_id)).json().dispute_id as string;
    t.clock.advance(23 * HOUR);
    assert.equal(await t.kasa.disputes.timeoutDue(), 0);
    t.clock.advance(HOUR);
    const [a, b] = await Promise.all([t.kasa.disputes.timeoutDue(), t.kasa.disputes.timeoutDue()]);
    assert.equal(a + b, 1);
    const read = (await getDispute(id)).json();
    assert.equal(read.status, 'awaiting_operator');
    assert.deepEqual(
      read.timeline.map((s: { status: string; actor: string }) => [s.status, s.actor]),
      [
        ['awaiting_trader', 'merchant'],
        ['awaiting_operator', 'system'],
      ],
    );
    const tooLate = await trader(t, tr.api_key, 'POST', `/api/v1/trader/disputes/${id}/reject`, { statement: 'sorry, was away' });
    assert.deepEqual([tooLate.statusCode, tooLate.json().error.code, tooLate.json().error.details.status], [409, 'DISPUTE_NOT_ALLOWED', 'awaiting_operator']);
    // The trader may still concede: the invoice succeeds out of the hold.
    const accepted = await trader(t, tr.api_key, 'POST', `/api/v1/trader/disputes/${id}/accept`);
    assert.equal(accepted.statusCode, 200, accepted.body);
    assert.deepEqual(await webhooksOf(inv.invoice_id), ['invoice.expired', 'dispute.opened', 'dispute.updated', 'dispute.resolved', 'invoice.success']);
    await done(tr);
  });

  test('a claim the trader cannot cover says covered: false and holds what there is', async () => {
    const tr = await addTrader(t, { deposit: '40.00', reward_percent: '1.00' });
    const { inv } = await expiredDeal(tr);
    await t.admin('POST', `/admin/v1/traders/${tr.trader_id}/deposits`, { amount_usdt: '0.01', reference: `more-${tr.trader_id}` });
    // Take most of the balance out of available: a withdrawal request holds it.
    const withdrawal = await trader(t, tr.api_key, 'POST', '/api/v1/trader/withdrawals', {
      amount_usdt: '30.00',
      address: 'TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7',
      network: 'TRC20',
    });
    assert.equal(withdrawal.statusCode, 201, withdrawal.body);
    const available = await balance(`trader:${tr.trader_id}:available`);
    const res = await openDispute(inv.invoice_id);
    assert.equal(res.statusCode, 201, res.body);
    assert.deepEqual([res.json().covered, res.json().held_usdt], [false, '10.010000']);
    assert.equal(await balance(`trader:${tr.trader_id}:dispute_hold`), available);
    // The decision for the merchant needs the rest from available, which is not there: refused, nothing changed.
    const refused = await t.admin('POST', `/admin/v1/disputes/${res.json().dispute_id}/resolve`, { outcome: 'merchant' });
    assert.deepEqual([refused.statusCode, refused.json().error.code], [409, 'INSUFFICIENT_TRADER_BALANCE']);
    assert.equal((await getDispute(res.json().dispute_id)).json().status, 'awaiting_trader');
    assert.equal((await t.admin('POST', `/admin/v1/disputes/${res.json().dispute_id}/resolve`, { outcome: 'trader' })).statusCode, 200);
    assert.equal(await balance(`trader:${tr.trader_id}:dispute_hold`), 0n);
    await done(tr);
  });

  test('what may not be disputed: a pending unpaid deal, a paid invoice, past the window, an unknown or foreign invoice', async () => {
    const tr = await addTrader(t, { deposit: '100.00', reward_percent: '1.00', requisites: [{ max_open_deals: 5 }] });
    const inv = await invoice();
    await openDeal(inv.invoice_id);
    const unpaid = await openDispute(inv.invoice_id);
    assert.deepEqual([unpaid.statusCode, unpaid.json().error.code, unpaid.json().error.details.status], [409, 'DISPUTE_NOT_ALLOWED', 'awaiting_payment']);
    const deal = await t.database.db.selectFrom('deals').select('id').where('invoice_id', '=', inv.invoice_id).executeTakeFirstOrThrow();
    assert.equal((await trader(t, tr.api_key, 'POST', `/api/v1/trader/deals/${deal.id}/confirm`)).statusCode, 200);
    const paid = await openDispute(inv.invoice_id);
    assert.deepEqual([paid.statusCode, paid.json().error.details.status], [409, 'success']);
    assert.equal((await openDispute(inv.invoice_id, { reason: 'not_credited' }, other.api_key)).statusCode, 404);
    assert.equal((await openDispute(randomUUID())).statusCode, 404);
    assert.equal((await openDispute('not-a-uuid')).statusCode, 404);
    assert.equal((await openDispute(inv.invoice_id, { reason: 'because' })).statusCode, 422);
    const tooMuch = await openDispute((await invoice()).invoice_id, { reason: 'wrong_amount', claimed_amount: '1700.00' });
    assert.ok([400, 409].includes(tooMuch.statusCode), tooMuch.body);
    const { inv: old } = await expiredDeal(tr);
    t.clock.advance(73 * HOUR);
    const late = await openDispute(old.invoice_id);
    assert.deepEqual([late.statusCode, late.json().error.code, late.json().error.details.status], [409, 'DISPUTE_NOT_ALLOWED', 'expired']);
    await done(tr);
  });

  test('receipts: a 6 MB file, an HTML file named .png, PDFs with JavaScript refused; a PDF served only as an attachment', async () => {
    const tr = await addTrader(t, { deposit: '100.00', reward_percent: '1.00' });
    const inv = await invoice();
    await openDeal(inv.invoice_id);
    await pressPaid(inv.invoice_id);
    const form = (await pageForm(inv.invoice_id)) as { cookie: string; token: string };
    const big = await uploadReceipt(inv.invoice_id, Buffer.concat([PNG, Buffer.alloc(6 * 1024 * 1024)]), 'big.png', {}, form);
    assert.equal(big.statusCode, 413, big.body);
    assert.ok(big.headers['content-type']?.toString().startsWith('text/html'));
    // The customer reads why in their words, not the API's.
    assert.match(big.body, /(larger than|більший за) 5 (MB|МБ)/);
    const html = await uploadReceipt(inv.invoice_id, HTML, 'receipt.png', {}, form);
    assert.equal(html.statusCode, 415, html.body);
    assert.match(html.body, /JPEG/);
    for (const pdf of [PDF_WITH_JS, PDF_WITH_HIDDEN_JS]) {
      const refused = await uploadReceipt(inv.invoice_id, pdf, 'receipt.pdf', {}, form);
      assert.equal(refused.statusCode, 415, refused.body);
    }
    const badField = await uploadReceipt(inv.invoice_id, PDF, 'receipt.pdf', { card_last4: '12345' }, form);
    assert.equal(badField.statusCode, 422, badField.body);
    const noCsrf = await uploadReceipt(inv.invoice_id, PDF, 'receipt.pdf', {}, { cookie: form.cookie, token: 'forged' });
    assert.equal(noCsrf.statusCode, 403);
    assert.equal(
      await t.database.db.selectFrom('disputes').select('id').where('invoice_id', '=', inv.invoice_id).executeTakeFirst(),
      undefined,
      'refusals change nothing',
    );

    const ok = await uploadReceipt(inv.invoice_id, PDF, 'receipt.pdf', {}, form);
    assert.equal(ok.statusCode, 303, ok.body);
    const [listed] = (await merchantApi('GET', '/api/v1/disputes?status=awaiting_trader')).json().items as { dispute_id: string; invoice_id: string }[];
    assert.equal(listed?.invoice_id, inv.invoice_id);
    const detail = (await getDispute(listed!.dispute_id)).json();
    const fileId = detail.files[0].file_id as string;
    for (const [url, headers] of [
      [`/api/v1/disputes/${listed!.dispute_id}/files/${fileId}`, { 'x-api-key': merchant.api_key }],
      [`/api/v1/trader/disputes/${listed!.dispute_id}/files/${fileId}`, { 'x-api-key': tr.api_key }],
      [`/admin/v1/disputes/${listed!.dispute_id}/files/${fileId}`, { authorization: 'Bearer test-admin-token-0123456789' }],
    ] as const) {
      const served = await t.inject({ method: 'GET', url, headers });
      assert.equal(served.statusCode, 200, served.body);
      assert.equal(served.headers['content-type'], 'application/pdf');
      assert.match(String(served.headers['content-disposition']), /^attachment; filename="dispute-file-[0-9a-f-]+\.pdf"$/);
      assert.equal(served.headers['x-content-type-options'], 'nosniff');
      assert.deepEqual(served.rawPayload, PDF);
    }
    // The merchant's API refuses the same bad files.
    const viaApi = multipart([{ name: 'file', value: HTML, filename: 'x.png', type: 'image/png' }]);
    const refusedApi = await t.inject({
      method: 'POST',
      url: `/api/v1/disputes/${listed!.dispute_id}/files`,
      headers: { ...viaApi.headers, 'x-api-key': merchant.api_key },
      payload: viaApi.payload,
    });
    assert.deepEqual([refusedApi.statusCode, refusedApi.json().error.code], [415, 'FILE_TYPE_REFUSED']);
    const bigApi = multipart([{ name: 'file', value: Buffer.alloc(6 * 1024 * 1024, 1), filename: 'x.png', type: 'image/png' }]);
    const tooBig = await t.inject({
      method: 'POST',
      url: `/api/v1/disputes/${listed!.dispute_id}/files`,
      headers: { ...bigApi.headers, 'x-api-key': merchant.api_key },
      payload: bigApi.payload,
    });
    assert.deepEqual([tooBig.statusCode, tooBig.json().error.code], [413, 'FILE_TOO_LARGE']);
    const noFile = await merchantApi('POST', `/api/v1/disputes/${listed!.dispute_id}/files`, { file: 'text' });
    assert.deepEqual([noFile.statusCode, noFile.json().error.code], [400, 'FILE_MISSING']);

    // Per invoice: RECEIPTS_PER_INVOICE_PER_HOUR_MAX (5) in an hour, then 429 with Retry-After.
    for (let i = 1; i < 5; i++) assert.equal((await uploadReceipt(inv.invoice_id, PNG, 'more.png', {}, form)).statusCode, 303);
    const limited = await uploadReceipt(inv.invoice_id, PNG, 'more.png', {}, form);
    assert.equal(limited.statusCode, 429, limited.body);
    assert.ok(Number(limited.headers['retry-after']) > 0);
    t.clock.advance(HOUR + 1000);
    assert.equal((await uploadReceipt(inv.invoice_id, PNG, 'more.png', {}, form)).statusCode, 303);
    assert.equal(((await getDispute(listed!.dispute_id)).json().files as unknown[]).length, 6);
    await merchantApi('POST', `/api/v1/disputes/${listed!.dispute_id}/cancel`);
    await done(tr);
  });

  test("another party's dispute is not found on every route", async () => {
    const tr = await addTrader(t, { deposit: '100.00', reward_percent: '1.00' });
    const { inv } = await expiredDeal(tr);
    // Added after the deal opened, so the deal is surely the first trader's.
    const stranger = await addTrader(t, { deposit: '100.00', reward_percent: '1.00' });
    const id = (await openDispute(inv.invoice_id)).json().dispute_id as string;
    const file = (await getDispute(id)).json().files;
    assert.deepEqual(file, []);
    const pdf = multipart([{ name: 'file', value: PDF, filename: 'r.pdf', type: 'application/pdf' }]);
    const uploaded = await t.inject({
      method: 'POST',
      url: `/api/v1/disputes/${id}/files`,
      headers: { ...pdf.headers, 'x-api-key': merchant.api_key },
      payload: pdf.payload,
    });
    assert.equal(uploaded.statusCode, 201, uploaded.body);
    const fileId = uploaded.json().file_id as string;

    const asOther = [
      merchantApi('GET', `/api/v1/disputes/${id}`, undefined, other.api_key),
      merchantApi('GET', `/api/v1/disputes/${id}/files/${fileId}`, undefined, other.api_key),
      merchantApi('POST', `/api/v1/disputes/${id}/messages`, { body: 'hi' }, other.api_key),
      merchantApi('POST', `/api/v1/disputes/${id}/cancel`, undefined, other.api_key),
      t.inject({ method: 'POST', url: `/api/v1/disputes/${id}/files`, headers: { ...pdf.headers, 'x-api-key': other.api_key }, payload: pdf.payload }),
      openDispute(inv.invoice_id, { reason: 'not_credited' }, other.api_key),
      trader(t, stranger.api_key, 'GET', `/api/v1/trader/disputes/${id}`),
      trader(t, stranger.api_key, 'GET', `/api/v1/trader/disputes/${id}/files/${fileId}`),
      trader(t, stranger.api_key, 'POST', `/api/v1/trader/disputes/${id}/accept`),
      trader(t, stranger.api_key, 'POST', `/api/v1/trader/disputes/${id}/reject`, { statement: 'not mine' }),
      t.inject({
        method: 'POST',
        url: `/api/v1/trader/disputes/${id}/files`,
        headers: { ...pdf.headers, 'x-api-key': stranger.api_key },
        payload: pdf.payload,
      }),
    ];
    for (const res of await Promise.all(asOther)) assert.equal(res.statusCode, 404, res.body);
    assert.deepEqual((await merchantApi('GET', '/api/v1/disputes', undefined, other.api_key)).json().items, []);
    assert.deepEqual((await trader(t, stranger.api_key, 'GET', '/api/v1/trader/disputes')).json().items, []);
    // A trader key on the merchant routes, a merchant key on the trader routes, no key at all: 401.
    assert.equal((await merchantApi('GET', `/api/v1/disputes/${id}`, undefined, tr.api_key)).statusCode, 401);
    assert.equal((await trader(t, merchant.api_key, 'GET', `/api/v1/trader/disputes/${id}`)).statusCode, 401);
    assert.equal((await t.inject({ method: 'GET', url: `/admin/v1/disputes/${id}` })).statusCode, 401);
    assert.equal((await t.admin('GET', `/admin/v1/disputes/${randomUUID()}`)).statusCode, 404);
    // Nothing changed.
    assert.equal((await getDispute(id)).json().status, 'awaiting_trader');
    assert.equal((await merchantApi('POST', `/api/v1/disputes/${id}/cancel`)).statusCode, 200);
    await done(tr, stranger);
  });

  test('a reject of a paid deal opens a dispute for the operator, also in the late window', async () => {
    const tr = await addTrader(t, { deposit: '100.00', reward_percent: '1.00' });
    const inv = await invoice();
    const deal = await openDeal(inv.invoice_id);
    await pressPaid(inv.invoice_id);
    t.clock.advance(21 * MINUTE);
    await t.kasa.deals.expireDue();
    const res = await t.inject({
      method: 'POST',
      url: `/api/v1/trader/deals/${deal.id}/reject`,
      headers: { 'x-api-key': tr.api_key },
      payload: { reason: 'no_payment', comment: 'nothing arrived' },
    });
    assert.deepEqual([res.statusCode, res.json().status], [200, 'disputed']);
    const [dispute] = (await merchantApi('GET', '/api/v1/disputes?status=awaiting_operator')).json().items as {
      dispute_id: string;
      opened_by: string;
      statement: string;
      invoice_id: string;
    }[];
    assert.deepEqual([dispute?.invoice_id, dispute?.opened_by, dispute?.statement], [inv.invoice_id, 'trader', 'no_payment: nothing arrived']);
    // The late sweep leaves a disputed deal's lock alone.
    t.clock.advance(3 * HOUR);
    await t.kasa.deals.expireDue();
    assert.equal(await balance(`trader:${tr.trader_id}:locked`), COST);
    // The expired page keeps the customer: their receipt is under review.
    const page = await t.inject({ method: 'GET', url: `/pay/${inv.invoice_id}?lang=en` });
    assert.equal(page.statusCode, 200);
    assert.ok(page.body.includes('Your payment is under review'));
    const resolved = await t.admin('POST', `/admin/v1/disputes/${dispute!.dispute_id}/resolve`, { outcome: 'trader' });
    assert.equal(resolved.statusCode, 200, resolved.body);
    assert.deepEqual(await transfersOf(deal.id), [
      ['deal_lock', COST],
      ['deal_release', COST],
    ]);
    assert.deepEqual(await webhooksOf(inv.invoice_id), ['invoice.processing', 'invoice.expired', 'dispute.opened', 'dispute.resolved']);
    await done(tr);
  });

  test('100 parallel actions on one dispute (accept, resolve both ways, cancel, timer): exactly one outcome and its transfers', async () => {
    const tr = await addTrader(t, { deposit: '100.00', reward_percent: '1.00' });
    const { inv, deal } = await expiredDeal(tr);
    const id = (await openDispute(inv.invoice_id)).json().dispute_id as string;
    t.clock.advance(25 * HOUR);
    const actions = Array.from({ length: 100 }, (_, i) => {
      switch (i % 5) {
        case 0:
          return trader(t, tr.api_key, 'POST', `/api/v1/trader/disputes/${id}/accept`, { received_amount: '1500.00' }).then(
            (r) => ['accept', r.statusCode] as const,
          );
        case 1:
          return t.admin('POST', `/admin/v1/disputes/${id}/resolve`, { outcome: 'merchant' }).then((r) => ['merchant', r.statusCode] as const);
        case 2:
          return t.admin('POST', `/admin/v1/disputes/${id}/resolve`, { outcome: 'trader' }).then((r) => ['trader', r.statusCode] as const);
        case 3:
          return merchantApi('POST', `/api/v1/disputes/${id}/cancel`).then((r) => ['cancel', r.statusCode] as const);
        default:
          return t.kasa.disputes.timeoutDue().then((n) => ['timer', n > 0 ? 200 : 409] as const);
      }
    });
    const results = await Promise.all(actions);
    for (const [, status] of results) assert.ok(status === 200 || status === 409, `status ${status}`);
    const finals = results.filter(([kind, status]) => status === 200 && kind !== 'timer');
    assert.equal(finals.length, 1, JSON.stringify(finals));
    assert.ok(results.filter(([kind, status]) => kind === 'timer' && status === 200).length <= 1);
    const [winner] = finals[0]!;
    const read = (await getDispute(id)).json();
    const expected = { accept: 'trader_accepted', merchant: 'resolved_merchant', trader: 'resolved_trader', cancel: 'cancelled' }[winner as 'accept'];
    assert.equal(read.status, expected);
    const transfers = await transfersOf(deal.id, id);
    if (winner === 'accept' || winner === 'merchant') {
      assert.deepEqual(transfers.slice(2), [
        ['dispute_hold', COST],
        ['deal_credit', 35_420_000n],
        ['deal_revenue', 363_133n],
      ]);
      assert.equal((await merchantApi('GET', `/api/v1/invoices/${inv.invoice_id}`)).json().status, 'success');
    } else {
      assert.deepEqual(transfers.slice(2), [
        ['dispute_hold', COST],
        ['dispute_release', COST],
      ]);
      assert.equal((await merchantApi('GET', `/api/v1/invoices/${inv.invoice_id}`)).json().status, 'expired');
    }
    const events = await webhooksOf(inv.invoice_id);
    assert.equal(events.filter((e) => e === 'dispute.resolved').length, 1);
    assert.equal(events.filter((e) => e === 'invoice.success').length, winner === 'accept' || winner === 'merchant' ? 1 : 0);
    const rows = await t.database.db.selectFrom('invoice_transitions').select(['from_status', 'to_status']).where('invoice_id', '=', inv.invoice_id).execute();
    assert.equal(rows.length, winner === 'accept' || winner === 'merchant' ? 2 : 1);
    await done(tr);
  });

  test('the CLI: kasa dispute list, show and resolve', async () => {
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const address = t.app.server.address();
    assert.ok(address && typeof address === 'object');
    const env = { KASA_URL: `http://127.0.0.1:${address.port}`, ADMIN_TOKEN };
    const tr = await addTrader(t, { deposit: '100.00', reward_percent: '1.00' });
    const { inv } = await expiredDeal(tr);
    const id = (await openDispute(inv.invoice_id)).json().dispute_id as string;
    const listed = await kasaCommand(['dispute', 'list', '--status', 'awaiting_trader'], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(listed.stdout.includes(id));
    const shown = await kasaCommand(['dispute', 'show', id], env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /awaiting_trader\s+merchant/);
    const resolved = await kasaCommand(['dispute', 'resolve', id, '--outcome', 'merchant', '--amount', '1500.00', '--json'], env);
    assert.equal(resolved.code, 0, resolved.stderr);
    assert.equal(JSON.parse(resolved.stdout).status, 'resolved_merchant');
    assert.equal((await merchantApi('GET', `/api/v1/invoices/${inv.invoice_id}`)).json().status_detail, 'dispute_resolved');
    const again = await kasaCommand(['dispute', 'resolve', id, '--outcome', 'trader'], env);
    assert.notEqual(again.code, 0);
    await done(tr);
  });
});
