// The operator's merchants: the register a page at a time, create (its first API key shown
// once), and a merchant's page: its fee, disable / enable, its API keys (create shown once,
// revoke) and its users (invite with a one-time set-password link). Each change is recorded
// in the audit log in the transaction that makes it.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { model, string, type KasaApp } from '../../http/validation.ts';
import { formatPercent } from '../../money.ts';
import type { Merchant, Merchants } from '../../merchants/service.ts';
import type { Users } from '../../people/users.ts';
import { checkWebhookTarget } from '../../webhooks/ssrf.ts';
import { formText } from '../forms.ts';
import { csrfField, html, notice, postButton, type Frame, type Html } from '../layout.ts';
import type { CabinetKit } from '../plugin.ts';
import {
  changeWithAudit,
  consoleNav,
  CONSOLE_PAGE_ROWS,
  cursorOf,
  decimalField,
  formInvalid,
  formSchema,
  NAME_CHARS_MAX,
  operatorStrings,
  pager,
  pageSchema,
  shortTime,
  table,
} from './common.ts';
import { invite, inviteForm, usersTable } from './people.ts';
import type { OperatorStrings } from './strings.ts';

export interface MerchantPagesOptions {
  db: Kysely<DB>;
  merchants: Merchants;
  users: Users;
  webhookAllowPrivate: boolean;
}

/** The longest webhook URL, as the admin API's (src/invoices/schema.ts URL_LENGTH_MAX). */
const URL_LENGTH_MAX = 2048;
const merchantParams = model({ merchant_id: string({ min: 1, max: 64 }) });
const keyParams = model({ merchant_id: string({ min: 1, max: 64 }), key_id: string({ min: 1, max: 64 }) });

export function merchantPages({ db, merchants, users, webhookAllowPrivate }: MerchantPagesOptions) {
  return async function merchantSection(app: KasaApp, kit: CabinetKit) {
    const onlyOperators = kit.requireUser(['operator']);
    const change = changeWithAudit(db, kit);
    const post = <P extends object>(operationId: string, summary: string, params?: P) => ({
      schema: formSchema(operationId, summary, params),
      onRequest: onlyOperators,
      preHandler: kit.csrf,
    });

    function feeField(request: FastifyRequest, s: OperatorStrings): string {
      const fee = decimalField(request.body, 'fee_percent', { places: 2, wholeDigits: 2 });
      if (fee === null) throw formInvalid(s.badPercent);
      return fee;
    }

    function webhookField(request: FastifyRequest, s: OperatorStrings): string | undefined {
      const text = formText(request.body, 'webhook_url', URL_LENGTH_MAX + 1).trim();
      if (!text) return undefined;
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        throw formInvalid(s.badUrl);
      }
      if (text.length > URL_LENGTH_MAX || !['http:', 'https:'].includes(url.protocol) || checkWebhookTarget(url, webhookAllowPrivate))
        throw formInvalid(s.badUrl);
      return text;
    }

    function createForm(frame: Frame, s: OperatorStrings): Html {
      return html`<h2>${s.newMerchant}</h2><form method="post" action="/admin/merchants" class="stack">${csrfField(frame)}
<label for="m-name">${s.name}</label><input id="m-name" name="name" required maxlength="${NAME_CHARS_MAX}">
<label for="m-fee">${s.feePercent}</label><input id="m-fee" name="fee_percent" inputmode="decimal" value="2.00" required maxlength="6">
<label for="m-hook">${s.webhookUrl}</label><input id="m-hook" name="webhook_url" type="url" maxlength="${URL_LENGTH_MAX}" aria-describedby="m-hook-hint">
<p class="hint" id="m-hook-hint">${s.webhookUrlHint}</p>
<button type="submit" class="primary">${s.createMerchant}</button></form>`;
    }

    function secretShown(text: string, label: string, secret: string): Html {
      return html`${notice('good', text)}<p><strong>${label}:</strong> <code class="secret">${secret}</code></p>`;
    }

    app.get(
      '/admin/merchants',
      { schema: pageSchema('getConsoleMerchants', 'The operator console: merchants, a page at a time (HTML)'), onRequest: onlyOperators },
      async (request, reply) => {
        const frame = kit.frame(request, reply);
        const s = operatorStrings(kit, request);
        const cursor = cursorOf(request);
        const listed = await merchants.list({ limit: CONSOLE_PAGE_ROWS, cursor });
        const rows = listed.items.map(
          (m) =>
            html`<tr><td><a href="/admin/merchants/${m.id}">${m.name}</a></td><td>${m.status === 'active' ? s.active : s.disabled}</td><td class="num">${formatPercent(m.feePercent)}</td><td>${shortTime(m.createdAt)}</td></tr>`,
        );
        return kit.sendPage(request, reply, {
          title: s.merchantsTitle,
          nav: consoleNav(s),
          content: html`<h1>${s.merchantsTitle}</h1>${table(s, [s.name, s.status, s.feePercent, s.created], rows, new Set([2]))}
${pager(frame.path, s, {}, listed.next_cursor, !cursor)}${createForm(frame, s)}`,
        });
      },
    );

    app.post('/admin/merchants', post('postConsoleMerchant', 'Create a merchant (form: name, fee_percent, webhook_url)'), async (request, reply) => {
      const s = operatorStrings(kit, request);
      const name = formText(request.body, 'name', NAME_CHARS_MAX + 1).trim();
      if (!name || name.length > NAME_CHARS_MAX) throw formInvalid(s.badName);
      const input = { name, fee_percent: feeField(request, s), webhook_url: webhookField(request, s) };
      const created = await change(request, async (trx, record) => {
        const made = await merchants.create(input, trx);
        await record(trx, {
          action: 'merchant.create',
          target: `merchant:${made.merchant.id}`,
          merchantId: made.merchant.id,
          after: { name, fee_percent: made.merchant.feePercent, webhook_url: made.merchant.webhookUrl, first_key_prefix: made.prefix },
        });
        return made;
      });
      return showMerchant(request, reply, created.merchant.id, secretShown(s.merchantCreated, s.apiKey, created.apiKey));
    });

    async function showMerchant(request: FastifyRequest, reply: FastifyReply, merchantId: string, message: Html | null) {
      const frame = kit.frame(request, reply);
      const s = operatorStrings(kit, request);
      const merchant = await merchants.get(merchantId);
      const keyCursor = cursorOf(request);
      const usersCursor = cursorOf(request, 'users_cursor');
      const [keys, people] = await Promise.all([
        merchants.listApiKeys(merchant.id, { limit: CONSOLE_PAGE_ROWS, cursor: keyCursor }),
        users.list({ merchantId: merchant.id }, { limit: CONSOLE_PAGE_ROWS, cursor: usersCursor }),
      ]);
      const base = `/admin/merchants/${merchant.id}`;
      const keyRows = keys.items.map(
        (k) =>
          html`<tr><td><code>${k.prefix}…</code></td><td>${k.scopes.join(', ')}</td><td>${shortTime(k.createdAt)}</td><td>${k.revokedAt ? shortTime(k.revokedAt) : postButton(frame, `${base}/api-keys/${k.keyId}/revoke`, s.revoke, 'danger')}</td></tr>`,
      );
      return kit.sendPage(request, reply, {
        title: merchant.name,
        nav: consoleNav(s),
        content: html`<h1>${merchant.name}</h1>${message}
${summary(s, merchant)}
<p>${postButton(frame, `${base}/status`, merchant.status === 'active' ? s.disable : s.enable, merchant.status === 'active' ? 'danger' : 'primary')}</p>
<h2>${s.changeFee}</h2>
<form method="post" action="${base}/fee" class="stack">${csrfField(frame)}
<label for="fee">${s.feePercent}</label><input id="fee" name="fee_percent" inputmode="decimal" value="${formatPercent(merchant.feePercent)}" required maxlength="6">
<button type="submit" class="primary">${s.changeFee}</button></form>
<h2>${s.apiKeys}</h2>${table(s, [s.prefix, s.scopes, s.created, s.revoked], keyRows)}
${pager(base, s, {}, keys.next_cursor, !keyCursor)}
<p>${postButton(frame, `${base}/api-keys`, s.createKey, 'primary')}</p>
<h2>${s.users}</h2>${usersTable(s, people.items, true)}${pager(base, s, {}, people.next_cursor, !usersCursor, 'users_cursor')}${inviteForm(frame, s, `${base}/users`, true)}`,
      });
    }

    function summary(s: OperatorStrings, m: Merchant): Html {
      return html`<dl class="balances"><div><dt>${s.status}</dt><dd>${m.status === 'active' ? s.active : s.disabled}</dd></div>
<div><dt>${s.feePercent}</dt><dd>${formatPercent(m.feePercent)}</dd></div>
<div><dt>${s.webhookUrl}</dt><dd class="hint">${m.webhookUrl ?? '—'}</dd></div></dl>`;
    }

    app.get(
      '/admin/merchants/:merchant_id',
      {
        schema: pageSchema('getConsoleMerchant', 'The operator console: a merchant, its keys and users (HTML)', merchantParams.schema),
        onRequest: onlyOperators,
      },
      async (request, reply) => {
        const s = operatorStrings(kit, request);
        const done = formText(request.query, 'done', 16);
        const text = { fee: s.feeChanged, status: s.statusChanged, revoked: s.keyRevoked }[done] ?? null;
        return showMerchant(request, reply, request.params.merchant_id, notice('good', text));
      },
    );

    app.post(
      '/admin/merchants/:merchant_id/fee',
      post('postConsoleMerchantFee', "Change a merchant's fee (form: fee_percent)", merchantParams.schema),
      async (request, reply) => {
        const s = operatorStrings(kit, request);
        const fee = feeField(request, s);
        const id = await change(request, async (trx, record) => {
          const before = await merchants.get(request.params.merchant_id, trx);
          const after = await merchants.update(before.id, { fee_percent: fee }, trx);
          await record(trx, {
            action: 'merchant.update',
            target: `merchant:${before.id}`,
            merchantId: before.id,
            before: { fee_percent: before.feePercent },
            after: { fee_percent: after.feePercent },
          });
          return before.id;
        });
        return reply.redirect(`/admin/merchants/${id}?done=fee`, 303);
      },
    );

    app.post(
      '/admin/merchants/:merchant_id/status',
      post('postConsoleMerchantStatus', 'Disable an active merchant, or enable a disabled one (its keys stop or work again at once)', merchantParams.schema),
      async (request, reply) => {
        const id = await change(request, async (trx, record) => {
          // The flip is decided from the status read under the row's lock: two clicks never race.
          const before = await merchants.get(request.params.merchant_id, trx);
          const status = before.status === 'active' ? 'disabled' : 'active';
          await merchants.update(before.id, { status }, trx);
          await record(trx, {
            action: 'merchant.update',
            target: `merchant:${before.id}`,
            merchantId: before.id,
            before: { status: before.status },
            after: { status },
          });
          return before.id;
        });
        return reply.redirect(`/admin/merchants/${id}?done=status`, 303);
      },
    );

    app.post(
      '/admin/merchants/:merchant_id/api-keys',
      post('postConsoleMerchantKey', 'Create an API key of the merchant (shown once)', merchantParams.schema),
      async (request, reply) => {
        const s = operatorStrings(kit, request);
        const key = await change(request, async (trx, record) => {
          const made = await merchants.createApiKey(request.params.merchant_id, undefined, trx);
          await record(trx, {
            action: 'api_key.create',
            target: `api_key:${made.keyId}`,
            merchantId: request.params.merchant_id,
            after: { prefix: made.prefix, scopes: made.scopes },
          });
          return made;
        });
        return showMerchant(request, reply, request.params.merchant_id, secretShown(s.keyCreated, s.apiKey, key.apiKey));
      },
    );

    app.post(
      '/admin/merchants/:merchant_id/api-keys/:key_id/revoke',
      post('postConsoleMerchantKeyRevoke', "Revoke one of the merchant's API keys", keyParams.schema),
      async (request, reply) => {
        const { merchant_id, key_id } = request.params;
        await change(request, async (trx, record) => {
          // A key of another merchant is not found here; one revoked already is a 409 page.
          const revoked = await merchants.revokeMerchantApiKey(merchant_id, key_id, trx);
          await record(trx, {
            action: 'api_key.revoke',
            target: `api_key:${key_id}`,
            merchantId: merchant_id,
            before: { prefix: revoked.prefix, revoked: false },
            after: { revoked: true },
          });
        });
        return reply.redirect(`/admin/merchants/${merchant_id}?done=revoked`, 303);
      },
    );

    app.post(
      '/admin/merchants/:merchant_id/users',
      post('postConsoleMerchantUser', 'Invite a user of the merchant (form: email, name, merchant_role)', merchantParams.schema),
      async (request, reply) => {
        const s = operatorStrings(kit, request);
        const merchant = await merchants.get(request.params.merchant_id);
        const link = await invite(kit, users, request, s, { merchantId: merchant.id });
        return showMerchant(request, reply, merchant.id, html`${notice('good', s.invited)}<p><code class="secret">${link}</code></p>`);
      },
    );
  };
}
