// The merchant's balance: what is available and what is on hold for withdrawals, and the
// statement of the available account (every movement, newest first, with the balance after it),
// a page at a time — the same reads as GET /api/v1/balance and /api/v1/balance/transactions.
import type { KasaApp } from '../../http/validation.ts';
import { merchantAccount, merchantWithdrawalHold } from '../../ledger/accounts.ts';
import { balanceOf } from '../../ledger/ledger.ts';
import { formatSignedUsdt, formatUsdt } from '../../money.ts';
import { html } from '../layout.ts';
import type { CabinetKit } from '../plugin.ts';
import { cursorOf, EVERYONE, merchantIdOf, merchantNav, pager, pageSchema, stringsOf, TABLE_PAGE_ROWS, when, type MerchantCabinetOptions } from './common.ts';

export function balancePage({ db, statements }: MerchantCabinetOptions) {
  return async function balanceSection(app: KasaApp, kit: CabinetKit) {
    app.get(
      '/merchant/balance',
      {
        schema: pageSchema('getMerchantCabinetBalance', 'The merchant’s balance and its statement, a page at a time (HTML; query: cursor)'),
        onRequest: kit.requireUser(['merchant'], { merchantRoles: EVERYONE }),
      },
      async (request, reply) => {
        const user = kit.userOf(request);
        const merchantId = merchantIdOf(user);
        const s = stringsOf(kit, request);
        const cursor = cursorOf(request);
        const [available, onHold, statement] = await Promise.all([
          balanceOf(db, merchantAccount(merchantId)),
          balanceOf(db, merchantWithdrawalHold(merchantId)),
          statements.account(merchantAccount(merchantId), { limit: TABLE_PAGE_ROWS, cursor }),
        ]);
        return kit.sendPage(request, reply, {
          title: s.balanceTitle,
          nav: merchantNav(s, user),
          content: html`<h1>${s.balanceTitle}</h1>
<dl class="balances">
<div><dt>${s.available}</dt><dd data-balance="available">${formatUsdt(available, 2)}</dd></div>
<div><dt>${s.onHold}</dt><dd data-balance="on_hold">${formatUsdt(onHold, 2)}</dd></div>
</dl>
<h2>${s.statement}</h2>
${
  statement.items.length
    ? html`<div class="table-wrap"><table class="statement"><thead><tr><th scope="col">${s.at}</th><th scope="col">${s.kind}</th><th scope="col" class="num">${s.change}</th><th scope="col" class="num">${s.balanceAfter}</th><th scope="col">${s.invoice}</th></tr></thead>
<tbody>${statement.items.map(
        (e) =>
          html`<tr><td>${when(e.createdAt)}</td><td>${e.kind}</td><td class="num">${formatSignedUsdt(e.amount)}</td><td class="num">${formatUsdt(e.balanceAfter, 2)}</td><td>${e.invoiceId ? html`<a href="/merchant/invoices/${e.invoiceId}">${e.invoiceId.slice(0, 8)}</a>` : '—'}</td></tr>`,
      )}</tbody></table></div>`
    : html`<p class="hint">${s.none}</p>`
}
${pager(s, '/merchant/balance', {}, statement.next_cursor, cursor !== undefined)}`,
        });
      },
    );
  };
}
