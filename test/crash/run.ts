// `npm run test:crash`: what survives kill -9. One real `kasa serve` process on a PostgreSQL
// database of its own (DATABASE_URL, default the local server), a local webhook receiver, and a
// concurrent load of create-invoice, payment-page opens, "I have paid", trader confirms and
// merchant cancels, while the Kasa process is SIGKILLed 5 times at random moments and restarted
// each time. Then the load stops, the workers drain, and every acknowledged answer is checked
// against the database, the ledger and the webhooks received. Prints the counts and a last line
// "N passed, N failed"; exits 0 only if every check passed. Bounded: 3 minutes at most.
//
// Expiry is exercised for real: the invoices created in the first seconds of the load get the
// shortest TTL (1 minute) and expire during the run, under the kills; the later ones get 20.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { LEASE_MS } from '../../src/webhooks/delivery.ts';
import { kasaCli } from '../helpers/cli.ts';
import { createPostgresDatabase } from '../helpers/database.ts';
import { HttpClient, type Answer } from '../helpers/http-client.ts';
import { SEED_BODY } from '../helpers/kasa.ts';
import { KasaProcess, killAllKasaProcesses, restartablePort } from '../helpers/kasa-process.ts';
import { Receiver, type Received } from '../helpers/receiver.ts';

// ---------------------------------------------------------------------------------------------
// Bounds

/** The whole run, setup to cleanup; past it the run fails and exits. */
const TOTAL_BOUND_MS = 178_000;
const KILLS = 5;
/** Time between a restart being ready and the next kill: random in this range. */
const KILL_GAP_MS: [number, number] = [5_000, 12_000];
/** The load runs at least this long (the short-TTL invoices expire inside it)… */
const LOAD_MIN_MS = 72_000;
/** …and at least this long after the last restart. */
const LOAD_AFTER_LAST_RESTART_MS = 5_000;
/** Invoices created in the first seconds of the load live 1 minute; later ones 20. */
const SHORT_TTL_PHASE_MS = 10_000;
const READY_TIMEOUT_MS = 40_000;
const REQUEST_TIMEOUT_MS = 10_000;
const EXPIRY_WAIT_MS = 20_000;
const DRAIN_WAIT_MS = 45_000;

const CREATORS = 4;
const PAGE_OPENERS = 3;
const CONFIRM_PROBABILITY = 0.55;
const PAGE_OPEN_PROBABILITY = 0.85;
const CANCEL_INTERVAL_MS = 200;
/** "I have paid" is rate limited per client address (30 a minute): stay under it. */
const PAID_PRESSES_PER_MINUTE_MAX = 20;

const ADMIN_TOKEN = `crash-admin-${randomBytes(12).toString('hex')}`;
const SERVER_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const RUN_ID = randomBytes(4).toString('hex');
const CARDS = ['4149499912341235', '5375414112345672', '4111111111111111', '5555555555554444', '4012888888881881', '4000056655665556'];

// ---------------------------------------------------------------------------------------------
// Checks and output

const results: { name: string; ok: boolean; detail: string }[] = [];
let finished = false;

function check(name: string, ok: boolean, detail = ''): void {
  results.push({ name, ok, detail });
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}\n`);
}

function sample<T>(items: T[], n = 5): string {
  return JSON.stringify(items.slice(0, n)) + (items.length > n ? ` … (${items.length} in all)` : '');
}

function summaryLine(): string {
  const passed = results.filter((r) => r.ok).length;
  return `${passed} passed, ${results.length - passed} failed`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const random = (min: number, max: number) => min + Math.random() * (max - min);
const pick = <T>(items: T[]): T | undefined => items[Math.floor(Math.random() * items.length)];

// ---------------------------------------------------------------------------------------------
// The system under test

interface Merchant {
  id: string;
  apiKey: string;
  secret: string;
}
interface Trader {
  id: string;
  apiKey: string;
}

interface CreateRecord {
  n: number;
  merchant: Merchant;
  body: Record<string, string>;
  answer: Answer;
}
interface ConfirmRecord {
  dealId: string;
  trader: Trader;
  answer: Answer;
  doubled: boolean;
}
interface CancelRecord {
  invoiceId: string;
  merchant: Merchant;
  answer: Answer;
}

interface Ack {
  id: string;
  merchant: Merchant;
  response: Record<string, unknown>;
  body: Record<string, string>;
}

const http = new HttpClient(128);
/** Every invoice's view as GET /api/v1/invoices/{id} shows it after the drain. */
const finalViews = new Map<string, Record<string, unknown>>();
let kasa: KasaProcess | null = null;
let baseUrl = '';
let receiver: Receiver | null = null;
let pool: pg.Pool | null = null;
let dropDatabase: () => Promise<void> = async () => {};
let dataDir = '';

const counts = { requests: 0, byKind: new Map<string, { sent: number; answered: number; refused: number; lost: number }>() };
const unexpected: { kind: string; status: number; atS: string; pid: number | undefined; requestId: boolean; body: string }[] = [];

/** Sends one request of the load and counts it; never throws. */
async function call(kind: string, method: string, url: string, options: Parameters<HttpClient['send']>[2] = {}): Promise<Answer> {
  counts.requests++;
  const c = counts.byKind.get(kind) ?? { sent: 0, answered: 0, refused: 0, lost: 0 };
  counts.byKind.set(kind, c);
  c.sent++;
  const answer = await http.send(method, url, { timeoutMs: REQUEST_TIMEOUT_MS, ...options });
  if (answer.kind === 'answer') c.answered++;
  else if (answer.kind === 'refused') c.refused++;
  else c.lost++;
  return answer;
}

function expectStatus(kind: string, answer: Answer, allowed: number[]): void {
  if (answer.kind === 'answer' && !allowed.includes(answer.status)) {
    unexpected.push({
      kind,
      status: answer.status,
      atS: ((Date.now() - loadStarted) / 1000).toFixed(1),
      pid: kasa?.pid,
      requestId: answer.headers['x-request-id'] !== undefined,
      body: answer.text.slice(0, 300),
    });
  }
}

/** An admin call during setup or verification: retried while Kasa is (re)starting, bounded. */
async function admin(method: string, url: string, json?: unknown, expected = [200, 201]): Promise<any> {
  for (let attempt = 1; attempt <= 20; attempt++) {
    const answer = await http.send(method, `${baseUrl}${url}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, json, timeoutMs: REQUEST_TIMEOUT_MS });
    if (answer.kind === 'answer') {
      if (!expected.includes(answer.status)) throw new Error(`${method} ${url}: ${answer.status} ${answer.text}`);
      return answer.json;
    }
    await sleep(500);
  }
  throw new Error(`${method} ${url}: no answer after 20 attempts`);
}

async function query<T = any>(text: string, values: unknown[] = []): Promise<T[]> {
  return (await pool!.query(text, values)).rows as T[];
}

// ---------------------------------------------------------------------------------------------
// Setup

async function setUp(): Promise<{ merchants: Merchant[]; traders: Trader[] }> {
  const created = await createPostgresDatabase(SERVER_URL);
  dropDatabase = created.drop;
  pool = new pg.Pool({ connectionString: created.url, max: 4 });
  // pool.end() resolves before its connections have closed, so the DROP DATABASE … WITH (FORCE)
  // that follows may end one first: at teardown that is no error.
  pool.on('error', () => {});
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'kasa-crash-'));
  receiver = await Receiver.start();
  // Answers take a little while, so a kill often lands with deliveries in flight. Every event
  // goes to this one host, which Kasa serves PER_TARGET_IN_FLIGHT_MAX (4) at a time: at a mean
  // 20 ms that is ~200 deliveries/s, ahead of the final invoices the load makes (a mean 75 ms
  // left thousands of the short-TTL invoices' expiry events for after the load).
  receiver.reply = () => ({ status: 200, delayMs: Math.floor(random(0, 40)) });
  const port = await restartablePort();
  lastSpawnAt = Date.now();
  kasa = watched(KasaProcess.spawn({ databaseUrl: created.url, port, adminToken: ADMIN_TOKEN, dataDir }));
  await kasa.ready(READY_TIMEOUT_MS);
  baseUrl = kasa.url;

  await admin('PUT', '/admin/v1/currencies/UAH', { enabled: true, rate: '41.50' });
  await admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 100_000, customer_max_pending: 100_000, invoice_ttl_minutes: 1 });
  const merchants: Merchant[] = [];
  for (const name of ['Crash Shop A', 'Crash Shop B']) {
    const m = await admin('POST', '/admin/v1/merchants', { name, webhook_url: receiver.url });
    merchants.push({ id: m.merchant_id, apiKey: m.api_key, secret: m.webhook_secret });
  }
  const traders: Trader[] = [];
  for (let t = 0; t < 3; t++) {
    const trader = await admin('POST', '/admin/v1/traders', { name: `Crash Trader ${t + 1}` });
    traders.push({ id: trader.trader_id, apiKey: trader.api_key });
    await admin('POST', `/admin/v1/traders/${trader.trader_id}/deposits`, { amount_usdt: '5000000.00', reference: `crash-deposit-${t}` });
    for (let r = 0; r < 2; r++) {
      const answer = await http.send('POST', `${baseUrl}/api/v1/trader/requisites`, {
        headers: { 'x-api-key': trader.api_key },
        json: { currency: 'UAH', bank_name: `Bank ${t}-${r}`, card_number: CARDS[t * 2 + r], holder_name: `Holder ${t}-${r}`, max_open_deals: 1000 },
      });
      if (answer.kind !== 'answer' || answer.status !== 201) throw new Error(`requisite setup failed: ${JSON.stringify(answer)}`);
    }
  }
  return { merchants, traders };
}

// ---------------------------------------------------------------------------------------------
// Load

const creates: CreateRecord[] = [];
const confirms: ConfirmRecord[] = [];
const cancels: CancelRecord[] = [];
const acked: Ack[] = [];
const openQueue: Ack[] = [];
const paidPresses: number[] = [];
const kills: { pid: number | undefined; atMs: number; restartMs: number }[] = [];
let stopping = false;
let loadStarted = 0;
/** Wall-clock time the current Kasa process was spawned: leases older than it belong to dead processes. */
let lastSpawnAt = 0;

/** Pids this run killed itself: any other exit of a Kasa process is reported. */
const killedByUs = new Set<number | undefined>();
const unexpectedExits: string[] = [];

function watched(k: KasaProcess): KasaProcess {
  void k.exited.then(({ code, signal }) => {
    if (killedByUs.has(k.pid)) return;
    const line = `kasa pid ${k.pid} exited on its own (code ${code}, signal ${signal}) at ${((Date.now() - loadStarted) / 1000).toFixed(1)} s: ${k.stderr.slice(-500)}`;
    unexpectedExits.push(line);
    process.stdout.write(line + '\n');
  });
  return k;
}

function invoiceBody(n: number): Record<string, string> {
  const amount = `${Math.floor(random(100, 10_000))}.${String(Math.floor(random(0, 100))).padStart(2, '0')}`;
  const { callback_url: _unused, ...seed } = SEED_BODY;
  const body: Record<string, string> = {
    ...seed,
    amount,
    external_id: `crash-${RUN_ID}-${n}`,
    customer_id: `customer-${Math.floor(random(0, 50))}`,
  };
  // Half name their own callback_url (a query marks it), half use the merchant's webhook_url.
  if (n % 2 === 0) body.callback_url = `${receiver!.url}?via=callback`;
  return body;
}

async function creator(merchants: Merchant[], counter: { n: number }): Promise<void> {
  while (!stopping) {
    const n = counter.n++;
    const merchant = merchants[n % merchants.length]!;
    const body = invoiceBody(n);
    const answer = await call('create-invoice', 'POST', `${baseUrl}/api/v1/create-invoice`, { headers: { 'x-api-key': merchant.apiKey }, json: body });
    creates.push({ n, merchant, body, answer });
    expectStatus('create-invoice', answer, [200]);
    if (answer.kind === 'answer' && answer.status === 200) {
      const ack: Ack = { id: answer.json.invoice_id, merchant, response: answer.json, body };
      acked.push(ack);
      if (Math.random() < PAGE_OPEN_PROBABILITY) openQueue.push(ack);
    }
    if (answer.kind !== 'answer') await sleep(100);
  }
}

function paidBudgetLeft(): boolean {
  const now = Date.now();
  while (paidPresses.length && paidPresses[0]! < now - 60_000) paidPresses.shift();
  return paidPresses.length < PAID_PRESSES_PER_MINUTE_MAX;
}

async function pageOpener(): Promise<void> {
  while (!stopping) {
    const ack = openQueue.shift();
    if (!ack) {
      await sleep(20);
      continue;
    }
    // A quarter of the pages are opened twice at once (two tabs).
    const opens = Math.random() < 0.25 ? 2 : 1;
    const answers = await Promise.all(Array.from({ length: opens }, () => call('page', 'GET', `${baseUrl}/pay/${ack.id}`)));
    for (const a of answers) expectStatus('page', a, [200, 303]);
    const page = answers.find((a) => a.kind === 'answer' && a.status === 200);
    if (page?.kind === 'answer' && Math.random() < 0.1 && paidBudgetLeft()) {
      const token = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1];
      const setCookie = page.headers['set-cookie'];
      const cookie = (Array.isArray(setCookie) ? setCookie : [setCookie ?? ''])
        .map((c) => c.split(';')[0])
        .filter((c) => c?.startsWith('kasa_csrf='))
        .join('; ');
      if (token && cookie) {
        paidPresses.push(Date.now());
        const paid = await call('paid', 'POST', `${baseUrl}/pay/${ack.id}/paid`, { headers: { cookie }, form: { _csrf: token } });
        expectStatus('paid', paid, [303]);
      }
    }
    if (answers.every((a) => a.kind !== 'answer')) {
      openQueue.push(ack); // the customer reloads
      await sleep(100);
    }
  }
}

async function confirmer(trader: Trader): Promise<void> {
  const decided = new Set<string>();
  while (!stopping) {
    const toConfirm: string[] = [];
    for (const status of ['awaiting_payment', 'customer_paid']) {
      const list = await call('deal-list', 'GET', `${baseUrl}/api/v1/trader/deals?status=${status}&limit=100`, { headers: { 'x-api-key': trader.apiKey } });
      expectStatus('deal-list', list, [200]);
      if (list.kind !== 'answer' || list.status !== 200) continue;
      for (const deal of list.json.items as { deal_id: string }[]) {
        if (decided.has(deal.deal_id)) continue;
        decided.add(deal.deal_id);
        if (Math.random() < CONFIRM_PROBABILITY) toConfirm.push(deal.deal_id);
      }
    }
    await Promise.all(
      toConfirm.map(async (dealId) => {
        // Some confirms are sent twice at once (a double click): one may win, never both.
        const doubled = Math.random() < 0.15;
        const answers = await Promise.all(
          Array.from({ length: doubled ? 2 : 1 }, () =>
            call('confirm', 'POST', `${baseUrl}/api/v1/trader/deals/${dealId}/confirm`, { headers: { 'x-api-key': trader.apiKey } }),
          ),
        );
        for (const answer of answers) {
          confirms.push({ dealId, trader, answer, doubled });
          expectStatus('confirm', answer, [200, 409]);
        }
        // No answer: the trader will press again (the deal is decided anew on the next list).
        if (answers.every((a) => a.kind !== 'answer')) decided.delete(dealId);
      }),
    );
    await sleep(150);
  }
}

async function canceller(): Promise<void> {
  while (!stopping) {
    await sleep(CANCEL_INTERVAL_MS);
    // Mostly recent invoices (likely still pending), some old ones (final: 409).
    const ack = Math.random() < 0.8 ? pick(acked.slice(-300)) : pick(acked);
    if (!ack) continue;
    const answer = await call('cancel', 'POST', `${baseUrl}/api/v1/invoices/${ack.id}/cancel`, { headers: { 'x-api-key': ack.merchant.apiKey } });
    cancels.push({ invoiceId: ack.id, merchant: ack.merchant, answer });
    expectStatus('cancel', answer, [200, 409]);
  }
}

async function settingsSwitch(): Promise<void> {
  await sleep(SHORT_TTL_PHASE_MS);
  await admin('PATCH', '/admin/v1/settings', { invoice_ttl_minutes: 20 });
}

async function killer(): Promise<void> {
  for (let k = 0; k < KILLS; k++) {
    await sleep(random(KILL_GAP_MS[0], KILL_GAP_MS[1]));
    const victim = kasa!;
    const atMs = Date.now() - loadStarted;
    killedByUs.add(victim.pid);
    await victim.kill();
    lastSpawnAt = Date.now();
    const started = Date.now();
    kasa = watched(KasaProcess.spawn(victim.options));
    await kasa.ready(READY_TIMEOUT_MS);
    kills.push({ pid: victim.pid, atMs, restartMs: Date.now() - started });
    process.stdout.write(
      `kill -9 #${k + 1} of pid ${victim.pid} at ${(atMs / 1000).toFixed(1)} s; restarted as pid ${kasa.pid}, ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
  }
}

async function runLoad(merchants: Merchant[], traders: Trader[]): Promise<void> {
  loadStarted = Date.now();
  const counter = { n: 0 };
  const workers = [
    ...Array.from({ length: CREATORS }, () => creator(merchants, counter)),
    ...Array.from({ length: PAGE_OPENERS }, () => pageOpener()),
    ...traders.map((t) => confirmer(t)),
    canceller(),
  ];
  const control = Promise.all([killer(), settingsSwitch()]);
  let controlError: unknown = null;
  await control.catch((error: unknown) => (controlError = error));
  const minEnd = Math.max(loadStarted + LOAD_MIN_MS, Date.now() + LOAD_AFTER_LAST_RESTART_MS);
  if (!controlError) await sleep(minEnd - Date.now());
  stopping = true;
  await Promise.all(workers);
  if (controlError) throw controlError;
}

// ---------------------------------------------------------------------------------------------
// Verification

// What an invoice's lifecycle may change after create-invoice answered: its state, when and how much was paid, and why.
const INVOICE_FIELDS_MOVING = new Set(['status', 'paid_at', 'paid_amount', 'status_detail']);
const STATUS_DETAILS: Record<string, (string | null)[]> = {
  pending: [null],
  success: [null, 'recalculated', 'paid_late', 'dispute_resolved'],
  expired: [null, 'customer_timeout', 'no_trader'],
  cancelled: [null, 'merchant_cancelled', 'operator'],
};

function sameFields(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => !INVOICE_FIELDS_MOVING.has(k) && JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

/** The fields of an invoice that come from its request (callback_url defaults to the merchant's webhook_url). */
function matchesRequest(invoice: Record<string, unknown>, body: Record<string, string>): string[] {
  const expected: Record<string, unknown> = {
    external_id: body.external_id,
    amount: body.amount,
    currency: body.currency_code,
    customer_id: body.customer_id,
    purpose: body.purpose ?? null,
    callback_url: body.callback_url ?? receiver!.url,
    success_url: body.success_url ?? null,
    fail_url: body.fail_url ?? null,
  };
  return Object.keys(expected).filter((k) => invoice[k] !== expected[k]);
}

/** JSON with sorted keys: equal for the same fields whatever their order. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'undefined';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  return `{${Object.keys(value)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
    .join(',')}}`;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

async function getInvoice(ack: { id: string; merchant: Merchant }): Promise<Answer> {
  return http.send('GET', `${baseUrl}/api/v1/invoices/${ack.id}`, { headers: { 'x-api-key': ack.merchant.apiKey } });
}

async function verify(merchants: Merchant[]): Promise<number> {
  let verified = 0;

  // 1. Unanswered create-invoice requests: the client's recovery path is to send the same body
  // again; a 409 names the invoice the first attempt created, a 200 means it had not.
  const unanswered = creates.filter((c) => !(c.answer.kind === 'answer' && c.answer.status === 200));
  const recovery = { present: 0, absent: 0, problems: [] as string[] };
  /** Invoices created by a request that got no answer, found by the retry's 409. */
  const recovered: string[] = [];
  await mapLimit(unanswered, 8, async (c) => {
    const rows = await query<{ id: string }>('SELECT id FROM invoices WHERE merchant_id = $1 AND external_id = $2', [c.merchant.id, c.body.external_id]);
    const present = rows[0]?.id ?? null;
    if (present && c.answer.kind === 'refused') recovery.problems.push(`${c.body.external_id}: refused (never sent) yet present`);
    let retry: Answer | null = null;
    for (let attempt = 0; attempt < 5 && retry?.kind !== 'answer'; attempt++) {
      retry = await http.send('POST', `${baseUrl}/api/v1/create-invoice`, { headers: { 'x-api-key': c.merchant.apiKey }, json: c.body });
    }
    if (retry?.kind !== 'answer') return void recovery.problems.push(`${c.body.external_id}: retry got no answer`);
    if (present) {
      recovery.present++;
      if (retry.status !== 409 || retry.json?.error?.code !== 'DUPLICATE_EXTERNAL_ID' || retry.json?.error?.details?.invoice_id !== present) {
        return void recovery.problems.push(`${c.body.external_id}: present as ${present}, retry answered ${retry.status} ${retry.text.slice(0, 200)}`);
      }
      const got = await getInvoice({ id: present, merchant: c.merchant });
      const diff = got.kind === 'answer' && got.status === 200 ? matchesRequest(got.json, c.body) : ['GET failed'];
      if (got.kind === 'answer' && got.status === 200) finalViews.set(present, got.json);
      if (diff.length) recovery.problems.push(`${present}: stored invoice differs from its request in ${diff.join(', ')}`);
      recovered.push(present);
    } else {
      recovery.absent++;
      if (retry.status !== 200) return void recovery.problems.push(`${c.body.external_id}: absent, retry answered ${retry.status} ${retry.text.slice(0, 200)}`);
      acked.push({ id: retry.json.invoice_id, merchant: c.merchant, response: retry.json, body: c.body });
    }
  });
  check(
    'every unanswered create-invoice is absent or present, and its retry answers 409 with its invoice_id when present (200 when absent)',
    recovery.problems.length === 0,
    `${unanswered.length} unanswered: ${recovery.present} present (409), ${recovery.absent} absent (created by the retry)${recovery.problems.length ? '; ' + sample(recovery.problems) : ''}`,
  );
  verified += unanswered.length - recovery.problems.length;

  // 2. Every acknowledged invoice exists with the fields it was acknowledged with.
  const ackProblems: string[] = [];
  await mapLimit(acked, 16, async (ack) => {
    const got = await getInvoice(ack);
    if (got.kind !== 'answer' || got.status !== 200) return void ackProblems.push(`${ack.id}: ${got.kind === 'answer' ? got.status : got.error}`);
    finalViews.set(ack.id, got.json);
    const diff = [...sameFields(ack.response, got.json), ...matchesRequest(got.json, ack.body)];
    const moved = got.json.status;
    if (!['pending', 'success', 'expired', 'cancelled'].includes(moved)) diff.push(`status ${moved}`);
    if ((moved === 'success') !== (got.json.paid_at !== null)) diff.push(`paid_at ${got.json.paid_at} with status ${moved}`);
    if ((moved === 'success') !== (got.json.paid_amount !== null)) diff.push(`paid_amount ${got.json.paid_amount} with status ${moved}`);
    if (!STATUS_DETAILS[moved]?.includes(got.json.status_detail)) diff.push(`status_detail ${got.json.status_detail} with status ${moved}`);
    if (diff.length) ackProblems.push(`${ack.id}: differs in ${[...new Set(diff)].join(', ')}`);
  });
  const dupes = await query('SELECT merchant_id, external_id, count(*) AS n FROM invoices GROUP BY 1, 2 HAVING count(*) > 1');
  const total = await query<{ n: string }>('SELECT count(*) AS n FROM invoices');
  check(
    'every create-invoice that got a 200 exists with identical fields (only status, paid_at, paid_amount, status_detail moved on); no external_id twice',
    ackProblems.length === 0 && dupes.length === 0 && Number(total[0]!.n) === acked.length + recovered.length,
    `${acked.length} acknowledged (with the retries' 200s) + ${recovered.length} recovered by a 409, ${total[0]!.n} in the database${ackProblems.length ? '; ' + sample(ackProblems) : ''}${dupes.length ? '; duplicates ' + sample(dupes) : ''}`,
  );
  verified += acked.length - ackProblems.length;

  // 3. Every confirm that got a 200 left a success invoice with exactly one credit.
  const okConfirms = confirms.filter((c) => c.answer.kind === 'answer' && c.answer.status === 200);
  const okDealIds = [...new Set(okConfirms.map((c) => c.dealId))];
  const confirmRows = await query<{ id: string; status: string; invoice_status: string; credits: string; credited: string | null; merchant_usdt: string }>(
    `SELECT d.id, d.status, i.status AS invoice_status, d.merchant_usdt,
            (SELECT count(*) FROM transfers t WHERE t.ref = d.id AND t.kind = 'deal_credit') AS credits,
            (SELECT sum(amount) FROM transfers t WHERE t.ref = d.id AND t.kind = 'deal_credit') AS credited
       FROM deals d JOIN invoices i ON i.id = d.invoice_id WHERE d.id = ANY($1::uuid[])`,
    [okDealIds],
  );
  const confirmProblems = confirmRows
    .filter((r) => r.status !== 'completed' || r.invoice_status !== 'success' || r.credits !== '1' || r.credited !== r.merchant_usdt)
    .map((r) => `${r.id}: deal ${r.status}, invoice ${r.invoice_status}, ${r.credits} credits`);
  if (confirmRows.length !== okDealIds.length) confirmProblems.push(`${okDealIds.length - confirmRows.length} confirmed deals missing`);
  const twice = okDealIds.filter((id) => okConfirms.filter((c) => c.dealId === id).length > 1);
  if (twice.length) confirmProblems.push(`confirmed twice (two 200s): ${sample(twice)}`);
  const badBodies = okConfirms.filter((c) => c.answer.kind === 'answer' && (c.answer.json?.status !== 'completed' || c.answer.json?.deal_id !== c.dealId));
  if (badBodies.length) confirmProblems.push(`200 bodies not completed: ${badBodies.length}`);
  const doubled = confirms.filter((c) => c.doubled).length / 2;
  check(
    'every confirm that got a 200 left a success invoice with exactly one credit of merchant_usdt',
    confirmProblems.length === 0,
    `${okDealIds.length} confirmed (${confirms.length} confirms sent, ${doubled} double-sent pairs)${confirmProblems.length ? '; ' + sample(confirmProblems) : ''}`,
  );
  verified += okDealIds.length - confirmProblems.length;

  // Cancels that got a 200 stay cancelled.
  const okCancels = cancels.filter((c) => c.answer.kind === 'answer' && c.answer.status === 200);
  const cancelRows = await query<{ id: string; status: string }>('SELECT id, status FROM invoices WHERE id = ANY($1::uuid[])', [
    okCancels.map((c) => c.invoiceId),
  ]);
  const cancelProblems = cancelRows.filter((r) => r.status !== 'cancelled').map((r) => `${r.id}: ${r.status}`);
  if (cancelRows.length !== new Set(okCancels.map((c) => c.invoiceId)).size) cancelProblems.push('cancelled invoices missing');
  check(
    'every cancel that got a 200 left a cancelled invoice',
    cancelProblems.length === 0,
    `${okCancels.length} cancelled${cancelProblems.length ? '; ' + sample(cancelProblems) : ''}`,
  );
  verified += okCancels.length - cancelProblems.length;

  // 4. No double credit anywhere; every invoice's money matches its final state.
  const doubleCredits = await query(
    `SELECT d.invoice_id, count(*) AS n FROM transfers t JOIN deals d ON d.id = t.ref WHERE t.kind = 'deal_credit' GROUP BY d.invoice_id HAVING count(*) > 1`,
  );
  check('no invoice has two credits (SQL count of deal_credit per invoice)', doubleCredits.length === 0, doubleCredits.length ? sample(doubleCredits) : '');

  const flow = await query<{ id: string; status: string; deal_status: string | null; locks: string; releases: string; credits: string; revenues: string }>(
    `SELECT i.id, i.status, d.status AS deal_status,
            count(t.id) FILTER (WHERE t.kind = 'deal_lock') AS locks,
            count(t.id) FILTER (WHERE t.kind = 'deal_release') AS releases,
            count(t.id) FILTER (WHERE t.kind = 'deal_credit') AS credits,
            count(t.id) FILTER (WHERE t.kind = 'deal_revenue') AS revenues
       FROM invoices i LEFT JOIN deals d ON d.invoice_id = i.id LEFT JOIN transfers t ON t.ref = d.id
      GROUP BY i.id, i.status, d.status`,
  );
  const expectedFlow: Record<string, (r: (typeof flow)[number]) => boolean> = {
    pending: (r) =>
      r.deal_status === null || (['awaiting_payment', 'customer_paid'].includes(r.deal_status) && r.locks === '1' && r.releases === '0' && r.credits === '0'),
    success: (r) => r.deal_status === 'completed' && r.locks === '1' && r.releases === '0' && r.credits === '1' && Number(r.revenues) <= 1,
    // A deal whose customer said they paid keeps its lock past expiry, confirmable late until the sweep releases it.
    expired: (r) =>
      r.deal_status === null ||
      (r.deal_status === 'expired' && r.locks === '1' && r.releases === '1' && r.credits === '0') ||
      (r.deal_status === 'customer_paid' && r.locks === '1' && r.releases === '0' && r.credits === '0'),
    cancelled: (r) => r.deal_status === null || (r.deal_status === 'cancelled' && r.locks === '1' && r.releases === '1' && r.credits === '0'),
  };
  const flowProblems = flow.filter((r) => !expectedFlow[r.status]?.(r));
  const byStatus = Object.fromEntries(['pending', 'success', 'expired', 'cancelled'].map((s) => [s, flow.filter((r) => r.status === s).length]));
  const withDeal = flow.filter((r) => r.deal_status !== null).length;
  check(
    "every invoice's deal and transfers match its state (one lock per deal; success: one credit, no release; expired/cancelled: one release, no credit, or the lock kept for a late confirm)",
    flowProblems.length === 0,
    `${JSON.stringify(byStatus)}, ${withDeal} with a deal${flowProblems.length ? '; ' + sample(flowProblems) : ''}`,
  );
  check('expiry was exercised: invoices expired during the run, under the kills', byStatus.expired! > 0, `${byStatus.expired} expired`);

  // 5. The ledger.
  const report = await admin('GET', '/admin/v1/ledger/verify');
  check('GET /admin/v1/ledger/verify is ok', report?.ok === true, JSON.stringify(report).slice(0, 300));
  const cli = await kasaCli(['ledger', 'verify'], { KASA_URL: baseUrl, ADMIN_TOKEN });
  check('kasa ledger verify exits 0', cli.code === 0, `exit ${cli.code}${cli.code ? ': ' + (cli.stdout + cli.stderr).slice(0, 300) : ''}`);

  const [sums] = await query<{ balances: string | null; owed: string | null }>(
    `SELECT (SELECT coalesce(sum(balance), 0) FROM accounts WHERE id LIKE 'merchant:%') AS balances,
            (SELECT coalesce(sum(merchant_usdt), 0) FROM invoices WHERE status = 'success') AS owed`,
  );
  const perMerchant: string[] = [];
  for (const m of merchants) {
    const [row] = await query<{ owed: string }>(`SELECT coalesce(sum(merchant_usdt), 0) AS owed FROM invoices WHERE status = 'success' AND merchant_id = $1`, [
      m.id,
    ]);
    const balance = await http.send('GET', `${baseUrl}/api/v1/balance`, { headers: { 'x-api-key': m.apiKey } });
    const owed = BigInt(row!.owed);
    const want = `${owed / 1_000_000n}.${String((owed % 1_000_000n) / 10_000n).padStart(2, '0')}`;
    const got = balance.kind === 'answer' ? balance.json?.available : balance.error;
    if (got !== want || owed % 10_000n !== 0n) perMerchant.push(`merchant ${m.id}: balance ${got}, success invoices ${want}`);
  }
  check(
    'the sum of merchant balances equals the sum of merchant_usdt over success invoices, to the micro-USDT',
    sums!.balances === sums!.owed && perMerchant.length === 0,
    `${sums!.balances} = ${sums!.owed} micro-USDT${perMerchant.length ? '; ' + perMerchant.join('; ') : ''}`,
  );
  const lockedOff = await query(
    `SELECT a.id, a.balance, coalesce(o.cost, 0) AS open_cost
       FROM accounts a
       LEFT JOIN (SELECT 'trader:' || trader_id || ':locked' AS id, sum(trader_cost) AS cost FROM deals
                   WHERE status IN ('awaiting_payment', 'customer_paid') GROUP BY trader_id) o ON o.id = a.id
      WHERE a.id LIKE 'trader:%:locked' AND a.balance <> coalesce(o.cost, 0)`,
  );
  check("each trader's locked balance equals the trader_cost of its open deals", lockedOff.length === 0, lockedOff.length ? sample(lockedOff) : '');

  // 6. Webhooks: one event per final invoice, and each reached the receiver, validly signed.
  const events = await query<{
    invoice_id: string;
    status: string;
    status_detail: string | null;
    merchant_id: string;
    callback_url: string | null;
    n: string;
    ids: string[];
    types: string[];
  }>(
    `SELECT i.id AS invoice_id, i.status, i.status_detail, i.merchant_id, i.callback_url, count(e.id) AS n,
            coalesce(array_agg(e.id::text ORDER BY e.created_at, e.type <> 'invoice.processing') FILTER (WHERE e.id IS NOT NULL), '{}') AS ids,
            coalesce(array_agg(e.type ORDER BY e.created_at, e.type <> 'invoice.processing') FILTER (WHERE e.id IS NOT NULL), '{}') AS types
       FROM invoices i LEFT JOIN events e ON e.invoice_id = i.id GROUP BY i.id`,
  );
  // invoice.processing (the customer said they paid) may come first; then one event of the final type, none while pending.
  const finalTypes = (r: (typeof events)[number]) => r.types.filter((t) => t !== 'invoice.processing');
  const eventProblems = events
    .filter((r) => {
      const finals = finalTypes(r);
      const processing = r.types.indexOf('invoice.processing');
      if (r.status === 'pending') return finals.length !== 0;
      // A late confirm (or a dispute decided for the merchant) is the one way out of a final state: success after expired.
      const reopened = r.status === 'success' && ['paid_late', 'dispute_resolved'].includes(r.status_detail ?? '');
      const expected = reopened && finals.length === 2 ? [['invoice.expired', 'invoice.cancelled'], ['invoice.success']] : [[`invoice.${r.status}`]];
      return finals.length !== expected.length || finals.some((t, i) => !expected[i]!.includes(t)) || processing > 0;
    })
    .map((r) => `${r.invoice_id} (${r.status}): ${r.types.join(',') || 'no event'}`);
  check(
    'every final invoice has exactly one event of its final type (success after expired only when paid late), after an optional invoice.processing; pending ones none but that',
    eventProblems.length === 0,
    eventProblems.length ? sample(eventProblems) : '',
  );

  const secrets = new Map(merchants.map((m) => [m.id, m.secret]));
  const ownerOf = new Map(events.map((e) => [e.invoice_id, e.merchant_id]));
  const validById = new Map<string, Received[]>();
  const invalid: string[] = [];
  for (const r of receiver!.received) {
    const id = String(r.headers['webhook-id']);
    const body = JSON.parse(r.body) as { data?: { invoice_id?: string } };
    const owner = ownerOf.get(body.data?.invoice_id ?? '');
    try {
      new Webhook(secrets.get(owner ?? '') ?? '').verify(r.body, Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, String(v)])));
      validById.set(id, [...(validById.get(id) ?? []), r]);
    } catch {
      invalid.push(id);
    }
  }
  const webhookProblems: string[] = [];
  let finals = 0;
  for (const r of events) {
    const finalId = r.ids[r.types.indexOf(`invoice.${r.status}`)];
    if (r.status === 'pending' || !finalId) continue;
    finals++;
    const processingId = r.ids[r.types.indexOf('invoice.processing')];
    if (processingId && !validById.get(processingId)?.some((g) => (JSON.parse(g.body) as { type: string }).type === 'invoice.processing')) {
      webhookProblems.push(`${r.invoice_id}: invoice.processing ${processingId} never received with a valid signature`);
    }
    const got = validById.get(finalId);
    if (!got?.length) {
      webhookProblems.push(`${r.invoice_id} (${r.status}): event ${finalId} never received with a valid signature`);
      continue;
    }
    const target = new URL(r.callback_url ?? 'http://invalid/');
    const expectedPath = target.pathname + target.search;
    for (const g of got) {
      const body = JSON.parse(g.body) as { id: string; type: string; data: { invoice_id: string; status: string } };
      // The event carries the invoice as the merchant API shows it once final.
      const view = finalViews.get(r.invoice_id);
      if (body.id !== finalId || body.type !== `invoice.${r.status}` || canonical(body.data) !== canonical(view) || g.path !== expectedPath) {
        webhookProblems.push(`${r.invoice_id}: received ${g.path} ${g.body.slice(0, 200)}`);
      }
    }
  }
  const deliveries = await query<{ status: string; n: string }>('SELECT status, count(*) AS n FROM deliveries GROUP BY status');
  check(
    "every final invoice's event reached the receiver at least once with a valid signature (right target, right body)",
    webhookProblems.length === 0 && invalid.length === 0,
    `${finals} final invoices, ${receiver!.received.length} requests received for ${validById.size} events, deliveries ${JSON.stringify(Object.fromEntries(deliveries.map((d) => [d.status, Number(d.n)])))}` +
      `${invalid.length ? `; ${invalid.length} with a bad signature: ${sample(invalid)}` : ''}${webhookProblems.length ? '; ' + sample(webhookProblems) : ''}`,
  );
  verified += finals - webhookProblems.length;

  // 7. Nothing but the documented answers during the load.
  check('no unexpected status during the load (no 5xx)', unexpected.length === 0, unexpected.length ? sample(unexpected, 6) : '');
  check('no Kasa process exited but by our kill -9', unexpectedExits.length === 0, unexpectedExits.join('; '));
  return verified;
}

/** Waits, bounded, for the workers: pending invoices past expires_at expired, every delivery delivered. */
async function drain(): Promise<void> {
  const expiryDeadline = Date.now() + EXPIRY_WAIT_MS;
  let due = -1;
  while (Date.now() < expiryDeadline) {
    due = Number((await query<{ n: string }>(`SELECT count(*) AS n FROM invoices WHERE status = 'pending' AND expires_at <= now()`))[0]!.n);
    if (due === 0) break;
    await sleep(250);
  }
  check('the expiry worker made every due invoice expired', due === 0, `${due} pending past expires_at`);

  // A killed process's delivery leases lapse LEASE_MS after its claim; rather than wait that
  // long, make those of the dead processes lapse now, as time would. The live process's leases
  // (taken after it was spawned) are left alone.
  const lapsed = await pool!.query(
    `UPDATE deliveries SET lease_until = lease_until - make_interval(secs => $2::double precision / 1000)
      WHERE status = 'pending' AND lease_until IS NOT NULL AND lease_until < $1::timestamptz + make_interval(secs => $2::double precision / 1000)`,
    [new Date(lastSpawnAt).toISOString(), LEASE_MS],
  );
  const deadline = Date.now() + DRAIN_WAIT_MS;
  let left: { status: string; n: string }[] = [];
  while (Date.now() < deadline) {
    left = await query(`SELECT status, count(*) AS n FROM deliveries WHERE status <> 'delivered' GROUP BY status`);
    if (left.length === 0) break;
    await sleep(250);
  }
  const stuck = left.length
    ? await query(`SELECT event_id, status, attempts, next_attempt_at, lease_until, last_error FROM deliveries WHERE status <> 'delivered' LIMIT 3`)
    : [];
  check(
    'every webhook delivery was delivered (workers drained)',
    left.length === 0,
    `${lapsed.rowCount} leases of killed processes lapsed${left.length ? `; left: ${JSON.stringify(left)} ${JSON.stringify(stuck)}` : ''}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Main

async function cleanUp(): Promise<void> {
  stopping = true;
  killedByUs.add(kasa?.pid);
  await kasa?.stop(5_000).catch(() => undefined);
  killAllKasaProcesses();
  await receiver?.close().catch(() => undefined);
  await http.close().catch(() => undefined);
  await pool?.end().catch(() => undefined);
  if (process.env.CRASH_KEEP_DATABASE) process.stdout.write('database kept (CRASH_KEEP_DATABASE)\n');
  else await dropDatabase().catch((error: unknown) => process.stderr.write(`could not drop the database: ${String(error)}\n`));
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const started = Date.now();
  const watchdog = setTimeout(() => {
    if (finished) return;
    check(`the run finishes within ${TOTAL_BOUND_MS / 1000} s`, false, 'time bound exceeded');
    process.stdout.write(`${summaryLine()}\n`);
    killAllKasaProcesses();
    process.exit(1);
  }, TOTAL_BOUND_MS);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killedByUs.add(kasa?.pid);
      killAllKasaProcesses();
      check('the run completes', false, `interrupted by ${signal}`);
      process.stdout.write(`${summaryLine()}\n`);
      // Drop the database if that is quick; exit regardless.
      const tidy = Promise.all([dropDatabase().catch(() => undefined), dataDir ? rm(dataDir, { recursive: true, force: true }) : null]);
      void Promise.race([tidy, sleep(5_000)]).finally(() => process.exit(1));
    });
  }

  try {
    process.stdout.write(`crash test on ${SERVER_URL.replace(/\/\/[^@/]*@/, '//')}: ${KILLS} kills, load ≥ ${LOAD_MIN_MS / 1000} s\n`);
    const { merchants, traders } = await setUp();
    process.stdout.write(`kasa pid ${kasa!.pid} on ${baseUrl}, ready ${((Date.now() - started) / 1000).toFixed(1)} s after start\n`);
    await runLoad(merchants, traders);
    const loadSeconds = (Date.now() - loadStarted) / 1000;
    check(`Kasa was killed with kill -9 ${KILLS} times and restarted each time`, kills.length === KILLS && kasa!.running, `${kills.length} kills`);
    await drain();
    const verified = await verify(merchants);
    const kinds = [...counts.byKind].map(([k, c]) => `${k} ${c.sent} (${c.answered} answered, ${c.refused} refused, ${c.lost} lost)`).join('; ');
    const acknowledged = creates.filter((c) => c.answer.kind === 'answer' && c.answer.status === 200).length;
    const okConfirms = confirms.filter((c) => c.answer.kind === 'answer' && c.answer.status === 200).length;
    const okCancels = cancels.filter((c) => c.answer.kind === 'answer' && c.answer.status === 200).length;
    process.stdout.write(
      `\nload ${loadSeconds.toFixed(1)} s; requests: ${counts.requests} — ${kinds}\n` +
        `kills: ${kills.length} (at ${kills.map((k) => (k.atMs / 1000).toFixed(1) + ' s').join(', ')}; restarts ready in ${kills.map((k) => (k.restartMs / 1000).toFixed(1)).join(', ')} s)\n` +
        `acknowledged: ${acknowledged + okConfirms + okCancels} (create-invoice ${acknowledged}, confirm ${okConfirms}, cancel ${okCancels})\n` +
        `verified: ${verified} (acknowledged and recovered invoices, confirms, cancels, delivered events)\n`,
    );
  } catch (error) {
    check('the run completes', false, error instanceof Error ? (error.stack ?? error.message) : String(error));
    if (kasa) process.stdout.write(`kasa stderr (last lines): ${kasa.stderr.slice(-1500)}\n`);
  } finally {
    await cleanUp();
  }
  finished = true;
  clearTimeout(watchdog);
  process.stdout.write(`total ${((Date.now() - started) / 1000).toFixed(1)} s\n${summaryLine()}\n`);
  process.exit(results.every((r) => r.ok) && results.length > 0 ? 0 : 1);
}

await main();
