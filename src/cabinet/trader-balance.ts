// The trader's money: what is available, locked by open deals, in insurance and on hold for a
// withdrawal (the same numbers as GET /api/v1/trader/balance), and the history of one of those
// accounts from the ledger (as GET /api/v1/trader/balance/transactions reads it), newest first,
// filtered by dates and kind, a page at a time.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isoSeconds } from '../clock.ts';
import { KasaError } from '../errors.ts';
import { textResponse } from '../http/schemas.ts';
import { LANG_QUERY } from './forms.ts';
import { model, optional, string, type KasaApp } from '../http/validation.ts';
import { TRADER_STATEMENT_ACCOUNTS, type TransferKind } from '../ledger/accounts.ts';
import type { StatementEntry, Statements } from '../ledger/statements.ts';
import { formatSignedUsdt, formatUsdt } from '../money.ts';
import type { TraderBalance, Traders } from '../traders/service.ts';
import { html, notice, type Frame, type Html } from './layout.ts';
import type { CabinetKit } from './plugin.ts';
import { traderNav } from './trader-nav.ts';

/** Movements on one page of the history. */
const HISTORY_PAGE_SIZE = 50;
const CURSOR_CHARS_MAX = 200;
const DAY_MS = 24 * 60 * 60 * 1000;

type Account = (typeof TRADER_STATEMENT_ACCOUNTS)[number];

const en = {
  title: 'Balance',
  available: 'Available',
  locked: 'Locked by open deals',
  insurance: 'Insurance',
  onHold: 'On hold for withdrawals',
  eligible: 'You get new deals.',
  disabled: 'Your account is switched off: no new deals. Ask an operator.',
  insuranceLow: 'Your insurance is below the minimum: no new deals until it is topped up.',
  history: 'History',
  account: 'Account',
  kind: 'Kind',
  anyKind: 'Any',
  from: 'From (UTC date)',
  to: 'To (UTC date, inclusive)',
  show: 'Show',
  when: 'When (UTC)',
  amount: 'Amount, USDT',
  after: 'Balance after, USDT',
  ref: 'Deal / reference',
  none: 'No movements here.',
  next: 'Older movements',
  badDate: 'A date must be a day as YYYY-MM-DD, e.g. 2026-12-03.',
  badFilter: 'Choose an account and a kind from the lists.',
  accounts: { available: 'Available', locked: 'Locked', insurance: 'Insurance', withdrawal_hold: 'Withdrawal hold' },
  kinds: {
    deposit: 'Deposit by the operator',
    topup: 'Top-up',
    deal_lock: 'Locked for a deal',
    deal_release: 'Released from a deal',
    deal_credit: 'Paid to the merchant',
    deal_revenue: 'Platform’s share',
    withdrawal_hold: 'Withdrawal requested',
    withdrawal_payout: 'Withdrawal paid out',
    withdrawal_fee: 'Withdrawal fee',
    withdrawal_release: 'Withdrawal returned',
    insurance_lock: 'Into insurance',
    insurance_release: 'Out of insurance',
    dispute_hold: 'Held for a dispute',
    dispute_release: 'Released after a dispute',
  },
} as const;

type Strings = {
  readonly [K in keyof typeof en]: K extends 'accounts' ? Record<Account, string> : K extends 'kinds' ? Record<TransferKind, string> : string;
};

const uk: Strings = {
  title: 'Баланс',
  available: 'Доступно',
  locked: 'Заблоковано відкритими угодами',
  insurance: 'Страховий депозит',
  onHold: 'Утримано для виведення',
  eligible: 'Ви отримуєте нові угоди.',
  disabled: 'Ваш обліковий запис вимкнено: нових угод немає. Зверніться до оператора.',
  insuranceLow: 'Страховий депозит нижчий за мінімум: нових угод не буде, доки його не поповнено.',
  history: 'Історія',
  account: 'Рахунок',
  kind: 'Вид',
  anyKind: 'Будь-який',
  from: 'Від (дата UTC)',
  to: 'До (дата UTC, включно)',
  show: 'Показати',
  when: 'Коли (UTC)',
  amount: 'Сума, USDT',
  after: 'Баланс після, USDT',
  ref: 'Угода / підстава',
  none: 'Тут рухів немає.',
  next: 'Давніші рухи',
  badDate: 'Дата має бути днем у вигляді РРРР-ММ-ДД, напр. 2026-12-03.',
  badFilter: 'Оберіть рахунок і вид зі списків.',
  accounts: { available: 'Доступно', locked: 'Заблоковано', insurance: 'Страховий депозит', withdrawal_hold: 'Утримання для виведення' },
  kinds: {
    deposit: 'Поповнення оператором',
    topup: 'Поповнення',
    deal_lock: 'Заблоковано під угоду',
    deal_release: 'Повернуто з угоди',
    deal_credit: 'Сплачено мерчанту',
    deal_revenue: 'Частка платформи',
    withdrawal_hold: 'Запит на виведення',
    withdrawal_payout: 'Виведено',
    withdrawal_fee: 'Комісія за виведення',
    withdrawal_release: 'Виведення повернуто',
    insurance_lock: 'До страхового депозиту',
    insurance_release: 'Зі страхового депозиту',
    dispute_hold: 'Утримано для спору',
    dispute_release: 'Повернуто після спору',
  },
};

const STRINGS: Record<Frame['lang'], Strings> = { en, uk };
const KINDS = Object.keys(en.kinds) as TransferKind[];

type HistoryQuery = Partial<Record<'account' | 'kind' | 'from' | 'to' | 'cursor', string | undefined>>;

interface HistoryFilter {
  account: Account;
  kind: TransferKind | undefined;
  /** YYYY-MM-DD as typed, '' for none. */
  from: string;
  to: string;
  cursor: string | undefined;
}

/** A UTC day as the start of it; null if the text is not one. */
function dayOf(text: string): Date | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return null;
  const day = new Date(`${text}T00:00:00Z`);
  return Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== text ? null : day;
}

/** The query string of a filter, for the next page's link. */
function queryOf(f: HistoryFilter, cursor: string): string {
  const params = new URLSearchParams({ account: f.account });
  if (f.kind) params.set('kind', f.kind);
  if (f.from) params.set('from', f.from);
  if (f.to) params.set('to', f.to);
  params.set('cursor', cursor);
  return params.toString();
}

export async function traderBalanceRoutes(app: KasaApp, kit: CabinetKit, { traders, statements }: { traders: Traders; statements: Statements }) {
  const onlyTraders = kit.requireUser(['trader']);
  const page = (d: string) => textResponse('text/html', d);
  const filterText = (description: string, max = 32) => optional(string({ max, description }));
  const historyQuery = model({
    lang: LANG_QUERY,
    account: filterText('available (default), locked, insurance or withdrawal_hold'),
    kind: filterText('Only movements of this kind (deal_lock, deposit…)'),
    from: filterText('First UTC day, YYYY-MM-DD'),
    to: filterText('Last UTC day, YYYY-MM-DD (inclusive)'),
    cursor: filterText('The next page of the history', CURSOR_CHARS_MAX),
  });

  function balances(frame: Frame, b: TraderBalance): Html {
    const s = STRINGS[frame.lang];
    const item = (label: string, micro: bigint, name: string) => html`<div><dt>${label}</dt><dd data-balance="${name}">${formatUsdt(micro, 2)} USDT</dd></div>`;
    return html`<dl class="balances">
${item(s.available, b.available, 'available')}
${item(s.locked, b.locked, 'locked')}
${item(s.insurance, b.insurance, 'insurance')}
${item(s.onHold, b.onHold, 'on_hold')}
</dl>
${b.eligible ? html`<p class="lead">${s.eligible}</p>` : notice('bad', b.reason === 'disabled' ? s.disabled : s.insuranceLow)}`;
  }

  function filters(frame: Frame, f: HistoryFilter): Html {
    const s = STRINGS[frame.lang];
    const option = (value: string, label: string, selected: boolean) => html`<option value="${value}"${selected ? html` selected` : null}>${label}</option>`;
    return html`<form method="get" action="/trader/balance" class="filters">
<label for="account">${s.account}<select id="account" name="account">${TRADER_STATEMENT_ACCOUNTS.map((a) => option(a, s.accounts[a], a === f.account))}</select></label>
<label for="kind">${s.kind}<select id="kind" name="kind">${option('', s.anyKind, f.kind === undefined)}${KINDS.map((k) => option(k, s.kinds[k], k === f.kind))}</select></label>
<label for="from">${s.from}<input id="from" name="from" type="date" value="${f.from}"></label>
<label for="to">${s.to}<input id="to" name="to" type="date" value="${f.to}"></label>
<button type="submit" class="secondary">${s.show}</button>
</form>`;
  }

  function history(frame: Frame, entries: StatementEntry[]): Html {
    const s = STRINGS[frame.lang];
    if (!entries.length) return html`<p>${s.none}</p>`;
    const kindLabel = (kind: string) => (kind in s.kinds ? s.kinds[kind as TransferKind] : kind);
    return html`<div class="table-wrap"><table>
<thead><tr><th scope="col">${s.when}</th><th scope="col">${s.kind}</th><th scope="col" class="num">${s.amount}</th><th scope="col" class="num">${s.after}</th><th scope="col">${s.ref}</th></tr></thead>
<tbody>${entries.map(
      (e) => html`<tr data-transfer="${String(e.transferId)}">
<td>${isoSeconds(e.createdAt).replace('T', ' ').replace('Z', '')}</td>
<td>${kindLabel(e.kind)}</td>
<td class="num">${formatSignedUsdt(e.amount)}</td>
<td class="num">${formatUsdt(e.balanceAfter, 2)}</td>
<td><code>${(e.invoiceId ?? e.ref ?? '').slice(0, 8)}</code></td>
</tr>`,
    )}</tbody>
</table></div>`;
  }

  /** The query as a filter; a value no list offers, or a date that is not one, is the trader's to fix. */
  function filterOf(q: HistoryQuery, s: Strings): HistoryFilter {
    const account = q.account || 'available';
    const kind = q.kind || undefined;
    if (!(TRADER_STATEMENT_ACCOUNTS as readonly string[]).includes(account) || (kind !== undefined && !(KINDS as string[]).includes(kind))) {
      throw new KasaError(400, 'FILTER_INVALID', s.badFilter);
    }
    const from = q.from ?? '';
    const to = q.to ?? '';
    if ((from && !dayOf(from)) || (to && !dayOf(to))) throw new KasaError(400, 'DATE_INVALID', s.badDate);
    return { account: account as Account, kind: kind as TransferKind | undefined, from, to, cursor: q.cursor || undefined };
  }

  async function showBalance(request: FastifyRequest, reply: FastifyReply, q: HistoryQuery) {
    const traderId = kit.userOf(request).trader_id!;
    const frame = kit.frame(request, reply);
    const s = STRINGS[frame.lang];
    const f = filterOf(q, s);
    const toDay = f.to ? dayOf(f.to) : null;
    const [balance, listed] = await Promise.all([
      traders.balance(traderId),
      statements.account(`trader:${traderId}:${f.account}`, {
        from: f.from ? (dayOf(f.from) ?? undefined) : undefined,
        to: toDay ? new Date(toDay.getTime() + DAY_MS) : undefined,
        kind: f.kind,
        limit: HISTORY_PAGE_SIZE,
        cursor: f.cursor,
      }),
    ]);
    return kit.sendPage(request, reply, {
      title: s.title,
      nav: traderNav(frame.lang),
      content: html`<h1>${s.title}</h1>
${balances(frame, balance)}
<h2>${s.history}: ${s.accounts[f.account]}</h2>
${filters(frame, f)}
${history(frame, listed.items)}
${listed.next_cursor ? html`<p class="pager"><a href="/trader/balance?${queryOf(f, listed.next_cursor)}">${s.next}</a></p>` : null}`,
    });
  }

  app.get(
    '/trader/balance',
    {
      schema: {
        summary: "The trader's balances and the history of one account, with filters (HTML)",
        operationId: 'getTraderCabinetBalance',
        tags: ['cabinets'],
        security: [],
        querystring: historyQuery.schema,
        response: { 200: page('The balance and its history'), 400: page('A filter is invalid'), 403: page('Not a trader') },
      },
      onRequest: onlyTraders,
    },
    async (request, reply) => showBalance(request, reply, request.query),
  );
}
