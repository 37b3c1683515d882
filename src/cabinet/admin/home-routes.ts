// The console's home page: today's numbers (src/reports/day.ts), the same the admin API's
// GET /admin/v1/overview answers, including the full ledger check (a scan of the accounts that
// the overview already runs; an operator opens this page a few times a day).
import type { Kysely } from 'kysely';
import type { Clock } from '../../clock.ts';
import type { DB } from '../../db/schema.ts';
import type { KasaApp } from '../../http/validation.ts';
import { dayNumbers } from '../../reports/day.ts';
import { fill } from '../i18n.ts';
import { html, notice } from '../layout.ts';
import type { CabinetKit } from '../plugin.ts';
import { consoleNav, figures, operatorStrings, pageSchema, table } from './common.ts';

export function homePage({ db, clock }: { db: Kysely<DB>; clock: Clock }) {
  return async function homeSection(app: KasaApp, kit: CabinetKit) {
    app.get(
      '/admin',
      {
        schema: pageSchema('getOperatorConsole', "The operator console: today's numbers (HTML; sign-in required)"),
        onRequest: kit.requireUser(['operator']),
      },
      async (request, reply) => {
        const s = operatorStrings(kit, request);
        const user = kit.userOf(request);
        const n = await dayNumbers(db, clock);
        const volume = n.volume.currencies.map(
          (v) => html`<tr><td>${v.currency}</td><td class="num">${String(v.invoices)}</td><td class="num">${v.amount}</td></tr>`,
        );
        const age = n.webhooks.oldest_pending_age_seconds;
        return kit.sendPage(request, reply, {
          title: s.homeTitle,
          nav: consoleNav(s),
          content: html`<h1>${s.homeTitle}</h1><p class="hint">${kit.strings(request).signedInAs} <strong>${user.name}</strong> (${user.email})</p>
<p class="lead">${fill(s.homeDay, { day: n.day })}</p>
${figures([
  [s.invoicesCreated, String(n.invoices.created)],
  [s.successRate, n.invoices.success_rate_percent === null ? html`<span class="hint">${s.successRateNone}</span>` : `${n.invoices.success_rate_percent} %`],
  [s.volumeUsdt, n.volume.gross_usdt],
  [s.merchantUsdt, n.volume.merchant_usdt],
  [s.openDeals, String(n.deals.open)],
  [s.customerPaid, String(n.deals.customer_paid)],
  [s.tradersActive, String(n.traders_with_active_requisite)],
  [s.webhookBacklog, html`${String(n.webhooks.pending)} <span class="hint">(${String(n.webhooks.due)} ${s.webhookDue})</span>`],
])}
${age === null ? null : html`<p class="hint">${s.oldestPending}: ${String(age)} s</p>`}
<h2>${s.ledger}</h2>${
            n.ledger.ok
              ? notice('good', fill(s.ledgerOk, { accounts: n.ledger.accounts, transfers: n.ledger.transfers }))
              : notice('bad', fill(s.ledgerBad, { mismatched: n.ledger.mismatched, negative: n.ledger.negative }))
          }
<h2>${s.volumeFiat}</h2>${volume.length ? table(s, [s.currency, s.invoices, s.amount], volume, new Set([1, 2])) : html`<p class="lead">${s.noVolume}</p>`}`,
        });
      },
    );
  };
}
