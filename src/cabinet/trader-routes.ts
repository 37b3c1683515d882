// The trader cabinet, phone first: the live queue of the trader's open deals, those whose
// customer pressed "I have paid" on top, each confirmed with a second tap that shows the amount
// and takes the amount received, or rejected. A trader only ever reaches their own deals: every
// read filters by their trader id and every action goes through the deals service, which
// answers DEAL_NOT_FOUND for another trader's deal.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Deals } from '../deals/service.ts';
import { textResponse } from '../http/schemas.ts';
import { model, string, type KasaApp } from '../http/validation.ts';
import { REJECT_REASONS, type RejectReason } from '../lifecycle.ts';
import { formatFiat } from '../money.ts';
import { formText } from './forms.ts';
import { csrfField, html, notice, type Frame, type Html } from './layout.ts';
import type { CabinetKit } from './plugin.ts';

/** The queue shows this many open deals at most; a trader has a few at a time. */
const QUEUE_DEALS_MAX = 100;
/** Without JavaScript the queue reloads itself this often. */
const NOSCRIPT_REFRESH_SECONDS = 10;
const AMOUNT_CHARS_MAX = 24;
const COMMENT_CHARS_MAX = 500;

type OpenDeal = Awaited<ReturnType<Deals['list']>>['items'][number];

const STRINGS = {
  en: {
    queue: 'Open deals',
    empty: 'No open deals. New ones appear here by themselves.',
    paid: 'Customer says they paid',
    awaiting: 'Awaiting payment',
    card: 'Card',
    timeLeft: 'Time left',
    confirm: 'Confirm',
    confirmAmount: 'Confirm receipt of {amount}',
    received: 'Amount received',
    reject: 'Reject',
    rejectReason: 'Why',
    confirmed: 'Deal confirmed.',
    rejected: 'Deal rejected.',
    cue: 'Sound and vibration for a new “I have paid”',
  },
  uk: {
    queue: 'Відкриті угоди',
    empty: 'Немає відкритих угод. Нові з’являться тут самі.',
    paid: 'Клієнт каже, що оплатив',
    awaiting: 'Очікує оплати',
    card: 'Картка',
    timeLeft: 'Залишилось',
    confirm: 'Підтвердити',
    confirmAmount: 'Підтвердити отримання {amount}',
    received: 'Отримана сума',
    reject: 'Відхилити',
    rejectReason: 'Причина',
    confirmed: 'Угоду підтверджено.',
    rejected: 'Угоду відхилено.',
    cue: 'Звук і вібрація для нового «Я оплатив»',
  },
} as const;

export function traderCabinetRoutes({ deals }: { deals: Deals }) {
  return async function traderSection(app: KasaApp, kit: CabinetKit) {
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
        const minutesLeft = Math.max(0, Math.ceil((d.expires_at.getTime() - now) / 60_000));
        const paid = d.status === 'customer_paid';
        return html`<li class="card${paid ? ' paid' : ''}" data-deal="${d.id}">
<p><span class="badge${paid ? ' paid' : ''}">${paid ? s.paid : s.awaiting}</span></p>
<p class="amount">${amount}</p>
<p class="meta">${s.card} ·${d.card_number.slice(-4)} · ${d.bank_name}</p>
<p class="meta">${s.timeLeft}: ${minutesLeft} min</p>
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
${paid ? null : html`<form method="post" action="/trader/deals/${d.id}/reject">${csrfField(frame)}<input type="hidden" name="reason" value="${REJECT_REASONS[0]}"><button type="submit" class="danger">${s.reject}</button></form>`}
</div>
</li>`;
      })}</ul>`;
    }

    async function showQueue(request: FastifyRequest, reply: FastifyReply, message: string | null) {
      const user = kit.userOf(request);
      const frame = kit.frame(request, reply);
      const s = STRINGS[frame.lang];
      const list = await openDeals(user.trader_id!);
      return kit.sendPage(request, reply, {
        title: s.queue,
        noscriptRefreshSeconds: NOSCRIPT_REFRESH_SECONDS,
        content: html`<h1>${s.queue}</h1>${notice('good', message)}
<p id="cue-toggle" hidden><label><input type="checkbox"> ${s.cue}</label></p>
<div id="live-list">${queue(frame, list)}</div>`,
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

    const action = (operationId: string, summary: string) => ({
      schema: {
        hide: true,
        summary,
        operationId,
        tags,
        security,
        params: dealParams.schema,
        response: { 303: { description: 'Back to the queue' }, 404: page('No such deal of this trader'), 409: page('The deal is no longer open') },
      },
      onRequest: onlyTraders,
      preHandler: kit.csrf,
    });

    app.post('/trader/deals/:deal_id/confirm', action('postTraderConfirm', 'Confirm a deal (form: _csrf, received_amount)'), async (request, reply) => {
      const user = kit.userOf(request);
      const received = formText(request.body, 'received_amount', AMOUNT_CHARS_MAX).trim().replace(',', '.');
      await deals.confirm(request.params.deal_id, { trader: user.trader_id! }, undefined, /^\d{1,12}(\.\d{1,2})?$/.test(received) ? received : undefined);
      return reply.redirect('/trader?done=confirmed', 303);
    });

    app.post('/trader/deals/:deal_id/reject', action('postTraderReject', 'Reject a deal (form: _csrf, reason, comment)'), async (request, reply) => {
      const user = kit.userOf(request);
      const reason = formText(request.body, 'reason', 64);
      const comment = formText(request.body, 'comment', COMMENT_CHARS_MAX) || undefined;
      await deals.reject(request.params.deal_id, user.trader_id!, {
        reason: ((REJECT_REASONS as readonly string[]).includes(reason) ? reason : REJECT_REASONS[0]) as RejectReason,
        comment,
      });
      return reply.redirect('/trader?done=rejected', 303);
    });
  };
}
