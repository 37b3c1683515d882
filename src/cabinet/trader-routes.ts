// The trader cabinet, phone first: the live queue of the trader's open deals, those whose
// customer pressed "I have paid" on top, each confirmed with a second tap that shows the amount
// and takes the amount received, or rejected. The page polls /trader/live (cabinet.js), which
// answers the same list rendered by the same function, so a refreshed list is the list a reload
// would show. A trader only ever reaches their own deals: every read filters by their trader id
// and every action goes through the deals service, which answers DEAL_NOT_FOUND for another
// trader's deal. The cards and the balance are sections of their own (trader-requisites.ts,
// trader-balance.ts), registered here.
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Deals } from '../deals/service.ts';
import type { Statements } from '../ledger/statements.ts';
import type { Traders } from '../traders/service.ts';
import { record, textResponse } from '../http/schemas.ts';
import { errors, KasaError } from '../errors.ts';
import { fiatAmount, model, string, type KasaApp } from '../http/validation.ts';
import { REJECT_REASONS, type RejectReason } from '../lifecycle.ts';
import { formatFiat } from '../money.ts';
import { formText } from './forms.ts';
import { csrfField, html, notice, type Frame, type Html } from './layout.ts';
import { fill } from './i18n.ts';
import type { CabinetKit } from './plugin.ts';
import { traderBalanceRoutes } from './trader-balance.ts';
import { traderNav } from './trader-nav.ts';
import { traderRequisiteRoutes, type RequisiteModels } from './trader-requisites.ts';

/** The queue shows this many open deals at most; a trader has a few at a time. */
const QUEUE_DEALS_MAX = 100;
/** Without JavaScript the queue reloads itself this often. */
const NOSCRIPT_REFRESH_SECONDS = 10;
/** What cabinet.js polls (every 2 s) for the queue's new state. */
const LIVE_URL = '/trader/live';
/** Enough of a SHA-256 of the queue's state to tell one state from the next. */
const VERSION_CHARS = 16;
const AMOUNT_CHARS_MAX = 24;
const COMMENT_CHARS_MAX = 500;
/** The received amount as the trader API takes it (POST /api/v1/trader/deals/{deal_id}/confirm). */
const RECEIVED_AMOUNT = fiatAmount();

type OpenDeal = Awaited<ReturnType<Deals['list']>>['items'][number];

const STRINGS = {
  en: {
    queue: 'Open deals',
    empty: 'No open deals. New ones appear here by themselves.',
    paid: 'Customer says they paid',
    awaiting: 'Awaiting payment',
    card: 'Card',
    timeLeft: 'Time left',
    minutes: '{n} min',
    confirm: 'Confirm',
    confirmAmount: 'Confirm receipt of {amount}',
    received: 'Amount received',
    receivedInvalid: 'The amount received must be an amount above zero with at most 2 decimals, e.g. 1500.00. Nothing was confirmed.',
    reject: 'Reject',
    rejectReason: 'Why',
    rejectComment: 'Comment (optional)',
    rejectSend: 'Reject the deal',
    rejectPaidHint: 'The customer says they paid: rejecting opens a dispute, and an operator decides it.',
    reason_no_payment: 'No money arrived',
    reason_wrong_amount: 'A different amount arrived',
    reason_card_blocked: 'The card is blocked',
    reason_other: 'Another reason',
    confirmed: 'Deal confirmed.',
    rejected: 'Deal rejected.',
    cue: 'Sound and vibration for a new “I have paid”',
    paidNow: 'A customer says they paid:',
  },
  uk: {
    queue: 'Відкриті угоди',
    empty: 'Немає відкритих угод. Нові з’являться тут самі.',
    paid: 'Клієнт каже, що оплатив',
    awaiting: 'Очікує оплати',
    card: 'Картка',
    timeLeft: 'Залишилось',
    minutes: '{n} хв',
    confirm: 'Підтвердити',
    confirmAmount: 'Підтвердити отримання {amount}',
    received: 'Отримана сума',
    receivedInvalid: 'Отримана сума має бути більшою за нуль, не більше 2 знаків після крапки, напр. 1500.00. Нічого не підтверджено.',
    reject: 'Відхилити',
    rejectReason: 'Причина',
    rejectComment: 'Коментар (необовʼязково)',
    rejectSend: 'Відхилити угоду',
    rejectPaidHint: 'Клієнт каже, що оплатив: відхилення відкриває спір, і його вирішує оператор.',
    reason_no_payment: 'Гроші не надійшли',
    reason_wrong_amount: 'Надійшла інша сума',
    reason_card_blocked: 'Картку заблоковано',
    reason_other: 'Інша причина',
    confirmed: 'Угоду підтверджено.',
    rejected: 'Угоду відхилено.',
    cue: 'Звук і вібрація для нового «Я оплатив»',
    paidNow: 'Клієнт каже, що оплатив:',
  },
} as const;

const liveState = record({
  version: { type: 'string', description: 'Changes whenever the list shows something else (a deal, a state, the minutes left)' },
  html: { type: 'string', description: 'The list, rendered (and escaped) as the page renders it' },
  paid_ids: { type: 'array', items: { type: 'string', format: 'uuid' }, description: 'The deals whose customer said they paid' },
});

const minutesLeft = (d: OpenDeal, nowMs: number) => Math.max(0, Math.ceil((d.expires_at.getTime() - nowMs) / 60_000));

export interface TraderCabinetServices {
  deals: Deals;
  traders: Traders;
  statements: Statements;
  /** The trader API's models of a card: the cabinet's forms are checked by the same rules. */
  requisiteModels: RequisiteModels;
}

export function traderCabinetRoutes({ deals, traders, statements, requisiteModels }: TraderCabinetServices) {
  return async function traderSection(app: KasaApp, kit: CabinetKit) {
    await traderRequisiteRoutes(app, kit, { traders, models: requisiteModels });
    await traderBalanceRoutes(app, kit, { traders, statements });
    const onlyTraders = kit.requireUser(['trader']);
    const page = (d: string) => textResponse('text/html', d);
    const tags = ['cabinets'];
    const security: [] = [];
    const dealParams = model({ deal_id: string({ max: 64 }) });

    async function openDeals(traderId: string): Promise<OpenDeal[]> {
      const [paid, awaiting] = await Promise.all(
        (['customer_paid', 'awaiting_payment'] as const).map(async (status) => (await deals.list({ status, traderId, limit: QUEUE_DEALS_MAX })).items),
      );
      return [...paid!, ...awaiting!];
    }

    function queue(frame: Frame, list: OpenDeal[]): Html {
      const s = STRINGS[frame.lang];
      if (!list.length) return html`<p class="lead">${s.empty}</p>`;
      const now = kit.clock.now().getTime();
      return html`<ul class="cards">${list.map((d) => {
        const amount = `${formatFiat(d.amount)} ${d.currency}`;
        const paid = d.status === 'customer_paid';
        return html`<li class="card${paid ? ' paid' : ''}" data-deal="${d.id}">
<p><span class="badge${paid ? ' paid' : ''}">${paid ? s.paid : s.awaiting}</span></p>
<p class="amount">${amount}</p>
<p class="meta">${s.card} ·${d.card_number.slice(-4)} · ${d.bank_name}</p>
<p class="meta">${s.timeLeft}: ${fill(s.minutes, { n: minutesLeft(d, now) })}</p>
<div class="actions">
<form method="post" action="/trader/deals/${d.id}/confirm" data-confirm-step>
${csrfField(frame)}
<button type="button" class="primary" data-first-tap hidden>${s.confirm}</button>
<div data-second-tap>
<label for="received-${d.id}">${s.received}</label>
<input id="received-${d.id}" name="received_amount" inputmode="decimal" value="${formatFiat(d.amount)}" maxlength="${AMOUNT_CHARS_MAX}">
<button type="submit" class="primary">${s.confirmAmount.replace('{amount}', amount)}</button>
</div>
</form>
<details class="reject">
<summary>${s.reject}</summary>
<form method="post" action="/trader/deals/${d.id}/reject">
${csrfField(frame)}
${paid ? html`<p class="hint">${s.rejectPaidHint}</p>` : null}
<label for="reason-${d.id}">${s.rejectReason}</label>
<select id="reason-${d.id}" name="reason">${REJECT_REASONS.map((r) => html`<option value="${r}">${s[`reason_${r}`]}</option>`)}</select>
<label for="comment-${d.id}">${s.rejectComment}</label>
<textarea id="comment-${d.id}" name="comment" maxlength="${COMMENT_CHARS_MAX}" rows="2"></textarea>
<button type="submit" class="danger">${s.rejectSend}</button>
</form>
</details>
</div>
</li>`;
      })}</ul>`;
    }

    /** What tells one state of the list from the next, and which deals are "I have paid" ones. */
    function stateOf(list: OpenDeal[]) {
      const now = kit.clock.now().getTime();
      const shown = JSON.stringify(list.map((d) => [d.id, d.status, minutesLeft(d, now)]));
      return {
        version: createHash('sha256').update(shown).digest('hex').slice(0, VERSION_CHARS),
        paidIds: list.filter((d) => d.status === 'customer_paid').map((d) => d.id),
      };
    }

    async function showQueue(request: FastifyRequest, reply: FastifyReply, message: string | null) {
      const user = kit.userOf(request);
      const frame = kit.frame(request, reply);
      const s = STRINGS[frame.lang];
      const list = await openDeals(user.trader_id!);
      const state = stateOf(list);
      return kit.sendPage(request, reply, {
        title: s.queue,
        nav: traderNav(frame.lang),
        data: { 'live-url': LIVE_URL },
        noscriptRefreshSeconds: NOSCRIPT_REFRESH_SECONDS,
        content: html`<h1>${s.queue}</h1>${notice('good', message)}
<p id="cue-toggle" hidden><label><input type="checkbox"> ${s.cue}</label></p>
<p id="live-status" class="sr" role="status" data-paid-label="${s.paidNow}"></p>
<div id="live-list" data-version="${state.version}" data-paid-ids="${JSON.stringify(state.paidIds)}">${queue(frame, list)}</div>`,
      });
    }

    app.get(
      '/trader',
      {
        schema: {
          summary: "The trader cabinet: the live queue of the trader's open deals (HTML)",
          operationId: 'getTraderCabinet',
          tags,
          security,
          response: { 200: page('The queue'), 403: page('Not a trader') },
        },
        onRequest: onlyTraders,
      },
      async (request, reply) => {
        const done = (request.query as Record<string, unknown> | undefined)?.done;
        const s = STRINGS[kit.lang(request)];
        return showQueue(request, reply, done === 'confirmed' ? s.confirmed : done === 'rejected' ? s.rejected : null);
      },
    );

    app.get(
      LIVE_URL,
      {
        schema: {
          summary: "The queue's current state, for the page's script: the list's HTML and its \"I have paid\" deals",
          operationId: 'getTraderCabinetLive',
          tags,
          security,
          response: { 200: liveState },
        },
        // Polling is not use: a trader who leaves the queue open is still signed out after the idle timeout.
        config: { cabinetTouch: false, cabinetJson: true, errorDocs: { 401: 'SESSION_REQUIRED', 403: 'FORBIDDEN: not a trader' } },
        onRequest: onlyTraders,
      },
      async (request, reply) => {
        const list = await openDeals(kit.userOf(request).trader_id!);
        const state = stateOf(list);
        return { version: state.version, html: queue(kit.frame(request, reply), list).value, paid_ids: state.paidIds };
      },
    );

    const action = (operationId: string, summary: string) => ({
      schema: {
        hide: true,
        summary,
        operationId,
        tags,
        security,
        params: dealParams.schema,
        response: {
          303: { description: 'Back to the queue' },
          404: page('No such deal of this trader'),
          409: page('The deal is no longer open'),
          422: page('The amount received is not an amount'),
        },
      },
      onRequest: onlyTraders,
      preHandler: kit.csrf,
    });

    app.post('/trader/deals/:deal_id/confirm', action('postTraderConfirm', 'Confirm a deal (form: _csrf, received_amount)'), async (request, reply) => {
      const user = kit.userOf(request);
      const typed = formText(request.body, 'received_amount', AMOUNT_CHARS_MAX).trim().replace(',', '.');
      // Empty: the invoice amount. A typo is refused, never read as "the full amount arrived".
      const received = typed === '' ? undefined : RECEIVED_AMOUNT.parse(typed);
      if (received && !received.ok) throw new KasaError(422, 'RECEIVED_AMOUNT_INVALID', STRINGS[kit.lang(request)].receivedInvalid);
      await deals.confirm(request.params.deal_id, { trader: user.trader_id! }, undefined, received?.value);
      return reply.redirect('/trader?done=confirmed', 303);
    });

    app.post('/trader/deals/:deal_id/reject', action('postTraderReject', 'Reject a deal (form: _csrf, reason, comment)'), async (request, reply) => {
      const user = kit.userOf(request);
      const reason = formText(request.body, 'reason', 64) || REJECT_REASONS[0];
      const comment = formText(request.body, 'comment', COMMENT_CHARS_MAX).trim() || undefined;
      // The form offers the four reasons only; anything else was not sent by it.
      if (!(REJECT_REASONS as readonly string[]).includes(reason)) throw errors.formInvalid(`reason must be one of ${REJECT_REASONS.join(', ')}`);
      await deals.reject(request.params.deal_id, user.trader_id!, { reason: reason as RejectReason, comment });
      return reply.redirect('/trader?done=rejected', 303);
    });
  };
}
