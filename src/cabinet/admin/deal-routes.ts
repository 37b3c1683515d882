// The operator's deals: every trader's, newest first, filtered by status, trader or merchant, a
// page at a time; an open deal is confirmed on its trader's behalf (recorded as confirmed_by
// admin, as POST /admin/v1/deals/{id}/confirm does) or cancelled with a reason the trader sees.
// The change and its audit row share one transaction.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { DealRow, Deals } from '../../deals/service.ts';
import { errors, KasaError } from '../../errors.ts';
import { isUuid } from '../../ids.ts';
import { model, string, type KasaApp } from '../../http/validation.ts';
import { DEAL_STATUSES, isOpenDeal, type DealStatus } from '../../lifecycle.ts';
import { formatFiat } from '../../money.ts';
import { formText } from '../forms.ts';
import { fill } from '../i18n.ts';
import { csrfField, html, notice, type Frame, type Html } from '../layout.ts';
import type { CabinetKit } from '../plugin.ts';
import {
  changeWithAudit,
  consoleNav,
  CONSOLE_PAGE_ROWS,
  cursorOf,
  decimalField,
  formInvalid,
  formSchema,
  idFilter,
  operatorStrings,
  pager,
  pageSchema,
  shortTime,
  table,
} from './common.ts';
import type { OperatorStrings } from './strings.ts';

const REASON_CHARS_MAX = 500;
/** A received amount: fiat with 2 decimals, as the admin API's fiatAmount. */
const FIAT_WHOLE_DIGITS_MAX = 12;
const dealParams = model({ deal_id: string({ min: 1, max: 64 }) });

type ListedDeal = DealRow & { expires_at: Date };

export function dealPages({ db, deals }: { db: Kysely<DB>; deals: Deals }) {
  return async function dealSection(app: KasaApp, kit: CabinetKit) {
    const onlyOperators = kit.requireUser(['operator']);
    const change = changeWithAudit(db, kit);
    const post = (operationId: string, summary: string) => ({
      schema: formSchema(operationId, summary, dealParams.schema),
      onRequest: onlyOperators,
      preHandler: kit.csrf,
    });

    function filters(
      frame: Frame,
      s: OperatorStrings,
      q: { status?: string | undefined; trader_id?: string | undefined; merchant_id?: string | undefined },
    ): Html {
      return html`<form method="get" action="/admin/deals" class="filters">
<label>${s.status}<select name="status"><option value="">${s.any}</option>${DEAL_STATUSES.map((st) => html`<option value="${st}"${q.status === st ? html` selected` : null}>${st}</option>`)}</select></label>
<label>${s.trader} (id)<input name="trader_id" value="${q.trader_id ?? ''}" maxlength="36" size="12"></label>
<label>${s.merchant} (id)<input name="merchant_id" value="${q.merchant_id ?? ''}" maxlength="36" size="12"></label>
<button type="submit" class="secondary">${s.showFilter}</button></form>`;
    }

    function actions(frame: Frame, s: OperatorStrings, d: ListedDeal): Html | null {
      if (!isOpenDeal(d.status)) return null;
      const amount = `${formatFiat(d.amount)} ${d.currency}`;
      return html`<form method="post" action="/admin/deals/${d.id}/confirm" class="stack">${csrfField(frame)}
<label for="recv-${d.id}">${s.receivedAmount}</label><input id="recv-${d.id}" name="received_amount" inputmode="decimal" value="${formatFiat(d.amount)}" maxlength="20">
<button type="submit" class="primary">${fill(s.confirmDeal, { amount })}</button></form>
<form method="post" action="/admin/deals/${d.id}/cancel" class="stack">${csrfField(frame)}
<label for="reason-${d.id}">${s.cancelReason}</label><input id="reason-${d.id}" name="reason" required maxlength="${REASON_CHARS_MAX}">
<button type="submit" class="danger">${s.cancelDeal}</button></form>`;
    }

    app.get(
      '/admin/deals',
      {
        schema: pageSchema('getConsoleDeals', 'The operator console: deals, filtered by status, trader or merchant, a page at a time (HTML)'),
        onRequest: onlyOperators,
      },
      async (request, reply) => {
        const frame = kit.frame(request, reply);
        const s = operatorStrings(kit, request);
        const statusText = formText(request.query, 'status', 32);
        if (statusText && !(DEAL_STATUSES as readonly string[]).includes(statusText)) throw formInvalid(s.badFilter);
        const status = (statusText || undefined) as DealStatus | undefined;
        const traderId = idFilter(request, 'trader_id', s);
        const merchantId = idFilter(request, 'merchant_id', s);
        const cursor = cursorOf(request);
        const listed = await deals.list({ status, traderId, merchantId, limit: CONSOLE_PAGE_ROWS, cursor });
        const rows = listed.items.map(
          (d) =>
            html`<tr><td class="num"><strong>${formatFiat(d.amount)} ${d.currency}</strong></td><td>${d.status}${d.cancel_reason ? html`<br><span class="hint">${d.cancel_reason}</span>` : null}</td><td><a href="/admin/traders/${d.trader_id}">${d.trader_id.slice(0, 8)}</a><br><span class="hint">${d.bank_name} •••• ${d.card_number.slice(-4)}</span></td><td>${shortTime(d.opened_at)}<br><span class="hint">${s.expires} ${shortTime(d.expires_at)}</span></td><td>${actions(frame, s, d)}</td></tr>`,
        );
        const done = formText(request.query, 'done', 16);
        const q = { status, trader_id: traderId, merchant_id: merchantId };
        return kit.sendPage(request, reply, {
          title: s.dealsTitle,
          nav: consoleNav(s),
          content: html`<h1>${s.dealsTitle}</h1>${notice('good', done === 'confirmed' ? s.dealConfirmed : done === 'cancelled' ? s.dealCancelled : null)}
${filters(frame, s, q)}<div class="deal-list">${table(s, [s.amount, s.status, s.trader, s.opened, ''], rows, new Set([0]))}</div>${pager(frame.path, s, q, listed.next_cursor, !cursor)}`,
        });
      },
    );

    /** A refusal of the deals engine as a page in the operator's language, with the way back. */
    function refused(request: FastifyRequest, reply: FastifyReply, error: unknown) {
      if (!(error instanceof KasaError) || (error.code !== 'PAYMENT_IN_PROGRESS' && error.code !== 'DEAL_NOT_ACTIVE')) throw error;
      const s = operatorStrings(kit, request);
      const [title, text] = error.code === 'PAYMENT_IN_PROGRESS' ? [s.paymentInProgressTitle, s.paymentInProgressText] : [s.dealNotActiveTitle, error.message];
      return kit.sendPage(
        request,
        reply,
        { title, nav: consoleNav(s), content: html`<h1>${title}</h1>${notice('bad', text)}<p><a href="/admin/deals">${s.dealsTitle}</a></p>` },
        409,
      );
    }

    app.post(
      '/admin/deals/:deal_id/confirm',
      post('postConsoleDealConfirm', 'Confirm a deal on behalf of its trader (form: received_amount)'),
      async (request, reply) => {
        const s = operatorStrings(kit, request);
        const text = formText(request.body, 'received_amount', 40).trim();
        const received = text ? decimalField(request.body, 'received_amount', { places: 2, wholeDigits: FIAT_WHOLE_DIGITS_MAX, positive: true }) : undefined;
        if (received === null) throw formInvalid(s.badAmount);
        const { deal_id } = request.params;
        if (!isUuid(deal_id)) throw errors.dealNotFound();
        try {
          await change(request, async (trx, record) => {
            const [before] = (await deals.list({ dealId: deal_id, limit: 1 }, trx)).items;
            const after = await deals.confirm(deal_id, { admin: true }, trx, received);
            await record(trx, {
              action: 'deal.confirm',
              target: `deal:${deal_id}`,
              before: { status: before?.status ?? null },
              after: { status: after.status, confirmed_by: after.confirmed_by, received_amount: received ?? formatFiat(after.amount) },
            });
          });
        } catch (error) {
          return refused(request, reply, error);
        }
        return reply.redirect('/admin/deals?done=confirmed', 303);
      },
    );

    app.post(
      '/admin/deals/:deal_id/cancel',
      post('postConsoleDealCancel', 'Cancel a deal awaiting payment, with a reason (form: reason)'),
      async (request, reply) => {
        const s = operatorStrings(kit, request);
        const reason = formText(request.body, 'reason', REASON_CHARS_MAX + 1).trim();
        if (!reason || reason.length > REASON_CHARS_MAX) throw formInvalid(s.badReason);
        const { deal_id } = request.params;
        if (!isUuid(deal_id)) throw errors.dealNotFound();
        try {
          await change(request, async (trx, record) => {
            const [before] = (await deals.list({ dealId: deal_id, limit: 1 }, trx)).items;
            const after = await deals.cancelByOperator(deal_id, reason, trx);
            await record(trx, {
              action: 'deal.cancel',
              target: `deal:${deal_id}`,
              before: { status: before?.status ?? null },
              after: { status: after.status, reason },
            });
          });
        } catch (error) {
          return refused(request, reply, error);
        }
        return reply.redirect('/admin/deals?done=cancelled', 303);
      },
    );
  };
}
