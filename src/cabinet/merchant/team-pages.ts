// An owner's pages: the merchant's users (invite with a one-time set-password link, change a
// role, remove) and the merchant's audit log. Only owners reach them; every change goes through
// Users, scoped to the owner's merchant, which keeps the last owner and ends a removed user's
// sessions.
import type { FastifyRequest } from 'fastify';
import type { MerchantRole } from '../../db/schema.ts';
import { errors } from '../../errors.ts';
import { model, string, type KasaApp } from '../../http/validation.ts';
import type { AuditRow } from '../../people/audit.ts';
import { EMAIL_LENGTH_MAX, type User } from '../../people/users.ts';
import { formText } from '../forms.ts';
import { fill } from '../i18n.ts';
import { csrfField, html, notice, postButton, type Frame, type Html } from '../layout.ts';
import type { CabinetKit } from '../plugin.ts';
import {
  cursorOf,
  EVERYONE,
  formSchema,
  merchantIdOf,
  merchantNav,
  OWNERS,
  pager,
  pageSchema,
  queryText,
  stringsOf,
  TABLE_PAGE_ROWS,
  when,
  type MerchantCabinetOptions,
} from './common.ts';
import type { MerchantStrings } from './strings.ts';

const NAME_CHARS_MAX = 200;
/** The fields of one audit row the page shows; longer ones are cut (the row keeps them whole). */
const AUDIT_FIELDS_CHARS_MAX = 300;

function roleOf(body: unknown, s: MerchantStrings): MerchantRole {
  const role = formText(body, 'merchant_role', 16);
  if (!(EVERYONE as readonly string[]).includes(role)) throw errors.formInvalid(fill(s.badInput, { field: s.role }));
  return role as MerchantRole;
}

export function teamPages({ users }: MerchantCabinetOptions) {
  return async function teamSection(app: KasaApp, kit: CabinetKit) {
    const owners = kit.requireUser(['merchant'], { merchantRoles: OWNERS });
    const userParams = model({ user_id: string({ max: 64 }) });
    const form = <Extra extends object = object>(operationId: string, summary: string, extra?: Extra) => ({
      schema: formSchema(operationId, summary, extra),
      onRequest: owners,
      preHandler: kit.csrf,
    });

    function send(request: FastifyRequest, reply: Parameters<CabinetKit['sendPage']>[1], title: string, content: Html, status = 200) {
      const s = stringsOf(kit, request);
      return kit.sendPage(request, reply, { title, nav: merchantNav(s, kit.userOf(request)), content: html`<h1>${title}</h1>${content}` }, status);
    }

    app.get(
      '/merchant/users',
      { schema: pageSchema('getMerchantCabinetUsers', 'The merchant’s users, for owners (HTML; query: cursor)'), onRequest: owners },
      async (request, reply) => {
        const me = kit.userOf(request);
        const s = stringsOf(kit, request);
        const frame = kit.frame(request, reply);
        const cursor = cursorOf(request);
        const listed = await users.list({ merchantId: merchantIdOf(me) }, { limit: TABLE_PAGE_ROWS, cursor });
        const done = queryText(request, 'done', 16);
        const message = done === 'role' ? s.roleChanged : done === 'same' ? s.roleSame : done === 'removed' ? s.userRemoved : null;
        return send(
          request,
          reply,
          s.usersTitle,
          html`${notice('good', message)}<p class="lead">${s.usersIntro}</p>
<ul class="cards people">${listed.items.map((u) => personCard(frame, s, u))}</ul>
${pager(s, '/merchant/users', {}, listed.next_cursor, cursor !== undefined)}
<form method="post" action="/merchant/users" class="stack">${csrfField(frame)}
<h2>${s.invite}</h2>
<label for="invite-email">${s.email}</label>
<input id="invite-email" name="email" type="email" autocomplete="off" required maxlength="${EMAIL_LENGTH_MAX}">
<label for="invite-name">${s.name}</label>
<input id="invite-name" name="name" maxlength="${NAME_CHARS_MAX}">
<label for="invite-role">${s.role}</label>
${roleSelect(s, 'invite-role', 'viewer')}
<button type="submit" class="primary">${s.inviteButton}</button>
</form>`,
        );
      },
    );

    app.post(
      '/merchant/users',
      form('postMerchantUser', 'Invite a user of the merchant; the set-password link is shown once (form: _csrf, email, name, merchant_role)'),
      async (request, reply) => {
        const merchantId = merchantIdOf(kit.userOf(request));
        const s = stringsOf(kit, request);
        const email = formText(request.body, 'email', EMAIL_LENGTH_MAX + 1).trim();
        if (!email || email.length > EMAIL_LENGTH_MAX) throw errors.formInvalid(fill(s.badInput, { field: s.email }));
        const created = await users.create(
          {
            email,
            name: formText(request.body, 'name', NAME_CHARS_MAX) || undefined,
            role: 'merchant',
            merchant_id: merchantId,
            merchant_role: roleOf(request.body, s),
          },
          kit.actor(request),
        );
        const link = `${kit.publicUrl}/set-password/${created.linkToken}`;
        return send(
          request,
          reply,
          s.invitedTitle,
          html`<p class="notice info" role="status">${fill(s.invitedText, { email: created.user.email, until: when(created.linkExpiresAt) })}</p>
<p><code class="secret" data-once>${link}</code></p><p><a href="/merchant/users">${s.toUsers}</a></p>`,
          201,
        );
      },
    );

    app.post(
      '/merchant/users/:user_id/role',
      form('postMerchantUserRole', 'Change a user’s role (form: _csrf, merchant_role)', { params: userParams.schema }),
      async (request, reply) => {
        const merchantId = merchantIdOf(kit.userOf(request));
        const s = stringsOf(kit, request);
        const { changed } = await users.changeMerchantRole(merchantId, request.params.user_id, roleOf(request.body, s), kit.actor(request));
        return reply.redirect(`/merchant/users?done=${changed ? 'role' : 'same'}`, 303);
      },
    );

    app.post(
      '/merchant/users/:user_id/remove',
      form('postMerchantUserRemove', 'Remove a user: disabled and signed out everywhere (form: _csrf)', { params: userParams.schema }),
      async (request, reply) => {
        await users.removeMerchantUser(merchantIdOf(kit.userOf(request)), request.params.user_id, kit.actor(request));
        return reply.redirect('/merchant/users?done=removed', 303);
      },
    );

    app.get(
      '/merchant/audit',
      { schema: pageSchema('getMerchantCabinetAudit', 'The merchant’s audit log, newest first, for owners (HTML; query: cursor)'), onRequest: owners },
      async (request, reply) => {
        const s = stringsOf(kit, request);
        const cursor = cursorOf(request);
        const listed = await kit.audit.list({ merchantId: merchantIdOf(kit.userOf(request)) }, { limit: TABLE_PAGE_ROWS, cursor });
        return send(
          request,
          reply,
          s.auditTitle,
          html`<p class="lead">${s.auditIntro}</p>
${
  listed.items.length
    ? html`<div class="table-wrap"><table class="audit"><thead><tr><th scope="col">${s.at}</th><th scope="col">${s.who}</th><th scope="col">${s.ip}</th><th scope="col">${s.action}</th><th scope="col">${s.what}</th><th scope="col">${s.before}</th><th scope="col">${s.after}</th></tr></thead>
<tbody>${listed.items.map((r) => auditRow(s, r))}</tbody></table></div>`
    : html`<p class="hint">${s.none}</p>`
}
${pager(s, '/merchant/audit', {}, listed.next_cursor, cursor !== undefined)}`,
        );
      },
    );
  };
}

function roleSelect(s: MerchantStrings, id: string, selected: MerchantRole): Html {
  return html`<select id="${id}" name="merchant_role">${EVERYONE.map((r) => html`<option value="${r}"${r === selected ? html` selected` : null}>${s[r]}</option>`)}</select>`;
}

function personCard(frame: Frame, s: MerchantStrings, u: User): Html {
  const active = u.status === 'active';
  return html`<li class="card" data-user="${u.id}">
<p><strong>${u.name}</strong> · ${u.email}</p>
<p class="meta">${active ? s[u.merchant_role ?? 'viewer'] : s.removed}${active && !u.has_password ? html` · ${s.pendingPassword}` : null}</p>
${
  active
    ? html`<div class="actions">
<form method="post" action="/merchant/users/${u.id}/role" class="inline-fields">${csrfField(frame)}
<label for="role-${u.id}" class="sr">${s.role}</label>${roleSelect(s, `role-${u.id}`, u.merchant_role ?? 'viewer')}
<button type="submit" class="secondary">${s.changeRole}</button>
</form>
${postButton(frame, `/merchant/users/${u.id}/remove`, s.remove, 'danger')}
</div>`
    : null
}
</li>`;
}

function fieldsText(value: Record<string, unknown> | null): string {
  if (!value) return '';
  const text = Object.entries(value)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
  return text.length > AUDIT_FIELDS_CHARS_MAX ? `${text.slice(0, AUDIT_FIELDS_CHARS_MAX)}…` : text;
}

function auditRow(s: MerchantStrings, r: AuditRow): Html {
  const who = r.actor_kind === 'user' ? (r.actor_email ?? '') : r.actor_kind === 'admin_token' ? s.actorOperator : s.actorSystem;
  return html`<tr data-action="${r.action}"><td>${when(r.at)}</td><td>${who}</td><td>${r.ip ?? '—'}</td><td>${r.action}</td><td>${r.target}</td><td>${fieldsText(r.before)}</td><td>${fieldsText(r.after)}</td></tr>`;
}
