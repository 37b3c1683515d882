// The merchant's invoices: the filtered table (a page at a time, with its CSV export), and one
// invoice's page with its timeline, its deal, the ledger transfers it caused and its webhook
// deliveries, each of which an owner or developer can send again. Every read takes the merchant
// of the signed-in user, so another merchant's invoice is not found, exactly like a missing one.
import { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { errors } from '../../errors.ts';
import { textResponse } from '../../http/schemas.ts';
import { model, string, type KasaApp } from '../../http/validation.ts';
import { EXPORT_ROWS_MAX, type InvoiceFilters, type InvoiceView } from '../../invoices/service.ts';
import { INVOICE_STATUSES, type InvoiceStatus } from '../../lifecycle.ts';
import { formatFiat, formatUsdt } from '../../money.ts';
import { fill } from '../i18n.ts';
import { html, notice, postButton, type Frame, type Html } from '../layout.ts';
import { changeWithAudit } from '../audited.ts';
import type { CabinetKit } from '../plugin.ts';
import {
  can,
  cursorOf,
  dayOf,
  DEVELOPERS,
  EVERYONE,
  FILTER_CHARS_MAX,
  formSchema,
  merchantIdOf,
  merchantNav,
  pager,
  pageSchema,
  stringsOf,
  TABLE_PAGE_ROWS,
  when,
  queryText,
  type MerchantCabinetOptions,
} from './common.ts';
import type { MerchantStrings } from './strings.ts';

/** Deliveries (and their attempts) shown on an invoice's page: an invoice has a few events. */
const INVOICE_DELIVERIES_MAX = 20;
/** Deals shown on an invoice's page: one open at a time, a few after rejections. */
const INVOICE_DEALS_MAX = 10;

const statusWord = (s: MerchantStrings, status: InvoiceStatus) => s[status];

/** The filters of the table and the export, from the query string; a forged value is a 400 page. */
function filtersOf(request: FastifyRequest): InvoiceFilters {
  const status = queryText(request, 'status', 16);
  if (status !== undefined && !(INVOICE_STATUSES as readonly string[]).includes(status)) throw errors.formInvalid('status is not valid');
  return {
    status: status as InvoiceStatus | undefined,
    external_id: queryText(request, 'external_id', FILTER_CHARS_MAX),
    customer_id: queryText(request, 'customer_id', FILTER_CHARS_MAX),
    created_from: dayOf(request, 'created_from'),
    created_to: dayOf(request, 'created_to', true),
  };
}

/** The filters as the form and the links carry them (the days as typed). */
function filterParams(request: FastifyRequest): Record<string, string | undefined> {
  return {
    status: queryText(request, 'status', 16),
    created_from: queryText(request, 'created_from', 10),
    created_to: queryText(request, 'created_to', 10),
    external_id: queryText(request, 'external_id', FILTER_CHARS_MAX),
    customer_id: queryText(request, 'customer_id', FILTER_CHARS_MAX),
  };
}

function filterForm(s: MerchantStrings, params: Record<string, string | undefined>): Html {
  const input = (name: string, label: string, type = 'text') =>
    html`<label for="f-${name}">${label}<input id="f-${name}" name="${name}" type="${type}" value="${params[name] ?? ''}" maxlength="${FILTER_CHARS_MAX}"></label>`;
  return html`<form method="get" action="/merchant" class="filters">
<label for="f-status">${s.status}<select id="f-status" name="status">
<option value="">${s.any}</option>
${INVOICE_STATUSES.map((st) => html`<option value="${st}"${params.status === st ? html` selected` : null}>${statusWord(s, st)}</option>`)}
</select></label>
${input('created_from', s.createdFrom, 'date')}
${input('created_to', s.createdTo, 'date')}
${input('external_id', s.externalId)}
${input('customer_id', s.customerId)}
<button type="submit" class="primary">${s.filter}</button>
</form>`;
}

function invoiceTable(s: MerchantStrings, items: InvoiceView[]): Html {
  if (!items.length) return html`<p class="lead">${s.noInvoices}</p>`;
  return html`<div class="table-wrap"><table class="invoices">
<thead><tr><th scope="col">${s.created}</th><th scope="col">${s.externalId}</th><th scope="col">${s.status}</th><th scope="col" class="num">${s.amount}</th><th scope="col" class="num">${s.merchantUsdt}</th><th scope="col">${s.customerId}</th></tr></thead>
<tbody>${items.map(
    (i) => html`<tr data-invoice="${i.invoice_id}">
<td>${when(i.created_at)}</td>
<td><a href="/merchant/invoices/${i.invoice_id}">${i.external_id}</a></td>
<td><span class="badge status-${i.status}">${statusWord(s, i.status)}</span></td>
<td class="num">${formatFiat(i.amount)} ${i.currency}</td>
<td class="num">${i.merchant_usdt}</td>
<td>${i.customer_id}</td>
</tr>`,
  )}</tbody></table></div>`;
}

export function invoicePages({ invoices, deals, statements, webhooks, db }: MerchantCabinetOptions) {
  return async function invoiceSection(app: KasaApp, kit: CabinetKit) {
    const change = changeWithAudit(db, kit);
    const seeing = kit.requireUser(['merchant'], { merchantRoles: EVERYONE });
    const managing = kit.requireUser(['merchant'], { merchantRoles: DEVELOPERS });
    const invoiceParams = model({ invoice_id: string({ max: 64 }) });
    const resendParams = model({ invoice_id: string({ max: 64 }), event_id: string({ max: 64 }) });

    app.get(
      '/merchant',
      {
        schema: pageSchema(
          'getMerchantCabinet',
          'The merchant cabinet: invoices with filters and paging (HTML; query: status, created_from, created_to, external_id, customer_id, cursor)',
        ),
        onRequest: seeing,
      },
      async (request, reply) => {
        const user = kit.userOf(request);
        const s = stringsOf(kit, request);
        const params = filterParams(request);
        const cursor = cursorOf(request);
        const listed = await invoices.list(merchantIdOf(user), { ...filtersOf(request), limit: TABLE_PAGE_ROWS, cursor });
        const query = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined)).toString();
        return kit.sendPage(request, reply, {
          title: s.invoicesTitle,
          nav: merchantNav(s, user),
          content: html`<h1>${s.invoicesTitle}</h1>
${filterForm(s, params)}
<p><a class="button secondary" href="/merchant/invoices.csv${query ? `?${query}` : ''}" download>${s.exportCsv}</a> <span class="hint">${fill(s.exportHint, { rows: EXPORT_ROWS_MAX })}</span></p>
${invoiceTable(s, listed.items)}
${pager(s, '/merchant', params, listed.next_cursor, cursor !== undefined)}`,
        });
      },
    );

    app.get(
      '/merchant/invoices.csv',
      {
        schema: {
          ...pageSchema('exportMerchantCabinetInvoices', 'The invoices of the table’s filters as CSV, streamed and bounded (as GET /api/v1/invoices/export)'),
          response: {
            200: textResponse('text/csv', 'The invoices, RFC 4180 CSV in UTF-8'),
            303: { description: 'Not signed in: to /login' },
            400: textResponse('text/html', `More than ${EXPORT_ROWS_MAX} invoices match, or a filter is not valid`),
          },
        },
        onRequest: seeing,
      },
      async (request, reply) => {
        const lines = await invoices.exportCsv(merchantIdOf(kit.userOf(request)), filtersOf(request));
        return reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="invoices.csv"').send(Readable.from(lines));
      },
    );

    app.get(
      '/merchant/invoices/:invoice_id',
      {
        schema: pageSchema('getMerchantCabinetInvoice', 'One invoice: timeline, deal, ledger transfers, webhook deliveries (HTML)', {
          params: invoiceParams.schema,
        }),
        onRequest: seeing,
      },
      async (request, reply) => {
        const user = kit.userOf(request);
        const merchantId = merchantIdOf(user);
        const s = stringsOf(kit, request);
        const frame = kit.frame(request, reply);
        const id = request.params.invoice_id;
        // The invoice first: another merchant's is not found before anything else is read.
        const invoice = await invoices.get(merchantId, id);
        const [history, dealPage, ledger, deliveries] = await Promise.all([
          invoices.history(merchantId, id),
          deals.list({ invoiceId: id, limit: INVOICE_DEALS_MAX }),
          statements.invoice(merchantId, id),
          webhooks.list(merchantId, { invoiceId: id, limit: INVOICE_DELIVERIES_MAX }),
        ]);
        const attempts = await Promise.all(deliveries.items.map((d) => webhooks.get(merchantId, d.event_id)));
        const done = queryText(request, 'done', 16);
        const title = fill(s.invoiceTitle, { id: invoice.external_id });
        // As text to copy, not a link: opening the payment page assigns a trader to the invoice,
        // which is the customer's step, not a look the merchant takes.
        const paymentLink = html`<div><dt>${s.paymentLink}</dt><dd><code>${invoice.payment_link}</code></dd></div>`;
        return kit.sendPage(request, reply, {
          title,
          nav: merchantNav(s, user),
          content: html`<h1>${title}</h1>
${notice('good', done === 'resent' ? s.resent : null)}
<dl class="facts">
<div><dt>${s.status}</dt><dd><span class="badge status-${invoice.status}">${statusWord(s, invoice.status)}</span>${invoice.status_detail ? html` <span class="hint">${s[`detail_${invoice.status_detail}`]}</span>` : null}</dd></div>
<div><dt>${s.amount}</dt><dd>${formatFiat(invoice.amount)} ${invoice.currency}</dd></div>
<div><dt>${s.rate}</dt><dd>${invoice.conversion_rate}</dd></div>
<div><dt>${s.merchantUsdt}</dt><dd>${invoice.merchant_usdt}</dd></div>
${invoice.paid_amount ? html`<div><dt>${s.paidAmount}</dt><dd>${formatFiat(invoice.paid_amount)} ${invoice.currency}</dd></div>` : null}
<div><dt>${s.externalId}</dt><dd>${invoice.external_id}</dd></div>
<div><dt>${s.customerId}</dt><dd>${invoice.customer_id}</dd></div>
${invoice.purpose ? html`<div><dt>${s.purpose}</dt><dd>${invoice.purpose}</dd></div>` : null}
<div><dt>${s.created}</dt><dd>${when(invoice.created_at)}</dd></div>
<div><dt>${s.expiresAt}</dt><dd>${when(invoice.expires_at)}</dd></div>
<div><dt>${s.paidAt}</dt><dd>${when(invoice.paid_at)}</dd></div>
${paymentLink}
</dl>
<h2>${s.timeline}</h2>
<ol class="timeline">${history.items.map(
            (h) =>
              html`<li><strong>${statusWord(s, h.status)}</strong>${h.status_detail ? html` (${s[`detail_${h.status_detail}`]})` : null} · ${s.actor}: ${s[`actor_${h.actor}`]} · ${when(h.at)}</li>`,
          )}</ol>
<h2>${s.deal}</h2>
${
  dealPage.items.length
    ? html`<div class="table-wrap"><table><thead><tr><th scope="col">${s.opened}</th><th scope="col">${s.dealStatus}</th><th scope="col" class="num">${s.amount}</th></tr></thead>
<tbody>${dealPage.items.map((d) => html`<tr><td>${when(d.opened_at)}</td><td>${s[`deal_${d.status}`]}</td><td class="num">${formatFiat(d.amount)} ${d.currency}</td></tr>`)}</tbody></table></div>`
    : html`<p class="hint">${s.dealNone}</p>`
}
<h2>${s.transfers}</h2>
${
  ledger.transfers.length
    ? html`<div class="table-wrap"><table><thead><tr><th scope="col">${s.at}</th><th scope="col">${s.kind}</th><th scope="col">${s.from}</th><th scope="col">${s.to}</th><th scope="col" class="num">${s.amountUsdt}</th></tr></thead>
<tbody>${ledger.transfers.map(
        (t) =>
          html`<tr><td>${when(t.createdAt)}</td><td>${t.kind}</td><td>${accountName(t.from)}</td><td>${accountName(t.to)}</td><td class="num">${formatUsdt(t.amount, 2)}</td></tr>`,
      )}</tbody></table></div>
<p class="hint">${fill(s.breakdown, {
        gross: formatUsdt(ledger.breakdown.gross, 2),
        reward: ledger.breakdown.traderReward === null ? '—' : formatUsdt(ledger.breakdown.traderReward, 2),
        platform: ledger.breakdown.platformRevenue === null ? '—' : formatUsdt(ledger.breakdown.platformRevenue, 2),
        merchant: formatUsdt(ledger.breakdown.merchant, 2),
      })}</p>`
    : html`<p class="hint">${s.transfersNone}</p>`
}
<h2 id="webhooks">${s.webhooksOfInvoice}</h2>
${attempts.length ? attempts.map((d) => deliveryBlock(frame, s, invoice.invoice_id, d, can(user, DEVELOPERS))) : html`<p class="hint">${s.deliveriesNone}</p>`}`,
        });
      },
    );

    app.post(
      '/merchant/invoices/:invoice_id/deliveries/:event_id/resend',
      {
        schema: formSchema('postMerchantResend', 'Send a webhook delivery of the invoice again (form: _csrf)', { params: resendParams.schema }),
        onRequest: managing,
        preHandler: kit.csrf,
      },
      async (request, reply) => {
        const merchantId = merchantIdOf(kit.userOf(request));
        const { invoice_id, event_id } = request.params;
        await change(request, async (trx, record) => {
          const delivery = await webhooks.get(merchantId, event_id, trx);
          if (delivery.invoice_id !== invoice_id) throw errors.deliveryNotFound();
          await webhooks.resend(merchantId, event_id, trx);
          await record(trx, {
            action: 'delivery.resend',
            target: `event:${event_id}`,
            merchantId,
            before: { status: delivery.status, attempts: delivery.attempts },
            after: { status: 'pending', invoice_id },
          });
        });
        return reply.redirect(`/merchant/invoices/${invoice_id}?done=resent#webhooks`, 303);
      },
    );
  };
}

/** A trader's account reads as the role only (Statements already hides which trader). */
function accountName(account: string): string {
  return account.replace(/^merchant:[0-9a-f-]{36}/, 'merchant');
}

type DeliveryWithAttempts = Awaited<ReturnType<MerchantCabinetOptions['webhooks']['get']>>;

function deliveryBlock(frame: Frame, s: MerchantStrings, invoiceId: string, d: DeliveryWithAttempts, mayResend: boolean): Html {
  return html`<section class="delivery" data-event="${d.event_id}">
<h3>${d.type} · <span class="badge delivery-${d.status}">${s[`delivery_${d.status}`]}</span></h3>
<p class="hint">${s.target}: ${d.target_url} · ${s.created}: ${when(d.created_at)}</p>
${
  d.attempts.length
    ? html`<div class="table-wrap"><table><thead><tr><th scope="col">${s.at}</th><th scope="col">${s.answer}</th><th scope="col" class="num">${s.duration}</th><th scope="col">${s.error}</th></tr></thead>
<tbody>${d.attempts.map(
        (a) =>
          html`<tr><td>${when(a.attempted_at)}</td><td>${a.status_code ?? '—'}</td><td class="num">${a.duration_ms ?? '—'}</td><td>${a.error ?? ''}</td></tr>`,
      )}</tbody></table></div>`
    : null
}
${mayResend ? postButton(frame, `/merchant/invoices/${invoiceId}/deliveries/${d.event_id}/resend`, s.resend) : null}
</section>`;
}
