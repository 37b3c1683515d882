// What a merchant's developers manage: API keys (create — shown once — and revoke) and the
// webhook settings (the default URL, the signing secret's rotation — shown once —, the Ed25519
// key pair, a test ping with the receiver's answer). Owners and developers change them; viewers
// see the pages without their forms, and their forged posts are refused before anything runs.
// Each change and its audit row are written in one transaction.
import type { FastifyRequest } from 'fastify';
import { errors } from '../../errors.ts';
import { model, string, url, type KasaApp } from '../../http/validation.ts';
import { API_KEY_SCOPES, type ApiKeyScope } from '../../merchants/keys.ts';
import { checkWebhookTarget } from '../../webhooks/ssrf.ts';
import { formFlag, formText } from '../forms.ts';
import { fill } from '../i18n.ts';
import { csrfField, html, notice, postButton, type Frame, type Html } from '../layout.ts';
import { changeWithAudit } from '../audited.ts';
import type { CabinetKit } from '../plugin.ts';
import {
  can,
  cursorOf,
  DEVELOPERS,
  EVERYONE,
  formSchema,
  merchantIdOf,
  merchantNav,
  pager,
  pageSchema,
  queryText,
  stringsOf,
  TABLE_PAGE_ROWS,
  when,
  type MerchantCabinetOptions,
} from './common.ts';
import type { MerchantStrings } from './strings.ts';

/** The longest webhook URL, as the merchant API takes it (URL_LENGTH_MAX of its schemas, which routes alone import). */
const URL_LENGTH_MAX = 2048;
/** The part of a receiver's answer a ping's page shows. */
const PING_ANSWER_CHARS_MAX = 500;

export function developerPages({ db, merchants, webhooks, webhookAllowPrivate }: MerchantCabinetOptions) {
  return async function developerSection(app: KasaApp, kit: CabinetKit) {
    const change = changeWithAudit(db, kit);
    const seeing = kit.requireUser(['merchant'], { merchantRoles: EVERYONE });
    const managing = kit.requireUser(['merchant'], { merchantRoles: DEVELOPERS });
    const keyParams = model({ key_id: string({ max: 64 }) });
    const webhookUrl = url({ schemes: ['http', 'https'], maxLength: URL_LENGTH_MAX, check: (u) => checkWebhookTarget(u, webhookAllowPrivate) });
    const form = <Extra extends object = object>(operationId: string, summary: string, extra?: Extra) => ({
      schema: formSchema(operationId, summary, extra),
      onRequest: managing,
      preHandler: kit.csrf,
    });

    /** A page of the section: the frame, the navigation, the heading. */
    function send(request: FastifyRequest, reply: Parameters<CabinetKit['sendPage']>[1], title: string, content: Html, status = 200) {
      const s = stringsOf(kit, request);
      return kit.sendPage(request, reply, { title, nav: merchantNav(s, kit.userOf(request)), content: html`<h1>${title}</h1>${content}` }, status);
    }

    // ---------------------------------------------------------------------------------------
    // API keys

    app.get(
      '/merchant/keys',
      { schema: pageSchema('getMerchantCabinetKeys', 'The merchant’s API keys (HTML; query: cursor)'), onRequest: seeing },
      async (request, reply) => {
        const user = kit.userOf(request);
        const s = stringsOf(kit, request);
        const frame = kit.frame(request, reply);
        const cursor = cursorOf(request);
        const keys = await merchants.listApiKeys(merchantIdOf(user), { limit: TABLE_PAGE_ROWS, cursor });
        const manage = can(user, DEVELOPERS);
        const done = queryText(request, 'done', 16);
        return send(
          request,
          reply,
          s.keysTitle,
          html`${notice('good', done === 'revoked' ? s.keyRevoked : null)}<p class="lead">${s.keysIntro}</p>
<div class="table-wrap"><table class="keys"><thead><tr><th scope="col">${s.prefix}</th><th scope="col">${s.scopes}</th><th scope="col">${s.created}</th><th scope="col">${s.status}</th>${manage ? html`<th scope="col"><span class="sr">${s.revoke}</span></th>` : null}</tr></thead>
<tbody>${keys.items.map(
            (k) =>
              html`<tr data-key="${k.keyId}"><td><code>${k.prefix}…</code></td><td>${k.scopes.join(', ')}</td><td>${when(k.createdAt)}</td><td>${k.revokedAt ? html`${s.revokedAt} ${when(k.revokedAt)}` : s.active}</td>${
                manage ? html`<td>${k.revokedAt ? null : postButton(frame, `/merchant/keys/${k.keyId}/revoke`, s.revoke, 'danger')}</td>` : null
              }</tr>`,
          )}</tbody></table></div>
${pager(s, '/merchant/keys', {}, keys.next_cursor, cursor !== undefined)}
${manage ? newKeyForm(frame, s) : null}`,
        );
      },
    );

    app.post(
      '/merchant/keys',
      form('postMerchantKey', 'Create an API key, shown once on the answer (form: _csrf, scope_invoices, scope_withdrawals)'),
      async (request, reply) => {
        const merchantId = merchantIdOf(kit.userOf(request));
        const s = stringsOf(kit, request);
        const scopes = API_KEY_SCOPES.filter((scope) => formFlag(request.body, `scope_${scope}`));
        if (!scopes.length) throw errors.formInvalid(fill(s.badInput, { field: s.scopes }));
        const key = await change(request, async (trx, record) => {
          const created = await merchants.createApiKey(merchantId, scopes as ApiKeyScope[], trx);
          await record(trx, {
            action: 'api_key.create',
            target: `api_key:${created.keyId}`,
            merchantId,
            after: { prefix: created.prefix, scopes: created.scopes },
          });
          return created;
        });
        return send(
          request,
          reply,
          s.keyCreatedTitle,
          html`<p class="notice info" role="status">${s.keyCreatedText}</p><p><code class="secret" data-once>${key.apiKey}</code></p><p><a href="/merchant/keys">${s.toKeys}</a></p>`,
          201,
        );
      },
    );

    app.post(
      '/merchant/keys/:key_id/revoke',
      form('postMerchantKeyRevoke', 'Revoke one of the merchant’s API keys (form: _csrf)', { params: keyParams.schema }),
      async (request, reply) => {
        const merchantId = merchantIdOf(kit.userOf(request));
        await change(request, async (trx, record) => {
          const revoked = await merchants.revokeMerchantApiKey(merchantId, request.params.key_id, trx);
          await record(trx, {
            action: 'api_key.revoke',
            target: `api_key:${revoked.keyId}`,
            merchantId,
            before: { revoked_at: null },
            after: { prefix: revoked.prefix, revoked_at: revoked.revokedAt },
          });
        });
        return reply.redirect('/merchant/keys?done=revoked', 303);
      },
    );

    // ---------------------------------------------------------------------------------------
    // Webhook settings

    app.get(
      '/merchant/webhooks',
      {
        schema: pageSchema('getMerchantCabinetWebhooks', 'The merchant’s webhook settings: URL, signing secret, Ed25519 key, test ping (HTML)'),
        onRequest: seeing,
      },
      async (request, reply) => {
        const user = kit.userOf(request);
        const s = stringsOf(kit, request);
        const frame = kit.frame(request, reply);
        const settings = await webhooks.settings(merchantIdOf(user));
        const done = queryText(request, 'done', 16);
        const manage = can(user, DEVELOPERS);
        return send(
          request,
          reply,
          s.webhooksTitle,
          html`${notice('good', done === 'url' ? s.urlSaved : done === 'key' ? s.signingKeyCreated : null)}
<section>
<h2>${s.webhookUrl}</h2>
${
  manage
    ? html`<form method="post" action="/merchant/webhooks/url" class="stack">${csrfField(frame)}
<label for="webhook-url">${s.webhookUrl}</label>
<input id="webhook-url" name="webhook_url" type="url" inputmode="url" maxlength="${URL_LENGTH_MAX}" value="${settings.webhook_url ?? ''}" aria-describedby="webhook-url-hint">
<p class="hint" id="webhook-url-hint">${s.webhookUrlHint}</p>
<button type="submit" class="primary">${s.saveUrl}</button>
</form>`
    : html`<p><code data-webhook-url>${settings.webhook_url ?? '—'}</code></p>`
}
</section>
<section>
<h2>${s.secretTitle}</h2>
<p>${s.secretText}</p>
${settings.previous_secret_valid_until ? html`<p class="hint">${fill(s.previousUntil, { until: when(settings.previous_secret_valid_until) })}</p>` : null}
${manage ? postButton(frame, '/merchant/webhooks/secret', s.rotate) : null}
</section>
<section>
<h2>${s.signingKeyTitle}</h2>
<p>${s.signingKeyText}</p>
<p>${settings.signing_public_key ? html`<code class="secret" data-public-key>${settings.signing_public_key}</code>` : s.signingKeyNone}</p>
${manage ? postButton(frame, '/merchant/webhooks/signing-key', settings.signing_public_key ? s.replaceSigningKey : s.createSigningKey) : null}
</section>
<section>
<h2>${s.pingTitle}</h2>
<p>${s.pingText}</p>
${manage ? postButton(frame, '/merchant/webhooks/ping', s.ping, 'primary') : null}
</section>`,
        );
      },
    );

    app.post(
      '/merchant/webhooks/url',
      form('postMerchantWebhookUrl', 'Set or clear the default webhook URL (form: _csrf, webhook_url)'),
      async (request, reply) => {
        const merchantId = merchantIdOf(kit.userOf(request));
        const s = stringsOf(kit, request);
        const typed = formText(request.body, 'webhook_url', URL_LENGTH_MAX + 1).trim();
        let next: string | null = null;
        if (typed !== '') {
          const parsed = webhookUrl.parse(typed);
          if (!parsed.ok) throw errors.formInvalid(`${fill(s.badInput, { field: s.webhookUrl })} ${parsed.issue.msg}`);
          next = parsed.value;
        }
        await change(request, async (trx, record) => {
          const before = await webhooks.settings(merchantId, trx);
          await merchants.update(merchantId, { webhook_url: next }, trx);
          await record(trx, {
            action: 'merchant.webhook_url',
            target: `merchant:${merchantId}`,
            merchantId,
            before: { webhook_url: before.webhook_url },
            after: { webhook_url: next },
          });
        });
        return reply.redirect('/merchant/webhooks?done=url', 303);
      },
    );

    app.post(
      '/merchant/webhooks/secret',
      form('postMerchantWebhookSecret', 'Rotate the signing secret, shown once on the answer (form: _csrf)'),
      async (request, reply) => {
        const merchantId = merchantIdOf(kit.userOf(request));
        const s = stringsOf(kit, request);
        const rotated = await change(request, async (trx, record) => {
          const answer = await webhooks.rotateSecret(merchantId, trx);
          await record(trx, {
            action: 'webhook.secret_rotate',
            target: `merchant:${merchantId}`,
            merchantId,
            after: { previous_valid_until: answer.previous_secret_valid_until },
          });
          return answer;
        });
        return send(
          request,
          reply,
          s.secretRotatedTitle,
          html`<p class="notice info" role="status">${fill(s.secretRotatedText, { until: when(rotated.previous_secret_valid_until) })}</p>
<p><code class="secret" data-once>${rotated.webhook_secret}</code></p><p><a href="/merchant/webhooks">${s.webhooksTitle}</a></p>`,
        );
      },
    );

    app.post(
      '/merchant/webhooks/signing-key',
      form('postMerchantWebhookSigningKey', 'Create or replace the Ed25519 key pair (form: _csrf)'),
      async (request, reply) => {
        const merchantId = merchantIdOf(kit.userOf(request));
        await change(request, async (trx, record) => {
          const before = await webhooks.settings(merchantId, trx);
          const created = await webhooks.createSigningKey(merchantId, trx);
          await record(trx, {
            action: 'webhook.signing_key',
            target: `merchant:${merchantId}`,
            merchantId,
            before: { public_key: before.signing_public_key },
            after: { public_key: created.public_key },
          });
        });
        return reply.redirect('/merchant/webhooks?done=key', 303);
      },
    );

    app.post(
      '/merchant/webhooks/ping',
      form('postMerchantWebhookPing', 'Send a signed test ping and show the answer (form: _csrf)'),
      async (request, reply) => {
        const merchantId = merchantIdOf(kit.userOf(request));
        const s = stringsOf(kit, request);
        // The ping is a request to the merchant's server, not a change: it is sent outside any
        // transaction, and its row in the log names it and its outcome.
        const result = await webhooks.ping(merchantId);
        await change(request, (trx, record) =>
          record(trx, {
            action: 'webhook.ping',
            target: `event:${result.event_id}`,
            merchantId,
            after: { delivered: result.delivered, status_code: result.status_code, error: result.error },
          }),
        );
        return send(request, reply, s.pingTitle, pingAnswer(s, result));
      },
    );
  };
}

function newKeyForm(frame: Frame, s: MerchantStrings): Html {
  return html`<form method="post" action="/merchant/keys" class="stack">${csrfField(frame)}
<h2>${s.createKey}</h2>
<fieldset><legend>${s.scopes}</legend>
<label><input type="checkbox" name="scope_invoices" checked> ${s.scopeInvoices}</label>
<label><input type="checkbox" name="scope_withdrawals"> ${s.scopeWithdrawals}</label>
</fieldset>
<button type="submit" class="primary">${s.createKey}</button>
</form>`;
}

type PingResult = Awaited<ReturnType<MerchantCabinetOptions['webhooks']['ping']>>;

function pingAnswer(s: MerchantStrings, r: PingResult): Html {
  const body = r.response_body_encoding === 'utf8' && r.response_body ? r.response_body.slice(0, PING_ANSWER_CHARS_MAX) : null;
  return html`${
    r.delivered
      ? notice('good', fill(s.pingDelivered, { status: r.status_code ?? '—', ms: r.duration_ms ?? '—' }))
      : notice('bad', fill(s.pingFailed, { why: r.error ?? (r.status_code === null ? s.pingNoAnswer : `HTTP ${r.status_code}`) }))
  }
<dl class="facts">
<div><dt>${s.answer}</dt><dd data-ping-status>${r.status_code ?? '—'}</dd></div>
<div><dt>${s.duration}</dt><dd>${r.duration_ms ?? '—'}</dd></div>
${r.error ? html`<div><dt>${s.error}</dt><dd>${r.error}</dd></div>` : null}
</dl>
${body ? html`<pre class="answer">${body}</pre>` : null}
<p><a href="/merchant/webhooks">${s.webhooksTitle}</a></p>`;
}
