// The audit log in the console: every change by an operator, a merchant user or the admin
// token, newest first, a page at a time, filtered by the person's email or by merchant.
import type { KasaApp } from '../../http/validation.ts';
import type { Audit, AuditRow } from '../../people/audit.ts';
import { EMAIL_LENGTH_MAX } from '../../people/users.ts';
import { formText } from '../forms.ts';
import { html, type Html } from '../layout.ts';
import type { CabinetKit } from '../plugin.ts';
import { consoleNav, CONSOLE_PAGE_ROWS, cursorOf, idFilter, operatorStrings, pager, pageSchema, shortTime, table } from './common.ts';

/** The before/after of a row as short text: the log shows changed fields, not documents. */
const CHANGE_CHARS_MAX = 300;

function changeText(fields: Record<string, unknown> | null): string {
  if (!fields) return '—';
  const text = JSON.stringify(fields);
  return text.length > CHANGE_CHARS_MAX ? text.slice(0, CHANGE_CHARS_MAX) + '…' : text;
}

function who(row: AuditRow): string {
  return row.actor_kind === 'user' ? (row.actor_email ?? row.actor_id ?? '') : row.actor_kind;
}

export function auditPage({ audit }: { audit: Audit }) {
  return async function auditSection(app: KasaApp, kit: CabinetKit) {
    app.get(
      '/admin/audit',
      {
        schema: pageSchema('getConsoleAudit', 'The operator console: the audit log, filtered by person or merchant, a page at a time (HTML)'),
        onRequest: kit.requireUser(['operator']),
      },
      async (request, reply) => {
        const frame = kit.frame(request, reply);
        const s = operatorStrings(kit, request);
        const actor = formText(request.query, 'actor', EMAIL_LENGTH_MAX).trim() || undefined;
        const merchantId = idFilter(request, 'merchant_id', s);
        const cursor = cursorOf(request);
        const listed = await audit.list({ actorEmail: actor, merchantId }, { limit: CONSOLE_PAGE_ROWS, cursor });
        const rows: Html[] = listed.items.map(
          (r) =>
            html`<tr><td>${shortTime(r.at)}</td><td>${who(r)}</td><td>${r.ip ?? ''}</td><td><code>${r.action}</code></td><td class="hint">${r.target}</td><td class="hint">${changeText(r.before)} → ${changeText(r.after)}</td></tr>`,
        );
        const q = { actor, merchant_id: merchantId };
        return kit.sendPage(request, reply, {
          title: s.auditTitle,
          nav: consoleNav(s),
          content: html`<h1>${s.auditTitle}</h1>
<form method="get" action="/admin/audit" class="filters">
<label>${s.actor}<input name="actor" type="email" value="${actor ?? ''}" maxlength="${EMAIL_LENGTH_MAX}"></label>
<label>${s.merchantId}<input name="merchant_id" value="${merchantId ?? ''}" maxlength="36" size="12"></label>
<button type="submit" class="secondary">${s.showFilter}</button></form>
${table(s, [s.when, s.who, s.ip, s.action, s.target, s.changes], rows)}${pager(frame.path, s, q, listed.next_cursor, !cursor)}`,
        });
      },
    );
  };
}
