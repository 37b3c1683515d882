// The operator's traders: the register with balances a page at a time, create (its API key
// shown once), and a trader's page: its balances, a deposit (a decimal USDT amount with a
// reference, credited world → trader:available), disable / enable, its users (invite) and its
// cards (read). Each change is recorded in the audit log in the transaction that makes it.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { model, string, type KasaApp } from '../../http/validation.ts';
import { formatFiat, formatPercent, formatUsdt, microUsdt } from '../../money.ts';
import type { Users } from '../../people/users.ts';
import type { TraderBalance, Traders } from '../../traders/service.ts';
import { formText } from '../forms.ts';
import { fill } from '../i18n.ts';
import { csrfField, html, notice, postButton, type Frame, type Html } from '../layout.ts';
import type { CabinetKit } from '../plugin.ts';
import {
  changeWithAudit,
  consoleNav,
  CONSOLE_PAGE_ROWS,
  cursorOf,
  decimalField,
  figures,
  formInvalid,
  formSchema,
  NAME_CHARS_MAX,
  operatorStrings,
  pager,
  pageSchema,
  table,
} from './common.ts';
import { invite, inviteForm, usersTable } from './people.ts';
import type { OperatorStrings } from './strings.ts';

export interface TraderPagesOptions {
  db: Kysely<DB>;
  traders: Traders;
  users: Users;
}

const REFERENCE_CHARS_MAX = 200;
/** A deposit's amount: 2 decimals, as the admin API's USDT amounts, up to 12 whole digits. */
const DEPOSIT_WHOLE_DIGITS_MAX = 12;
const traderParams = model({ trader_id: string({ min: 1, max: 64 }) });

const usdt = (micro: bigint) => formatUsdt(micro, 2);
/** An operator sees a card's last four digits, as the admin API shows it masked. */
const lastFour = (card: string) => `•••• ${card.slice(-4)}`;

export function traderPages({ db, traders, users }: TraderPagesOptions) {
  return async function traderSection(app: KasaApp, kit: CabinetKit) {
    const onlyOperators = kit.requireUser(['operator']);
    const change = changeWithAudit(db, kit);
    const post = <P extends object>(operationId: string, summary: string, params?: P) => ({
      schema: formSchema(operationId, summary, params),
      onRequest: onlyOperators,
      preHandler: kit.csrf,
    });

    function balances(s: OperatorStrings, b: TraderBalance): Html {
      return figures([
        [s.available, usdt(b.available)],
        [s.locked, usdt(b.locked)],
        [s.insurance, usdt(b.insurance)],
        [s.onHold, usdt(b.onHold)],
        [s.eligible, b.eligible ? s.yes : `${s.no} (${b.reason ?? ''})`],
      ]);
    }

    function createForm(frame: Frame, s: OperatorStrings): Html {
      return html`<h2>${s.newTrader}</h2><form method="post" action="/admin/traders" class="stack">${csrfField(frame)}
<label for="t-name">${s.name}</label><input id="t-name" name="name" required maxlength="${NAME_CHARS_MAX}">
<label for="t-reward">${s.rewardPercent}</label><input id="t-reward" name="reward_percent" inputmode="decimal" value="1.00" required maxlength="6">
<button type="submit" class="primary">${s.createTrader}</button></form>`;
    }

    app.get(
      '/admin/traders',
      { schema: pageSchema('getConsoleTraders', 'The operator console: traders with their balances, a page at a time (HTML)'), onRequest: onlyOperators },
      async (request, reply) => {
        const frame = kit.frame(request, reply);
        const s = operatorStrings(kit, request);
        const cursor = cursorOf(request);
        const listed = await traders.list({ limit: CONSOLE_PAGE_ROWS, cursor });
        const rows = listed.items.map(
          (t) =>
            html`<tr><td><a href="/admin/traders/${t.id}">${t.name}</a></td><td>${t.status === 'active' ? s.active : s.disabled}</td><td class="num">${usdt(t.balance.available)}</td><td class="num">${usdt(t.balance.locked)}</td><td class="num">${usdt(t.balance.insurance)}</td><td>${t.balance.eligible ? s.yes : s.no}</td></tr>`,
        );
        return kit.sendPage(request, reply, {
          title: s.tradersTitle,
          nav: consoleNav(s),
          content: html`<h1>${s.tradersTitle}</h1>${table(s, [s.name, s.status, s.available, s.locked, s.insurance, s.eligible], rows, new Set([2, 3, 4]))}
${pager(frame.path, s, {}, listed.next_cursor, !cursor)}${createForm(frame, s)}`,
        });
      },
    );

    app.post('/admin/traders', post('postConsoleTrader', 'Create a trader (form: name, reward_percent)'), async (request, reply) => {
      const s = operatorStrings(kit, request);
      const name = formText(request.body, 'name', NAME_CHARS_MAX + 1).trim();
      if (!name || name.length > NAME_CHARS_MAX) throw formInvalid(s.badName);
      const reward = decimalField(request.body, 'reward_percent', { places: 2, wholeDigits: 2 });
      if (reward === null) throw formInvalid(s.badPercent);
      const created = await change(request, async (trx, record) => {
        const made = await traders.create({ name, reward_percent: reward }, trx);
        await record(trx, {
          action: 'trader.create',
          target: `trader:${made.trader.id}`,
          after: { name, reward_percent: made.trader.reward_percent, key_prefix: made.prefix },
        });
        return made;
      });
      return showTrader(
        request,
        reply,
        created.trader.id,
        html`${notice('good', s.traderCreated)}<p><strong>${s.apiKey}:</strong> <code class="secret">${created.apiKey}</code></p>`,
      );
    });

    async function showTrader(request: FastifyRequest, reply: FastifyReply, traderId: string, message: Html | null) {
      const frame = kit.frame(request, reply);
      const s = operatorStrings(kit, request);
      const trader = await traders.get(traderId);
      const cardCursor = cursorOf(request);
      const usersCursor = cursorOf(request, 'users_cursor');
      const [balance, cards, people] = await Promise.all([
        traders.balance(trader.id),
        traders.listRequisites(trader.id, { limit: CONSOLE_PAGE_ROWS, cursor: cardCursor }),
        users.list({ traderId: trader.id }, { limit: CONSOLE_PAGE_ROWS, cursor: usersCursor }),
      ]);
      const base = `/admin/traders/${trader.id}`;
      const cardRows = cards.items.map(
        (r) =>
          html`<tr><td>${r.bank_name}</td><td>${lastFour(r.card_number)}</td><td>${r.currency}</td><td>${r.active ? s.active : s.disabled}</td><td class="num">${r.daily_limit === null ? '—' : formatFiat(r.daily_limit)}</td></tr>`,
      );
      return kit.sendPage(request, reply, {
        title: trader.name,
        nav: consoleNav(s),
        content: html`<h1>${trader.name}</h1>${message}
<p class="lead">${s.status}: ${trader.status === 'active' ? s.active : s.disabled} · ${s.rewardPercent} ${formatPercent(trader.reward_percent)}</p>
${balances(s, balance)}
<p>${postButton(frame, `${base}/status`, trader.status === 'active' ? s.disable : s.enable, trader.status === 'active' ? 'danger' : 'primary')}</p>
<h2>${s.deposit}</h2>
<form method="post" action="${base}/deposits" class="stack">${csrfField(frame)}
<label for="d-amount">${s.depositAmount}</label><input id="d-amount" name="amount_usdt" inputmode="decimal" required maxlength="20">
<label for="d-ref">${s.reference}</label><input id="d-ref" name="reference" required maxlength="${REFERENCE_CHARS_MAX}" aria-describedby="d-ref-hint">
<p class="hint" id="d-ref-hint">${s.referenceHint}</p>
<button type="submit" class="primary">${s.credit}</button></form>
<h2>${s.requisites}</h2>${table(s, [s.bank, s.card, s.currency, s.status, s.dailyLimit], cardRows, new Set([4]))}
${pager(base, s, {}, cards.next_cursor, !cardCursor)}
<h2>${s.users}</h2>${usersTable(s, people.items, false)}${pager(base, s, {}, people.next_cursor, !usersCursor, 'users_cursor')}${inviteForm(frame, s, `${base}/users`, false)}`,
      });
    }

    app.get(
      '/admin/traders/:trader_id',
      {
        schema: pageSchema('getConsoleTrader', 'The operator console: a trader, its balances, cards and users (HTML)', traderParams.schema),
        onRequest: onlyOperators,
      },
      async (request, reply) => {
        const s = operatorStrings(kit, request);
        const done = formText(request.query, 'done', 16);
        return showTrader(request, reply, request.params.trader_id, notice('good', done === 'status' ? s.statusChanged : null));
      },
    );

    app.post(
      '/admin/traders/:trader_id/status',
      post('postConsoleTraderStatus', 'Disable an active trader (no new deals), or enable a disabled one', traderParams.schema),
      async (request, reply) => {
        const id = await change(request, async (trx, record) => {
          // The flip is decided from the status read under the row's lock: two clicks never race.
          const before = await traders.get(request.params.trader_id, trx);
          const status = before.status === 'active' ? 'disabled' : 'active';
          await traders.update(before.id, { status }, trx);
          await record(trx, { action: 'trader.update', target: `trader:${before.id}`, before: { status: before.status }, after: { status } });
          return before.id;
        });
        return reply.redirect(`/admin/traders/${id}?done=status`, 303);
      },
    );

    app.post(
      '/admin/traders/:trader_id/deposits',
      post('postConsoleTraderDeposit', "Credit a trader's USDT deposit (form: amount_usdt, reference)", traderParams.schema),
      async (request, reply) => {
        const s = operatorStrings(kit, request);
        const amount = decimalField(request.body, 'amount_usdt', { places: 2, wholeDigits: DEPOSIT_WHOLE_DIGITS_MAX, positive: true });
        if (amount === null) throw formInvalid(s.badAmount);
        const reference = formText(request.body, 'reference', REFERENCE_CHARS_MAX + 1).trim();
        if (!reference || reference.length > REFERENCE_CHARS_MAX) throw formInvalid(s.badReference);
        const micro = microUsdt(amount);
        const traderId = request.params.trader_id;
        const result = await change(request, async (trx, record) => {
          const done = await traders.deposit(traderId, micro, reference, trx);
          await record(trx, {
            action: 'trader.deposit',
            target: `deposit:${done.depositId}`,
            after: { trader_id: traderId, amount_usdt: usdt(micro), reference, available: usdt(done.available) },
          });
          return done;
        });
        return showTrader(request, reply, traderId, notice('good', fill(s.deposited, { amount: usdt(micro), available: usdt(result.available) })));
      },
    );

    app.post(
      '/admin/traders/:trader_id/users',
      post('postConsoleTraderUser', 'Invite a user of the trader (form: email, name)', traderParams.schema),
      async (request, reply) => {
        const s = operatorStrings(kit, request);
        const trader = await traders.get(request.params.trader_id);
        const link = await invite(kit, users, request, s, { traderId: trader.id });
        return showTrader(request, reply, trader.id, html`${notice('good', s.invited)}<p><code class="secret">${link}</code></p>`);
      },
    );
  };
}
